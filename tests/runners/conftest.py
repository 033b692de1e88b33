"""Fixtures for the runner tests: tiny inline containers in tmp_path, and a cache shared across sessions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from runner_helpers import _CI_CACHE, BASE_IMAGE, DOCKERFILE, INFER_TASK, config_text


@pytest.fixture(autouse=True)
def base_image(isolated_home, monkeypatch):
    """Test Dockerfiles build FROM the locally made base image: there is no registry to pull from."""
    monkeypatch.setenv("MEDPERF_GIT_BASE_IMAGE", BASE_IMAGE)
    return BASE_IMAGE


@pytest.fixture(scope="session")
def shared_cache() -> Path:
    path = _CI_CACHE / "runner-tests"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def make_container(tmp_path):
    """Write a container folder (config, project/task.py, Dockerfile) and return its config path."""

    def _make(script: str, tasks: str = INFER_TASK, name: str = "container") -> Path:
        folder = tmp_path / name
        (folder / "project").mkdir(parents=True)
        (folder / "project" / "task.py").write_text(textwrap.dedent(script), encoding="utf-8")
        (folder / "Dockerfile").write_text(DOCKERFILE, encoding="utf-8")
        (folder / "container_config.yaml").write_text(config_text(tasks), encoding="utf-8")
        (folder / "parameters.yaml").write_text("{}\n", encoding="utf-8")  # the task mounts parameters_file
        return folder / "container_config.yaml"

    return _make


@pytest.fixture
def run_inline(tmp_path, shared_cache):
    """Run a task of an inline container under a runner; returns (result, output folder, log lines)."""
    from medperf_git.runners import RunOptions, load_config, resolve_container, run_task

    def _run(config_path: Path, runner: str, task: str = "infer", mounts: dict | None = None,
             parameters: dict | None = None, timeout: float | None = 60, gpus: str | None = None):
        data = tmp_path / "data"
        if not data.exists():
            data.mkdir()
            (data / "a.txt").write_text("hello\n", encoding="utf-8")
        out = tmp_path / f"out-{runner}"
        given = {"data_path": data, "output_path": out} if mounts is None else mounts
        lines: list[str] = []
        config = load_config(config_path)
        container = resolve_container(config, cache_dir=shared_cache, parameters=parameters or {"threshold": 0.5})
        options = RunOptions(logs_dir=tmp_path / "logs" / runner, work_dir=tmp_path / "work" / runner, runner=runner,
                             timeout=timeout, gpus=gpus, on_output=lines.append, cache_dir=shared_cache)
        result = run_task(container, task, given, options)
        return result, out, lines

    return _run
