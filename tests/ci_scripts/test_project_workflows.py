"""This project's own CI (.github/workflows/): valid workflow files that run the README's test command.

Its workflows must stay what .ci/run is (exactly `sh scripts/test.sh`), read-only, and pin every action
by commit, since a moved tag would run someone else's code with this repository's token.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))


def _check_jsonschema() -> str | None:
    found = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name("check-jsonschema"))
    return found if Path(found).exists() else None


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _triggers(workflow: dict) -> set[str]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    return set(on) if isinstance(on, (dict, list)) else {on}


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_there_is_a_workflow():
    assert WORKFLOWS, "no workflow in .github/workflows/"


@pytest.mark.skipif(_check_jsonschema() is None, reason="check-jsonschema is not installed (pip install -e '.[test]')")
def test_every_workflow_is_a_valid_github_workflow():
    proc = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-workflows",
                           *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_workflow_runs_the_readme_test_command_on_push_and_pull_request():
    assert "sh scripts/test.sh" in (REPO / "README.md").read_text(encoding="utf-8")
    assert "exec sh scripts/test.sh" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    running = [path for path in WORKFLOWS
               if any(re.search(r"(^|\s)sh scripts/test\.sh(\s|$)", str(step.get("run", "")))
                      for step in _steps(_load(path)))]
    assert running, "no workflow runs `sh scripts/test.sh`"
    for path in running:
        assert {"push", "pull_request"} <= _triggers(_load(path)), path.name


def test_workflows_are_read_only_and_pin_actions_by_commit():
    for path in WORKFLOWS:
        workflow = _load(path)
        assert workflow.get("permissions") == {"contents": "read"}, path.name
        assert "pull_request_target" not in _triggers(workflow), path.name
        for step in _steps(workflow):
            uses = step.get("uses")
            if uses is None:
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses), f"{path.name}: {uses} is not pinned by commit"
            if uses.startswith("actions/checkout@"):
                assert (step.get("with") or {}).get("persist-credentials") is False, f"{path.name} keeps the token"


def test_the_cached_folder_is_the_one_the_engine_setup_uses():
    setup = (REPO / "scripts" / "setup_engines.sh").read_text(encoding="utf-8")
    assert "$HOME/.cache/medperf-git-ci" in setup
    for path in WORKFLOWS:
        for step in _steps(_load(path)):
            if str(step.get("uses", "")).startswith("actions/cache@"):
                assert "~/.cache/medperf-git-ci" in step["with"]["path"].split()
                assert "scripts/setup_engines.sh" in step["with"]["key"]
