"""The whole chest X-ray pipeline through `medperf-git container run`, under each runner this machine has.

Every runner must give the bytes that running the scripts directly gives: same prepared data,
statistics, predictions and results.
"""

from __future__ import annotations

import os
import sys

import pytest
from chestxray_helpers import EXAMPLE, make_raw, needs_numeric_stack, prepare, run_task, tree_digests

pytestmark = needs_numeric_stack
# tests/conftest.py clears MEDPERF_GIT_* for each test; scripts/setup_engines.sh exports this one.
BASE_IMAGE = os.environ.get("MEDPERF_GIT_BASE_IMAGE") or "localhost/medperf-base:bookworm"


def _sandbox_reason() -> str | None:
    from medperf_git.runners.sandbox import SandboxRunner

    return SandboxRunner().available()


def _docker_reason() -> str | None:
    from medperf_git.runners.docker import DockerRunner

    why = DockerRunner().available()
    if why is None:
        import docker

        try:
            docker.from_env().images.get(BASE_IMAGE)
        except docker.errors.DockerException:
            why = f"the base image {BASE_IMAGE} is missing (run: eval \"$(sh scripts/setup_engines.sh)\")"
    return why


def _param(name: str):
    if name == "local":
        return pytest.param(name, id=name)
    why = _sandbox_reason() if name == "sandbox" else _docker_reason()
    mark = pytest.mark.bwrap if name == "sandbox" else pytest.mark.docker
    return pytest.param(name, marks=[mark, pytest.mark.skipif(why is not None, reason=f"{name}: {why}")], id=name)


@pytest.fixture
def direct(tmp_path, task_home):
    """The reference outputs: each script run directly with MP_VOL_* variables."""
    raw = tmp_path / "raw"
    make_raw(raw, 16, 11)
    out = tmp_path / "direct"
    assert prepare(raw, out, task_home).returncode == 0
    volumes = {"data_path": out / "data", "labels_path": out / "labels",
               "parameters_file": EXAMPLE / "data_preparator/parameters.yaml"}
    (out / "statistics.yaml").touch()
    assert run_task("data_preparator", ["statistics"], {**volumes, "output_path": out / "statistics.yaml"},
                    task_home).returncode == 0
    for model in ("model_reference", "model_second"):
        (out / model).mkdir()
        assert run_task(model, [], {"data_path": out / "data", "output_path": out / model,
                                    "additional_files": EXAMPLE / model / "additional_files",
                                    "parameters_file": EXAMPLE / model / "parameters.yaml"}, task_home).returncode == 0
        (out / f"{model}.yaml").touch()
        assert run_task("metrics", [], {"predictions": out / model, "labels": out / "labels",
                                        "output_path": out / f"{model}.yaml",
                                        "parameters_file": EXAMPLE / "metrics/parameters.yaml"},
                        task_home).returncode == 0
    return raw, out


@pytest.mark.parametrize("engine", [_param(n) for n in ("local", "sandbox", "docker")])
def test_pipeline_gives_the_same_bytes_under_every_runner(engine, direct, tmp_path, invoke, monkeypatch):
    raw, expected = direct
    if engine == "docker":
        monkeypatch.setenv("MEDPERF_GIT_BASE_IMAGE", BASE_IMAGE)
    out = tmp_path / engine
    extra = ["--runner", engine, "--output-dir", str(tmp_path / "runs")]
    if engine != "docker":
        extra += ["--python", sys.executable]

    def run(container: str, task: str, *args: str) -> None:
        result = invoke("container", "run", "--config", EXAMPLE / container / "container_config.yaml",
                        "--task", task, *args, *extra)
        assert result.exit_code == 0, result.output

    run("data_preparator", "prepare", "-m", f"data_path={raw / 'images'}", "-m", f"labels_path={raw / 'labels'}",
        "-m", f"output_path={out / 'data'}", "-m", f"output_labels_path={out / 'labels'}")
    prepared = ["-m", f"data_path={out / 'data'}", "-m", f"labels_path={out / 'labels'}"]
    run("data_preparator", "sanity_check", *prepared)
    run("data_preparator", "statistics", *prepared, "-m", f"output_path={out / 'statistics.yaml'}")
    for model in ("model_reference", "model_second"):
        run(model, "infer", "-m", f"data_path={out / 'data'}", "-m", f"output_path={out / model}",
            "--additional-files", str(EXAMPLE / model / "additional_files"))
        run("metrics", "evaluate", "-m", f"predictions={out / model}", "-m", f"labels={out / 'labels'}",
            "-m", f"output_path={out / f'{model}.yaml'}")
    assert tree_digests(out) == tree_digests(expected)
