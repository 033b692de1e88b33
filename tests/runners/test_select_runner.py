"""``auto`` tries docker, then apptainer, then sandbox, and never picks local by itself."""

from __future__ import annotations

import pytest
from runner_helpers import docker_reason, sandbox_reason

from medperf_git.errors import RunnerUnavailable, UsageError
from medperf_git.runners import select_runner


def test_auto_prefers_docker_when_an_engine_answers():
    if docker_reason() is not None:
        pytest.skip(f"docker: {docker_reason()}")
    assert select_runner("auto").name == "docker"


def test_auto_falls_back_to_the_sandbox_without_an_engine(monkeypatch, tmp_path):
    if sandbox_reason() is not None:
        pytest.skip(f"sandbox: {sandbox_reason()}")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    assert select_runner("auto").name == "sandbox"


def test_auto_never_picks_local(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap, no apptainer
    with pytest.raises(RunnerUnavailable) as info:
        select_runner("auto")
    assert "docker:" in info.value.message and "sandbox: bubblewrap (bwrap) is not installed" in info.value.message
    assert "--runner local" in info.value.hint
    assert select_runner("local").name == "local"


def test_an_unknown_runner_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown runner 'podman'"):
        select_runner("podman")
