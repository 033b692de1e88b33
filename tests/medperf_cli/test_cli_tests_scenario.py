"""MedPerf's own end-to-end scenario (its cli/cli_tests.sh), with `medperf` replaced by `medperf-git`.

A benchmark owner, two model owners and two data owners, each a profile of one home signed in with
`auth login -e`, run MedPerf's command lines as MedPerf's script spells them, as separate processes
with no terminal (stdin closed), checking exit codes as `checkFailed` and `checkSucceeded` do:
containers and models submitted from their container_config.yaml alone (the image they name), a
benchmark with its compatibility test, an allowlist of emails, datasets submitted, prepared,
exported, imported and set operational, associations approved or refused, a priority, a model that
fails on real data, a partial result, and a re-run that needs --new-result.

What is not MedPerf's: the registry's creation (MedPerf's is a server seeded by a script) and the
admin's approval of the benchmark (MedPerf's admin_benchmark_approval.sh calls the server's API).
The mock containers are tests/medperf_cli/mock_containers, built here with the local engine.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
import yaml

from tests.runners.runner_helpers import BASE_IMAGE, docker_reason

HERE = Path(__file__).resolve().parent / "mock_containers"
MEDPERF_GIT = Path(sys.executable).with_name("medperf-git")
pytestmark = [pytest.mark.slow, pytest.mark.docker]
REASON = docker_reason()


@pytest.fixture(scope="module")
def images():
    """One image per role, built from the mock containers; removed afterwards."""
    from medperf_git.runners.docker import _shared_client

    if REASON is not None:
        pytest.skip(f"docker: {REASON}")
    client = _shared_client()
    tag = uuid.uuid4().hex[:8]
    built = {}
    for role in ("prep", "model", "metrics"):
        reference = f"localhost/medperf-git-scenario-{role}:{tag}"
        image, _ = client.images.build(path=str(HERE), tag=reference, rm=True, pull=False,
                                       buildargs={"BASE_IMAGE": BASE_IMAGE, "ROLE": f"{role}-{tag}"})
        built[role] = (reference, image.id)
    yield {role: reference for role, (reference, _) in built.items()}
    import docker

    for reference, _ in built.values():
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(reference, force=True)


class Script:
    """`medperf-git ...` as a shell script runs it: a new process each time, no terminal, one home."""

    def __init__(self, home: Path):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEDPERF_GIT_") or k in (
            "MEDPERF_GIT_BASE_IMAGE",)}
        self.env.update(MEDPERF_GIT_HOME=str(home), MEDPERF_GIT_NO_PROGRESS="1")
        self.transcript: list[str] = []

    def __call__(self, *args, succeeds: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(MEDPERF_GIT), *map(str, args)], env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=900)
        self.transcript.append(f">> medperf-git {' '.join(map(str, args))}  [exit {proc.returncode}]\n"
                               f"{proc.stdout}{proc.stderr}")
        output = proc.stdout + proc.stderr
        assert not re.search(r"^Traceback", output, re.M), output  # (a container's own output is indented)
        if succeeds:  # checkFailed
            assert proc.returncode == 0, "\n".join(self.transcript[-3:])
        else:  # checkSucceeded: this one must fail
            assert proc.returncode != 0, "\n".join(self.transcript[-3:])
        return proc


def uid_in(table: str, name: str) -> int:
    """The first column of the row naming ``name``, as cli_tests.sh greps its `ls` tables."""
    rows = [line.split() for line in table.splitlines() if re.search(rf"\s{re.escape(name)}(\s|$)", line)]
    assert rows, table
    return int(rows[-1][0])


def _write(folder: Path, nums: list[list[int]], answers: list[float]) -> Path:
    folder.mkdir(parents=True)
    (folder / "nums.txt").write_text("".join(" ".join(map(str, row)) + "\n" for row in nums))
    (folder / "ans.txt").write_text("".join(f"{a}\n" for a in answers))
    return folder


def _inputs(root: Path, images: dict[str, str]) -> dict[str, Path]:
    """MedPerf's test inputs: configs naming the built images, parameters, weights, the demo and two datasets."""
    paths = {}
    for role in ("prep", "model", "metrics"):
        config = (HERE / f"{role}.yaml").read_text().replace("IMAGE", images[role])
        paths[role] = root / role / "container_config.yaml"
        paths[role].parent.mkdir(parents=True)
        paths[role].write_text(config)
    for name, params in {"prep_params": {"add": 2}, "model1_params": {"times": 1}, "model2_params": {"times": 2},
                         "fail_params": {"times": 1, "fail_unless_demo": True}, "metrics_params": {}}.items():
        paths[name] = root / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(params))
    weights = _write_weights(root)
    paths["weights"] = weights
    demo = _write(root / "demo" / "demo_data", [[2, 3, 4], [9, 0]], [15.0, 13.0])
    (root / "demo" / "paths.yaml").write_text("data_path: demo_data\nlabels_path: demo_data\n")
    with tarfile.open(root / "demo_dset1.tar.gz", "w:gz") as tar:
        tar.add(demo.parent, arcname=".")
    paths["demo"] = root / "demo_dset1.tar.gz"
    # Answers: model1 gets every case right (sum of the rows once 2 is added to every number).
    paths["dataset_a"] = _write(root / "dataset_a", [[1, 2], [3, 4, 5], [0], [7, 7]], [7.0, 18.0, 2.0, 18.0])
    paths["dataset_b"] = _write(root / "dataset_b", [[5], [6, 1], [2, 2, 2]], [7.0, 11.0, 12.0])
    (root / "allowlist.txt").write_text("testdata@example.com\n")
    paths["allowlist"] = root / "allowlist.txt"
    return paths


def _write_weights(root: Path) -> Path:
    folder = root / "weights"
    folder.mkdir()
    (folder / "weight.txt").write_text("1.0\n")
    archive = root / "weights.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder / "weight.txt", arcname="weight.txt")
    return archive


def test_medperf_cli_tests_scenario(tmp_path, images):
    home = tmp_path / "home"
    medperf = Script(home)
    inputs = _inputs(tmp_path / "files", images)
    registry = tmp_path / "registry.git"

    medperf("--version")
    # The server: a registry with open registration (MedPerf's local server takes any mock login).
    medperf("registry", "init", registry, "--bare", "--name", "scenario", "--admin", "testadmin",
            "--admin-name", "Test Admin", "--admin-email", "testadmin@example.com", "--allow-file-urls")
    medperf("profile", "set", "--platform", "docker")

    # Profiles, one per user, each logged in: the first login registers the person, whom the admin
    # approves (MedPerf's server has its users from its seed).
    users = ["testbenchmark", "testmodel", "testmodel2", "testdata", "testdata2"]
    for profile in users:
        medperf("profile", "create", "-n", profile)
    for profile in users:
        medperf("profile", "activate", profile)
        medperf("auth", "login", "-e", f"{profile}@example.com")
    for number in range(1, len(users) + 1):
        medperf("--profile", "default", "review", "approve", number, "-y")
    medperf("profile", "activate", "testmodel")
    assert "Logged in user email address: testmodel@example.com" in medperf("auth", "status").stdout

    # Model owners: containers and models, from their container_config.yaml as MedPerf takes them.
    medperf("container", "ls")
    medperf("container", "submit", "--name", "mock-prep", "-m", inputs["prep"], "-p", inputs["prep_params"],
            "--operational")
    prep = uid_in(medperf("container", "ls").stdout, "mock-prep")
    medperf("model", "submit", "--name", "model1", "-m", inputs["model"], "-p", inputs["model1_params"], "-a",
            inputs["weights"], "--operational")
    model1 = uid_in(medperf("model", "ls").stdout, "model1")
    medperf("model", "submit", "--name", "model-fail", "-m", inputs["model"], "-p", inputs["fail_params"], "-a",
            inputs["weights"], "--operational")
    failing = uid_in(medperf("model", "ls").stdout, "model-fail")
    medperf("container", "submit", "--name", "mock-metrics", "-m", inputs["metrics"], "-p",
            inputs["metrics_params"], "--operational")
    metrics = uid_in(medperf("mlcube", "ls").stdout, "mock-metrics")
    medperf("profile", "activate", "testmodel2")
    medperf("model", "submit", "--name", "model2", "-m", inputs["model"], "-p", inputs["model2_params"], "-a",
            inputs["weights"], "--operational")
    model2 = uid_in(medperf("model", "ls").stdout, "model2")

    # Benchmark owner: the benchmark (its compatibility test runs the demo data), approved by the admin.
    medperf("profile", "activate", "testbenchmark")
    submitted = medperf("benchmark", "submit", "--name", "bmk", "--description", "bmk", "--demo-url", inputs["demo"],
                        "--data-preparation-container", prep, "--reference-model", model1,
                        "--evaluator-container", metrics, "--operational")
    number = re.search(r"Submission (\d+) opened", submitted.stderr).group(1)
    medperf("--profile", "default", "review", "approve", number, "-y")  # MedPerf: admin_benchmark_approval.sh
    bmk = uid_in(medperf("benchmark", "ls").stdout, "bmk")
    medperf("benchmark", "update_associations_policy", "-b", bmk, "--dataset_auto_approve_mode", "allowlist",
            "--dataset_auto_approve_file", inputs["allowlist"])

    # Data owner 1: submit, prepare, export and import (development), set operational, again, associate.
    medperf("profile", "activate", "testdata")
    out = medperf("dataset", "submit", "-p", prep, "-d", inputs["dataset_a"], "-l", inputs["dataset_a"],
                  "--name=dataset_a", "--description=mock dataset a", "--location=mock location a", "-y")
    dset_a = re.search(r"^UID: (\w+)$", out.stdout, re.M).group(1)[:12]
    assert dset_a in medperf("dataset", "ls", "--unregistered").stdout
    medperf("dataset", "prepare", "-d", dset_a)
    medperf("dataset", "export", "-d", dset_a, "-o", tmp_path / "exported_dev_dataset")
    storage = next(home.glob(f"data/registries/*/datasets/{dset_a}*"))
    shutil.rmtree(storage)
    medperf("dataset", "import", "-d", dset_a, "-i", tmp_path / "exported_dev_dataset" / f"{dset_a}.tar",
            "--raw_dataset_path", tmp_path / "imported_raw_data")
    medperf("dataset", "set_operational", "-d", dset_a, "-y")
    dset_a_id = uid_in(medperf("dataset", "ls", "--mine").stdout, "dataset_a")
    generated = yaml.safe_load(medperf("dataset", "view", dset_a_id).stdout)["generated_uid"]
    assert generated.startswith("tree-v1:sha256:")
    medperf("dataset", "export", "-d", dset_a, "-o", tmp_path / "exported_op_dataset")
    shutil.rmtree(storage)
    medperf("dataset", "import", "-d", dset_a, "-i", tmp_path / "exported_op_dataset" / f"{dset_a_id}.tar")
    associated = medperf("dataset", "associate", "-d", dset_a, "-b", bmk, "-y")
    assert "merged" in associated.stderr  # the allowlist names this data owner's email

    # Data owner 2: the same; the association waits for the committee; asking again asks nothing twice.
    medperf("profile", "activate", "testdata2")
    out = medperf("dataset", "submit", "-p", prep, "-d", inputs["dataset_b"], "-l", inputs["dataset_b"],
                  "--name=dataset_b", "--description=mock dataset b", "--location=mock location b", "-y")
    dset_b = re.search(r"^UID: (\w+)$", out.stdout, re.M).group(1)[:12]
    medperf("dataset", "prepare", "-d", dset_b)
    medperf("dataset", "set_operational", "-d", dset_b, "-y")
    dset_b_id = uid_in(medperf("dataset", "ls", "--mine").stdout, "dataset_b")
    requested = medperf("dataset", "associate", "-d", dset_b, "-b", bmk, "-y")
    assert "waits for approval by testbenchmark" in requested.stderr
    assert "asked already" in medperf("dataset", "associate", "-d", dset_b, "-b", bmk, "-y").stderr

    # Benchmark owner: approvals (one must fail: it is approved already), model associations, listings.
    medperf("profile", "activate", "testbenchmark")
    medperf("association", "approve", "-b", bmk, "-d", dset_a_id, succeeds=False)
    medperf("association", "approve", "-b", bmk, "-d", dset_b_id)
    medperf("model", "associate", "-m", model2, "-b", bmk, "-y")
    medperf("model", "associate", "-m", failing, "-b", bmk, "-y")  # passes: it fails only on real data
    assert re.search(rf"^\s*{bmk}\s+dataset\s+{dset_b_id}\s.*approved", medperf("association", "ls", "-bd").stdout,
                     re.M)
    pending = medperf("association", "ls", "-bm").stdout
    assert re.search(rf"^\s*{bmk}\s+model\s+{model2}\s.*pending", pending, re.M), pending

    # Each model owner approves the association of their model; the committee sets a priority.
    medperf("profile", "activate", "testmodel2")
    medperf("association", "approve", "-b", bmk, "-m", model2)
    medperf("profile", "activate", "testmodel")
    medperf("association", "approve", "-b", bmk, "-m", failing)
    medperf("profile", "activate", "testbenchmark")
    medperf("association", "set_priority", "-b", bmk, "-m", model2, "-p", 77)

    # Data owner 1: one model (with --platform), every model, the failing model's partial result, re-runs.
    medperf("profile", "activate", "testdata")
    medperf("--platform=docker", "run", "-b", bmk, "-d", dset_a, "-m", model2, "-y")
    summary = medperf("benchmark", "run", "-b", bmk, "-d", dset_a).stdout  # MedPerf's exits 0: failures are rows
    assert re.search(rf"^\s*{model2}\s+b{bmk}m{model2}d{dset_a_id}\s+False\s+True", summary, re.M), summary
    assert re.search(rf"^\s*{failing}\s+False\s+False\s+.*fail", summary, re.M), summary
    # Priority 77 runs model2 before the failing model, which the order of their ids would not.
    table = summary.split("Total number of models")[0]
    order = [int(line.split()[0]) for line in table.splitlines() if line.split() and line.split()[0].isdigit()]
    assert order[0] == model1 and failing < model2 and order.index(model2) < order.index(failing), summary
    medperf("result", "create", "-b", bmk, "-d", dset_a, "-m", failing, "--ignore-model-errors")
    name = f"b{bmk}m{failing}d{dset_a_id}"
    listed = [line.split()[0] for line in medperf("result", "ls", "--mine").stdout.splitlines() if name in line]
    assert listed == [name]
    assert yaml.safe_load(medperf("result", "show_local_results", name).stdout) == {
        "correct": 3, "incorrect": 0, "missing": 1}
    medperf("result", "submit", "-b", bmk, "-d", dset_a, "-m", failing, "-y")
    medperf("run", "-b", bmk, "-d", dset_a, "-m", failing, "--ignore-model-errors", "-y", succeeds=False)
    medperf("run", "-b", bmk, "-d", dset_a, "-m", failing, "--ignore-model-errors", "--new-result", "-y")
    published = subprocess.run(["git", "ls-tree", "-r", "--name-only", "main", f"results/{bmk}/"], cwd=registry,
                               capture_output=True, text=True, check=True).stdout.split()
    assert f"results/{bmk}/{name}.yaml" in published and f"results/{bmk}/{name}-2.yaml" in published
    partial = yaml.safe_load(subprocess.run(["git", "show", f"main:results/{bmk}/{name}.yaml"], cwd=registry,
                                            capture_output=True, text=True, check=True).stdout)
    assert partial["partial"] is True and partial["owner"] == "testdata"

    # Log everyone out; back to the default profile; delete the test profiles.
    for profile in users:
        medperf("profile", "activate", profile)
        medperf("auth", "logout")
    medperf("profile", "activate", "default")
    for profile in users:
        medperf("profile", "delete", profile)
    audit = subprocess.run([str(MEDPERF_GIT), "registry", "audit", str(registry)], capture_output=True,
                           env=medperf.env, text=True)
    assert audit.returncode == 0, audit.stdout + audit.stderr
