"""Fixtures for the chest X-ray example tests (helpers live in chestxray_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from chestxray_helpers import Prepared, make_raw, prepare


@pytest.fixture
def task_home(tmp_path) -> Path:
    home = tmp_path / "task-home"
    home.mkdir()
    return home


@pytest.fixture
def prepared(tmp_path, task_home) -> Prepared:
    """40 mock cases, prepared by the data preparator."""
    raw = tmp_path / "raw"
    rows = make_raw(raw, 40, 5)
    run = prepare(raw, tmp_path / "prepared", task_home)
    assert run.returncode == 0, run.stderr
    return Prepared(raw, tmp_path / "prepared/data", tmp_path / "prepared/labels", rows)
