"""Fixtures for MedPerf's tutorial containers: mock raw data, seeded weights, and the direct runs' outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from medperf_tutorial import TUTORIAL, VOLUMES, make_weights, run_direct

REPO = Path(__file__).resolve().parents[2]
PREP_PARAMETERS = TUTORIAL / "data_preparator" / "workspace" / "parameters.yaml"


def _engine_reason(name: str) -> str | None:
    sys.path.insert(0, str(REPO / "tests" / "runners"))
    from runner_helpers import docker_reason, sandbox_reason

    return docker_reason() if name == "docker" else sandbox_reason()


def engine_param(name: str):
    why = _engine_reason(name)
    mark = pytest.mark.docker if name == "docker" else pytest.mark.bwrap
    skip = pytest.mark.skipif(why is not None, reason=f"{name}: {why}")
    # Docker builds MedPerf's images on first use (Debian's torch alone is about 1.3 GB): minutes, once.
    slow = pytest.mark.timeout(2400 if name == "docker" else 900)
    return pytest.param(name, marks=[mark, pytest.mark.slow, slow, skip], id=name)


@pytest.fixture(scope="session")
def raw(tmp_path_factory) -> Path:
    """Mock chest X-rays in MedPerf's tutorial layout: images/<Image ID>.png and labels/labels.csv."""
    out = tmp_path_factory.mktemp("raw")
    subprocess.run([sys.executable, str(REPO / "examples/chestxray/tools/make_mock_data.py"), "--out", str(out),
                    "--count", "12", "--seed", "7"], check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> Path:
    return make_weights(tmp_path_factory.mktemp("weights"))


def _direct(task: str, container: str, script: str, volumes: dict[str, Path], work: Path) -> None:
    proc = run_direct(container, script, volumes, work / task)
    assert proc.returncode == 0, f"{script} run directly failed:\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="session")
def direct(raw, weights, tmp_path_factory) -> Path:
    """Every task's outputs from running MedPerf's scripts directly (no runner), in the tutorial's order."""
    work = tmp_path_factory.mktemp("direct")
    out = work / "out"
    for folder in ("data", "labels", "predictions"):
        (out / folder).mkdir(parents=True)
    params = f"{VOLUMES}/parameters/parameters_file.yaml"
    _direct("prepare", "data_preparator", "prepare.py", {
        f"{VOLUMES}/raw_data": raw / "images", f"{VOLUMES}/raw_labels": raw / "labels",
        params: PREP_PARAMETERS, f"{VOLUMES}/data": out / "data", f"{VOLUMES}/labels": out / "labels"}, work)
    prepared = {f"{VOLUMES}/data": out / "data", f"{VOLUMES}/labels": out / "labels", params: PREP_PARAMETERS}
    _direct("sanity_check", "data_preparator", "sanity_check.py", prepared, work)
    (out / "statistics.yaml").touch()
    _direct("statistics", "data_preparator", "statistics.py",
            {**prepared, f"{VOLUMES}/statistics/statistics.yaml": out / "statistics.yaml"}, work)
    _direct("infer", "model_custom_cnn", "infer.py", {
        f"{VOLUMES}/data": out / "data", f"{VOLUMES}/additional_files": weights,
        params: TUTORIAL / "model_custom_cnn" / "workspace" / "parameters.yaml",
        f"{VOLUMES}/predictions": out / "predictions"}, work)
    (out / "results.yaml").touch()
    _direct("evaluate", "metrics", "metrics.py", {
        f"{VOLUMES}/predictions": out / "predictions", f"{VOLUMES}/labels": out / "labels",
        params: TUTORIAL / "metrics" / "workspace" / "parameters.yaml",
        f"{VOLUMES}/results/results.yaml": out / "results.yaml"}, work)
    return out
