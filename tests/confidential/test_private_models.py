"""Private models end to end on the tutorial registry: the model owner registers encrypted weights and keeps
their key, releases it to the data owner of an approved association (an envelope in the model's association),
the data owner runs the model under the sandbox and docker with the same results, and the weights in clear
are nowhere on disk afterwards; someone the key was not released to is refused."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from medperf_git.errors import PolicyDenied
from medperf_git.flows import dataset as dataset_flow, result as result_flow, review, weights as weights_flow
from medperf_git.flows._containers import ContainerRunner, RunSettings
from medperf_git.flows.container import ArchiveInput, submit as submit_container
from medperf_git.flows.execution import run_model
from medperf_git.flows.session import RegistrySession
from medperf_git.records import envelope
from medperf_git.registry.git import GitRepo
from tests.support.actors import make_actor
from tests.support.tutorial_registry import EXAMPLES, commit_records, make_raw_data, seed_tutorial_registry

pytestmark = pytest.mark.slow
YES = lambda record: True  # noqa: E731 - answers every confirmation
BASE_IMAGE = os.environ.get("MEDPERF_GIT_BASE_IMAGE") or "localhost/medperf-base:bookworm"  # as runner_helpers
WEIGHTS = EXAMPLES / "model_second" / "additional_files" / "weights.npz"


def main_record(registry, path):
    return yaml.safe_load(GitRepo(registry).read_path("refs/heads/main", path))


def _docker_reason() -> str | None:
    """The runners' own check (tests/runners/runner_helpers.py): the engine and the base image."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runners"))
    from runner_helpers import docker_reason

    return docker_reason()


@pytest.fixture(scope="module")
def private(tmp_path_factory):
    """Model 5: model_second with its weights encrypted by testmo, associated with benchmark 1; dataset 1 of
    testdo associated and given the key; testdo2 registered, with no association."""
    root = tmp_path_factory.mktemp("private")
    registry, actors, assets = seed_tutorial_registry(root)
    mo, bo, do = actors["testmo"], actors["testbo"], actors["testdo"]
    other = actors["testdo2"] = make_actor(root, "testdo2", str(registry))
    commit_records(registry, actors["testadmin"], {"people/testdo2.yaml": other.person_record()}, "testdo2 joins")
    plain = root / "weights" / "model_second_additional_files.tar.gz"
    plain.parent.mkdir()
    shutil.copy(assets / "model_second_additional_files.tar.gz", plain)
    with mo.active():
        model = submit_container(RegistrySession.load(), name="private-model",
                                 config_path=EXAMPLES / "model_second" / "container_config.yaml",
                                 parameters_path=EXAMPLES / "model_second" / "parameters.yaml",
                                 source=ArchiveInput(str(assets / "model_second.tar.gz")),
                                 additional_files=ArchiveInput(str(plain)), private_weights=True,
                                 required_tasks=("infer",), confirm=YES)
    assert model.merged and model.record["id"] == 5
    commit_records(registry, actors["testadmin"], {"associations/1/model-5.yaml": {
        "schema_version": 1, "kind": "association", "benchmark": 1, "model": 5, "initiated_by": "testmo",
        "priority": 0}}, "Model 5 joins benchmark 1 (approved)")
    raw = make_raw_data(root / "raw")
    settings = RunSettings(runner="local", python=sys.executable)
    with do.active():
        ds = dataset_flow.create(RegistrySession.load(), benchmark=1, name="mytestdata", data_path=raw / "images",
                                 labels_path=raw / "labels", settings=settings).dataset
        assert dataset_flow.submit(RegistrySession.load(), ds.uid[:10], confirm=YES).merged
        asked = dataset_flow.associate(RegistrySession.load(), benchmark=1, data_uid="1", confirm=YES,
                                       settings=settings)
    with bo.active():
        assert review.approve(RegistrySession.load(), asked.number).merged
    with mo.active():
        granted = weights_flow.grant_access(RegistrySession.load(), benchmark=1, model=5, confirm=YES)
    assert granted.released == [1] and granted.outcome.merged
    return registry, actors, root, plain


def test_the_association_carries_the_key_for_the_data_owner_alone(private):
    registry, actors, _, _ = private
    pin = main_record(registry, "containers/5.yaml")["additional_files"]
    assert pin["private"]["format"] == "age-v1" and pin["url"].endswith(".tar.gz.age") and "tree" not in pin
    grants = main_record(registry, "associations/1/model-5.yaml")["weights_keys"]
    assert [g["dataset"] for g in grants] == [1]
    sealed = grants[0]["encrypted"]
    assert envelope.check(sealed) == [] and [r["handle"] for r in sealed["recipients"]] == ["testdo"]
    assert b"AGE-SECRET-KEY" not in GitRepo(registry).read_path("refs/heads/main", "associations/1/model-5.yaml")
    assert envelope.open_payload(sealed, actors["testdo"].key).startswith(b"AGE-SECRET-KEY-1")
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_payload(sealed, actors["testmo"].key)


def _runners():
    from medperf_git.runners.sandbox import SandboxRunner

    sandbox_why = SandboxRunner().available()
    return [pytest.param("sandbox", marks=[pytest.mark.bwrap, pytest.mark.skipif(
                sandbox_why is not None, reason=f"sandbox: {sandbox_why}")]),
            pytest.param("docker", marks=[pytest.mark.docker])]


@pytest.fixture(scope="module")
def metrics_by_runner():
    return {}


@pytest.mark.parametrize("runner", _runners())
def test_the_data_owner_runs_it_and_no_clear_weights_stay(private, runner, metrics_by_runner, monkeypatch):
    registry, actors, root, plain = private
    if runner == "docker":
        why = _docker_reason()
        if why:
            pytest.skip(f"docker: {why}")
        monkeypatch.setenv("MEDPERF_GIT_BASE_IMAGE", BASE_IMAGE)
    settings = RunSettings(runner=runner, python=sys.executable if runner == "sandbox" else None)
    with actors["testdo"].active():
        outcome = run_model(RegistrySession.load(), benchmark=1, data_uid="1", model=5, no_cache=True,
                            new_result=True, settings=settings)
        assert outcome.error is None, outcome.error
        metrics_by_runner[runner] = result_flow.show(RegistrySession.load(), outcome.name).metrics
    assert metrics_by_runner[runner]
    if len(metrics_by_runner) == 2:
        assert metrics_by_runner["sandbox"] == metrics_by_runner["docker"]
    home = actors["testdo"].home
    assert not any((home / "data" / "tmp").iterdir()), "the task's scratch is removed after the run"
    clear = [plain.read_bytes(), _chunk(WEIGHTS)]
    assert _holding(home, clear) == []


def test_a_failing_run_removes_the_clear_weights_too(private):
    """Ctrl-C in the middle of the task: the scratch with the unpacked weights goes with it."""
    registry, actors, _, plain = private
    seen = []

    def interrupt(line: str) -> None:
        seen.append(list((actors["testdo"].home / "data" / "tmp").glob("*/private/additional_files/*")))
        raise KeyboardInterrupt

    settings = RunSettings(runner="local", python=sys.executable, on_output=interrupt)
    with actors["testdo"].active(), pytest.raises(KeyboardInterrupt):
        run_model(RegistrySession.load(), benchmark=1, data_uid="1", model=5, no_cache=True, new_result=True,
                  settings=settings)
    assert seen and seen[0], "the weights were unpacked in the task's scratch while it ran"
    assert not any((actors["testdo"].home / "data" / "tmp").iterdir())
    assert _holding(actors["testdo"].home, [plain.read_bytes(), _chunk(WEIGHTS)]) == []


def test_someone_without_an_association_is_refused(private, tmp_path):
    registry, actors, _, _ = private
    with actors["testdo2"].active():
        s = RegistrySession.load()
        with pytest.raises(PolicyDenied) as caught:
            ContainerRunner(s, RunSettings(runner="local", python=sys.executable)).run(
                5, "infer", {"data_path": tmp_path, "output_path": tmp_path / "out"}, tmp_path / "logs")
    assert str(caught.value.message) == ("model 5's weights are private, and no approved association releases "
                                         "their key to testdo2")
    assert "container grant-access" in caught.value.hint
    assert not any((actors["testdo2"].home / "data" / "tmp").glob("*/private"))


def test_lint_and_audit_pass_and_only_the_model_owner_may_release_the_key(private, invoke, tmp_path):
    import subprocess

    registry, actors, _, _ = private
    with actors["testbo"].active():
        audit = invoke("registry", "audit", str(registry))
        assert audit.exit_code == 0, audit.output
        shown = invoke("container", "view", "5")
        assert shown.exit_code == 0 and "Weights: private" in shown.output
    clone = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(registry), str(clone)], check=True)
    lint = invoke("registry", "lint", str(clone))
    assert lint.exit_code == 0, lint.output
    with actors["testbo"].active(), pytest.raises(PolicyDenied):
        weights_flow.grant_access(RegistrySession.load(), benchmark=1, model=5, confirm=YES)


def _chunk(path: Path) -> bytes:
    data = path.read_bytes()
    return data[len(data) // 2:len(data) // 2 + 4096]


def _holding(folder: Path, needles: list[bytes]) -> list[str]:
    """Every file under ``folder`` that holds one of ``needles``."""
    found = []
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if any(n in data for n in needles):
                found.append(str(path))
    return found
