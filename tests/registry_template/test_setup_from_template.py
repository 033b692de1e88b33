"""The tutorial set-up publishes registry/: after it, main holds the template's records, filled in.

The set-up runs with the local runner, asked for by name, so that these tests run on every machine;
tests/e2e/test_tutorial.py checks the same under the sandbox and docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.registry_template.filled import REPO_ROOT, TEMPLATE, Machine, records_on, template_problems

pytestmark = pytest.mark.slow


def run_setup(tmp_path: Path, template: Path | None = None) -> Machine:
    """Run tutorials_scripts/setup_data_tutorial.sh in tmp_path/work; what it made."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDPERF_GIT") or k == "MEDPERF_GIT_BASE_IMAGE"}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", PYTHON=sys.executable,
               MEDPERF_GIT_HOME=str(home), MEDPERF_GIT_RUNNER="local", MEDPERF_GIT_PYTHON=sys.executable,
               MEDPERF_GIT_NO_PROGRESS="1")
    if template is not None:
        env["MEDPERF_GIT_TUTORIAL_TEMPLATE"] = str(template)
    proc = subprocess.run(["sh", str(REPO_ROOT / "tutorials_scripts" / "setup_data_tutorial.sh")], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    tutorial = work / "medperf_tutorial"
    return Machine(tutorial=tutorial, keys=home / "keys", main=records_on(tutorial / "registry.git"))


def test_main_holds_the_template_records_filled_in(tmp_path):
    machine = run_setup(tmp_path)
    assert template_problems(machine) == []
    # The filled-in values are this machine's: its archives, the keys the profiles sign with.
    assert machine.main["containers/1.yaml"]["source"]["url"] == (
        machine.tutorial / "assets" / "data_preparator.tar.gz").as_uri()
    assert machine.main["people/testdo.yaml"]["keys"][0].split()[1] in (
        machine.keys / "testdo" / "id_ed25519.pub").read_text()
    assert machine.main["benchmarks/1.yaml"]["compatibility_test"]["provenance"]["runner"] == "local"


def test_what_the_set_up_publishes_comes_from_the_template(tmp_path):
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template)

    def edit(path: str, change) -> None:
        record = yaml.safe_load((template / path).read_text())
        change(record)
        (template / path).write_text(yaml.safe_dump(record, sort_keys=False))

    edit("registry.yaml", lambda r: r.update(name="another-tutorial"))
    edit("people/testmo.yaml", lambda r: r.update(name="Another Model Owner", email="mo@hospital.example"))
    edit("containers/3.yaml", lambda r: (r.update(name="another-metrics", description="Accuracy and AUC"),
                                         r["parameters"].update(threshold=0.25)))
    edit("benchmarks/1.yaml", lambda r: (r.update(description="Another description"), r.pop("docs_url"),
                                         r["association_policy"].update(
                                             datasets={"mode": "allowlist", "allowlist": ["testdo"]},
                                             models={"mode": "always"})))
    machine = run_setup(tmp_path, template)
    assert template_problems(machine, template) == []
    assert machine.main["containers/3.yaml"]["parameters"]["threshold"] == 0.25
    assert machine.main["benchmarks/1.yaml"]["association_policy"]["models"] == {"mode": "always"}
