"""Without the docker SDK (the `docker` extra), every command that would use it says why and how to fix it.

The SDK is hidden by making its import fail in this process, as on a machine where it was never installed.
"""

from __future__ import annotations

import json
import sys

import pytest

from medperf_git.errors import RunnerUnavailable, UsageError
from medperf_git.runners import select_runner
from medperf_git.runners.docker import INSTALL_HINT, DockerRunner, check_image_pin

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def no_docker_sdk(monkeypatch):
    for name in [n for n in sys.modules if n == "docker" or n.startswith("docker.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "docker", None)  # `import docker` now raises ImportError


def test_the_runner_says_the_sdk_is_missing_and_how_to_install_it(no_docker_sdk):
    assert DockerRunner().available() == f"the docker Python package is not installed ({INSTALL_HINT})"
    with pytest.raises(RunnerUnavailable, match=r"medperf-git\[docker\]"):
        select_runner("docker")


def test_container_runners_lists_the_reason(no_docker_sdk, invoke):
    result = invoke("container", "runners", "--json")
    assert result.exit_code == 0, result.output
    docker = next(row for row in json.loads(result.stdout) if row["runner"] == "docker")
    assert docker == {"runner": "docker", "isolation": "container", "available": False,
                      "reason": f"the docker Python package is not installed ({INSTALL_HINT})"}


def test_an_image_pin_is_left_unchecked_with_the_reason(no_docker_sdk):
    check = check_image_pin("registry.example.org/model:1.0", DIGEST)
    assert not check.checked and check.pin == {"reference": "registry.example.org/model:1.0", "digest": DIGEST}
    assert INSTALL_HINT in check.detail
    with pytest.raises(UsageError, match=r"cannot read the digest .*medperf-git\[docker\]"):
        check_image_pin("registry.example.org/model:1.0", None)
