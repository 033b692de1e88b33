"""A hostile container cannot publish patient identifiers through metrics or statistics.

The benchmark's preparation and metrics containers write ``statistics.yaml`` and ``results.yaml``,
and those are what a data owner publishes. Here their authors are hostile: each writes a patient
identifier beside the numbers. With ``-y`` nobody reads the preview, so the tool itself refuses,
before anything is pushed, and names the container task that wrote it; the registry's lint
refuses the same text in a record written by hand, at its line. Everything runs through the real
commands against a real bare registry (the local runner, with this Python).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tutorial_registry import (
    EXAMPLES,
    TOOLS,
    commit_records,
    container_record,
    make_raw_data,
    seed_tutorial_registry,
)

pytestmark = [pytest.mark.slow, pytest.mark.unprivileged]

PATIENT = "MRN-0042 Jane Doe"
PREVIEW_AUDIENCE = "This will be readable by everyone who can read the registry."


def _hostile_assets(root: Path) -> Path:
    """The example containers' archives, with the metrics and the preparation code each adding a patient id."""
    source = root / "hostile-src"
    shutil.copytree(EXAMPLES, source, ignore=shutil.ignore_patterns("__pycache__"))
    for path, honest in ((source / "metrics" / "project" / "metrics.py", '"AUC": global_auc(labels, scores),'),
                         (source / "data_preparator" / "project" / "main.py", '"num_cases": len('),):
        text = path.read_text()
        assert text.count(honest) == 1, f"{path.name} changed: update the attack"
        name = "patient" if path.name == "metrics.py" else "first_case"
        path.write_text(text.replace(honest, f'"{name}": "{PATIENT}", {honest}'))
    assets = root / "hostile-assets"
    subprocess.run([sys.executable, str(TOOLS / "make_source_archives.py"), "--out", str(assets), "--root",
                    str(source)], check=True, capture_output=True)
    return assets


@pytest.fixture
def world(tmp_path):
    """The tutorial registry plus benchmark 2 (hostile metrics container 5) and 3 (hostile preparation 6)."""
    registry, actors, _ = seed_tutorial_registry(tmp_path, runner="local", python=sys.executable)
    assets = _hostile_assets(tmp_path)
    metrics = {**container_record(3, assets), "id": 5, "name": "chestxray-metrics-v2"}
    prep = {**container_record(1, assets), "id": 6, "name": "chestxray-prep-v2"}
    policy = {"datasets": {"mode": "never"}, "models": {"mode": "never"}}
    benchmarks = {f"benchmarks/{bid}.yaml": {
        "schema_version": 1, "kind": "benchmark", "id": bid, "name": name, "description": "A chest X-ray benchmark",
        "owners": ["testbo"], "data_preparation": prep_id, "reference_model": 2, "metrics": metrics_id,
        "association_policy": policy, "approvals_required": 1}
        for bid, name, prep_id, metrics_id in ((2, "chestxray-v2", 1, 5), (3, "chestxray-v3", 6, 3))}
    commit_records(registry, actors["testadmin"], {"containers/5.yaml": metrics, "containers/6.yaml": prep,
                                                   **benchmarks}, "Benchmarks with hostile containers")
    return registry, actors, make_raw_data(tmp_path / "raw")


def _refs(registry: Path) -> str:
    """Every ref of the registry and where it points: unchanged means nothing was pushed."""
    return subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)"], cwd=registry,
                          capture_output=True, text=True, check=True).stdout


def _published_anywhere(registry: Path, text: str) -> bool:
    refs = [line.split()[1] for line in _refs(registry).splitlines()]
    found = subprocess.run(["git", "grep", "-F", "-q", text, *refs], cwd=registry, capture_output=True)
    return found.returncode == 0


def _create(invoke, raw: Path, benchmark: int):
    done = invoke("dataset", "create", "--name", "hospital data", "--data_path", raw / "images",
                  "--labels_path", raw / "labels", "--benchmark", benchmark)
    assert done.exit_code == 0, done.output
    return done, re.search(r"Generated UID: ([0-9a-f]+)", done.stdout).group(1)


def test_hostile_metrics_container_cannot_publish_a_patient_id(world, invoke):
    registry, actors, raw = world
    with actors["testdo"].active():
        _, uid = _create(invoke, raw, 2)
        submitted = invoke("dataset", "submit", "--data_uid", uid, "-y")
        assert submitted.exit_code == 0, submitted.output
        # -y skips the question, never the preview: the exact record, and who will read it.
        preview = submitted.stderr
        assert "kind: dataset" in preview and "statistics:" in preview and "labels_count:" in preview
        assert PREVIEW_AUDIENCE in preview and "Publishing it without asking (-y)." in preview

        # The compatibility test runs the hostile metrics container: its results are refused.
        before = _refs(registry)
        associate = invoke("dataset", "associate", "--benchmark_uid", 2, "--data_uid", 1, "-y")
        assert associate.exit_code == 3, associate.output
        assert ("the results written by the evaluate task of metrics container 5 hold more than numbers"
                in associate.stderr)
        assert f'results.patient: "{PATIENT}" is not a number' in associate.stderr
        assert "Traceback" not in associate.output and PREVIEW_AUDIENCE not in associate.stderr
        assert _refs(registry) == before

        # The committee approves the dataset anyway (a test shortcut); the data owner runs the benchmark.
        commit_records(registry, actors["testadmin"], {"associations/2/dataset-1.yaml": {
            "schema_version": 1, "kind": "association", "benchmark": 2, "dataset": 1, "initiated_by": "testdo"}},
            "The committee's approval")
        ran = invoke("benchmark", "run", "--benchmark", 2, "--data_uid", 1)
        assert ran.exit_code == 0, ran.output
        assert PATIENT in invoke("result", "view", "b2m2d1").stdout  # the data owner can see it locally

        before = _refs(registry)
        refused = invoke("result", "submit", "--result", "b2m2d1", "-y")
    assert refused.exit_code == 3, refused.output
    assert refused.stderr.startswith(
        "Error: result b2m2d1 cannot be published: the metrics written by the evaluate task of metrics container 5 "
        "hold more than numbers:\n"
        f'  metrics.patient: "{PATIENT}" is not a number: metrics and statistics hold only numbers, and lists and '
        "maps of numbers\n"
        "Hint: nothing was published. ")
    assert "ask the owners of benchmark 2 to fix container 5" in refused.stderr
    assert "Traceback" not in refused.output and PREVIEW_AUDIENCE not in refused.stderr
    assert _refs(registry) == before
    assert not _published_anywhere(registry, PATIENT)


def test_hostile_preparation_container_cannot_publish_a_patient_id(world, invoke):
    registry, actors, raw = world
    with actors["testdo"].active():
        created, uid = _create(invoke, raw, 3)
        # Said at once: only the benchmark's owners can fix their container.
        assert "these statistics cannot be published" in created.stderr
        assert f'statistics.first_case: "{PATIENT}" is not a number' in created.stderr
        before = _refs(registry)
        refused = invoke("dataset", "submit", "--data_uid", uid, "-y")
    assert refused.exit_code == 3, refused.output
    assert (f"the statistics written by the statistics task of data preparation container 6 hold more than numbers:"
            f'\n  statistics.first_case: "{PATIENT}" is not a number' in refused.stderr)
    assert "Hint: nothing was published." in refused.stderr
    assert "ask the owners of benchmark 3 to fix container 6" in refused.stderr
    assert "Traceback" not in refused.output and PREVIEW_AUDIENCE not in refused.stderr
    assert _refs(registry) == before
    assert not _published_anywhere(registry, PATIENT)


HAND_WRITTEN = {
    "datasets/1.yaml": (
        "schema_version: 1\nkind: dataset\nid: 1\nname: hospital data\nowner: testdo\nbenchmark: 1\n"
        "data_preparation: 1\ninput_data_hash: tree-v1:sha256:" + "a" * 64 + "\n"
        "generated_uid: tree-v1:sha256:" + "b" * 64 + "\n"
        "statistics:\n  num_cases: 12\n  labels_count:\n    effusion: 3\n    " + PATIENT + ": 1\n"
        "tool_version: 0.1.0\n"),
    "results/1/b1m2d1.yaml": (
        "schema_version: 1\nkind: result\nname: b1m2d1\nbenchmark: 1\nmodel: 2\ndataset: 1\nowner: testdo\n"
        "metrics:\n  Accuracy: 0.86\n  AUC: 0.5\n  patient: " + PATIENT + "\npartial: false\n"
        "provenance:\n  dataset_uid: tree-v1:sha256:" + "b" * 64 + "\n  runner: local\n  isolation: none\n"
        "  tool_version: 0.1.0\n  containers:\n"
        + "".join(f"    {role}:\n      id: {cid}\n      config_hash: sha256:{'c' * 64}\n"
                  f"      parameters_hash: sha256:{'c' * 64}\n" for role, cid in (("model", 2), ("metrics", 3)))
        + "created_at: '2026-01-01T00:00:00Z'\n"),
}


def test_hand_written_records_with_text_fail_lint_at_their_lines(world, invoke, tmp_path):
    registry, _, _ = world
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(registry), str(checkout)], check=True)
    for path, text in HAND_WRITTEN.items():
        (checkout / path).parent.mkdir(parents=True, exist_ok=True)
        (checkout / path).write_text(text)
    subprocess.run(["git", "add", "."], cwd=checkout, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "Dataset 1 and its result, by hand"], cwd=checkout, check=True)
    expected = [
        f'datasets/1.yaml:14:5 SCHEMA statistics.labels_count.{PATIENT}: the key "{PATIENT}" is not a label: '
        "1 to 64 letters, digits, '_', '.' or '-'",
        f'results/1/b1m2d1.yaml:11:3 SCHEMA metrics.patient: "{PATIENT}" is not a number: metrics and statistics '
        "hold only numbers, and lists and maps of numbers",
    ]
    for base in ([], ["--base", "origin/main"]):  # the whole registry, and the change as CI checks it
        linted = invoke("registry", "lint", checkout, *base)
        assert linted.exit_code == 3, linted.output
        assert [line for line in linted.stdout.splitlines() if " SCHEMA " in line] == expected
        assert "Traceback" not in linted.output
