"""A data owner's rough edges not covered elsewhere: `submission show` against main as it is now, and the tutorial
set-up stopping at once without `medperf-git` on PATH. (The others: tests/cli/test_medperf_commands_e2e.py,
tests/flows/test_freshness.py, tests/flows/test_medperf_order.py and the scenario in this folder.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.attacks.hostile import tutorial_target
from tests.support.tutorial_registry import commit_records

pytestmark = [pytest.mark.unprivileged]
REPO = Path(__file__).resolve().parents[2]


def test_submission_show_compares_with_main_as_it_is_now(tmp_path, invoke):
    target = tutorial_target(tmp_path)
    with target.actors["testdo"].active():
        invoke("profile", "create", "-n", "newcomer")
        opened = invoke("--profile", "newcomer", "auth", "login", "-e", "jane.doe@hospital.example")
        assert opened.exit_code == 0 and "Next step: medperf-git submission show 1" in opened.stderr, opened.output
        before = invoke("--profile", "newcomer", "submission", "show", "1")
        assert before.exit_code == 0 and "conflict with main" not in before.stdout, before.output
        # Meanwhile another client puts another record for the same person on main.
        head = next(ref for ref in target.git("for-each-ref", "--format=%(refname)").split()
                    if ref != "refs/heads/main")
        record = yaml.safe_load(target.read(head, "people/jane-doe.yaml"))
        commit_records(target.registry, target.actors["testadmin"],
                       {"people/jane-doe.yaml": {**record, "name": "Someone Else"}}, "another jane-doe")
        # Shown at once, without --offline and without waiting: against the main of now.
        after = invoke("--profile", "newcomer", "submission", "show", "1")
    assert "conflict with main: people/jane-doe.yaml" in after.stdout, after.output


def test_the_tutorial_set_up_stops_at_once_without_medperf_git_on_path(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MEDPERF_GIT_HOME": str(tmp_path / "home")}
    done = subprocess.run(["sh", str(REPO / "tutorials_scripts" / "setup_data_tutorial.sh")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "'medperf-git' is not on PATH" in done.stderr and ". .venv/bin/activate" in done.stderr
    assert "MEDPERF_GIT" in done.stderr and not os.listdir(tmp_path)  # stopped before making anything
