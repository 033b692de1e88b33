"""The tutorial's set-up never falls back to the local runner by itself: it stops and says what to install.

The machine is made to lack every isolating runner for real: PATH holds the host's tools but not bwrap,
apptainer, podman, docker or apt-get (so nothing can be installed either), and DOCKER_HOST names no socket.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "tutorials_scripts" / "setup_data_tutorial.sh"
MISSING = {"bwrap", "apptainer", "singularity", "podman", "docker", "apt-get", "apt", "dnf", "medperf-git"}


def path_without_engines(folder: Path) -> str:
    """A PATH of links to every tool the host has, except the engines and the package managers."""
    folder.mkdir()
    venv_bin = str(Path(sys.executable).parent)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or directory == venv_bin or not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = folder / entry.name
            if entry.name not in MISSING and not link.exists() and os.access(entry.path, os.X_OK):
                link.symlink_to(entry.path)
    return str(folder)


def run_setup(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEDPERF_GIT") and k != "DOCKER_HOST"}
    base.update(PATH=path_without_engines(tmp_path / "bin"), DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock",
                MEDPERF_GIT=str(Path(sys.executable).parent / "medperf-git"), PYTHON=sys.executable,
                MEDPERF_GIT_HOME=str(tmp_path / "home"), MEDPERF_GIT_PYTHON=sys.executable,
                MEDPERF_GIT_NO_PROGRESS="1", **env)
    (tmp_path / "work").mkdir()
    return subprocess.run(["sh", str(SETUP)], cwd=tmp_path / "work", env=base, capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL)


@pytest.mark.unprivileged
def test_with_nothing_that_isolates_the_set_up_stops_and_says_what_to_install(tmp_path):
    proc = run_setup(tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "no runner here isolates the containers' code" in proc.stderr
    assert "needs bubblewrap or a container engine" in proc.stderr
    assert "apt-get install bubblewrap" in proc.stderr and "MEDPERF_GIT_RUNNER=local" in proc.stderr
    assert "bubblewrap (bwrap) is not installed" in proc.stderr  # the runners table gives each reason
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "work" / "medperf_tutorial").exists()  # it stopped before doing anything


@pytest.mark.slow
@pytest.mark.unprivileged
def test_the_local_runner_asked_for_by_name_runs_with_a_warning_at_every_task(tmp_path):
    proc = run_setup(tmp_path, MEDPERF_GIT_RUNNER="local")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "the local runner, asked for by name, isolates nothing" in proc.stderr
    log = (tmp_path / "work" / "medperf_tutorial" / "setup.log").read_text()
    warned = {line.split("'")[1] for line in log.splitlines()
              if line.startswith("Warning: the local runner isolates nothing: task '")}
    assert warned == {"prepare", "sanity_check", "statistics", "infer", "evaluate"}, log[-4000:]
