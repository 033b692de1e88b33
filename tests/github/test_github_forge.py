"""The forge contract on the github forge, against a local GitHub REST server backed by a real bare repository.

The ``forge_harness`` fixture is in ``conftest.py``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("github", reason="PyGithub is not installed (pip install -e '.[test]')")

from tests.forges.contract import *  # noqa: E402,F403 - the contract's tests run here
