"""The data owner tutorial, every step, as the README's main command runs it (scripts/tutorial.sh)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.registry_template.filled import Machine, records_on, template_problems

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _runner_available(name: str) -> str | None:
    from medperf_git.runners.base import runner_class

    return runner_class(name)().available()


def _run_tutorial(tmp_path: Path, runner: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDPERF_GIT") or k == "MEDPERF_GIT_BASE_IMAGE"}
    env.update(MEDPERF_GIT_HOME=str(tmp_path / "home"), MEDPERF_GIT_TUTORIAL_DIR=str(tmp_path / "work"),
               MEDPERF_GIT_RUNNER=runner, MEDPERF_GIT_PYTHON=sys.executable, MEDPERF_GIT_NO_PROGRESS="1")
    return subprocess.run(["sh", str(REPO / "scripts" / "tutorial.sh")], env=env, capture_output=True, text=True,
                          timeout=1500, stdin=subprocess.DEVNULL)


def _check(proc: subprocess.CompletedProcess, tmp_path: Path) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "Traceback" not in output
    # benchmark ls lists benchmark 1
    assert re.search(r"^\s*1\s+chestxray\s", proc.stdout, re.M), proc.stdout
    # The summary table: model 2 from cache (it ran during associate), model 4 run now.
    assert re.search(r"^\s+2\s+b1m2d1\s+False\s+True\s*$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^\s+4\s+b1m4d1\s+False\s+False\s*$", proc.stdout, re.M), proc.stdout
    assert "Total number of models: 2" in proc.stdout
    assert "1 were skipped (already executed), of which 0 have partial results" in proc.stdout
    assert "1 ran successfully, of which 0 have partial results" in proc.stdout
    # The result is on the registry's main, with its provenance.
    registry = tmp_path / "work" / "medperf_tutorial" / "registry.git"
    text = subprocess.run(["git", "show", "main:results/1/b1m4d1.yaml"], cwd=registry, capture_output=True,
                          text=True, check=True).stdout
    result = yaml.safe_load(text)
    assert result["owner"] == "testdo" and result["dataset"] == 1 and result["model"] == 4
    assert set(result["metrics"]) == {"Accuracy", "AUC"}
    dataset = yaml.safe_load(subprocess.run(["git", "show", "main:datasets/1.yaml"], cwd=registry,
                                            capture_output=True, text=True, check=True).stdout)
    assert result["provenance"]["dataset_uid"] == dataset["generated_uid"]
    # The association was approved by the benchmark owner through a review.
    assert "associations/1/dataset-1.yaml" in subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", "main"], cwd=registry, capture_output=True, text=True).stdout
    # Every step named the next one.
    assert output.count("Next step:") >= 8
    _check_setup_published_the_template(registry, tmp_path)


def _check_setup_published_the_template(registry: Path, tmp_path: Path) -> None:
    """Main as the set-up left it (before the data owner's first submission) holds registry/, filled in."""
    first = subprocess.run(["git", "rev-list", "--first-parent", "--reverse", "main", "--", "datasets/*.yaml"],
                           cwd=registry, capture_output=True, text=True, check=True).stdout.split()[0]
    machine = Machine(tutorial=registry.parent, keys=tmp_path / "home" / "keys",
                      main=records_on(registry, f"{first}^1"))
    assert template_problems(machine) == []
    # The data owner's steps added their records and changed none of the template's.
    after = records_on(registry)
    assert {path: after[path] for path in machine.main} == machine.main
    assert sorted(set(after) - set(machine.main)) == ["associations/1/dataset-1.yaml", "datasets/1.yaml",
                                                       "results/1/b1m4d1.yaml"]


@pytest.mark.skipif(_runner_available("sandbox") is not None, reason="bubblewrap cannot run here")
def test_tutorial_under_sandbox(tmp_path):
    _check(_run_tutorial(tmp_path, "sandbox"), tmp_path)


@pytest.mark.docker
@pytest.mark.skipif(_runner_available("docker") is not None, reason="no Docker-API engine answers (DOCKER_HOST)")
def test_tutorial_under_docker(tmp_path):
    _check(_run_tutorial(tmp_path, "docker"), tmp_path)
