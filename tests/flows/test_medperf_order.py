"""MedPerf's order for data owners (register, prepare, set operational), MedPerf's hashes in the record,
moving a dataset between machines, and running one model, on a seeded tutorial registry (local runner)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from medperf_git.errors import HashMismatch, PolicyDenied, UsageError
from medperf_git.flows import dataset as dataset_flow, dataset_prepare, dataset_transfer, result as result_flow
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.execution import run_model
from medperf_git.flows.session import RegistrySession
from medperf_git.hashing import medperf_hash
from medperf_git.registry.git import GitRepo
from tests.support.tutorial_registry import commit_records, make_raw_data, seed_tutorial_registry

pytestmark = [pytest.mark.slow, pytest.mark.unprivileged]
YES = lambda record: True  # noqa: E731


@pytest.fixture
def tutorial(tmp_path):
    registry, actors, _ = seed_tutorial_registry(tmp_path)
    return registry, actors, make_raw_data(tmp_path / "raw", count=6)


def settings():
    return RunSettings(runner="local", python=sys.executable)


def _main(registry, path):
    return yaml.safe_load(GitRepo(registry).read_path("refs/heads/main", path))


def _operational(actors, raw):
    """Register, prepare and publish a dataset the MedPerf way; returns (local dataset, registry id)."""
    with actors["testdo"].active():
        s = RegistrySession.load()
        registered = dataset_prepare.register(s, name="dataset_a", data_path=raw / "images",
                                              labels_path=raw / "labels", benchmark=1)
        uid = registered.dataset.uid
        dataset_prepare.prepare(RegistrySession.load(), uid[:8], settings=settings())
        outcome = dataset_prepare.set_operational(RegistrySession.load(), uid[:8], YES)
    return registered.dataset, outcome.record["id"]


def test_register_prepare_set_operational_publishes_medperf_hashes(tutorial):
    registry, actors, raw = tutorial
    with actors["testdo"].active():
        s = RegistrySession.load()
        registered = dataset_prepare.register(s, name="dataset_a", data_path=raw / "images",
                                              labels_path=raw / "labels", benchmark=1)
        ds = registered.dataset
        assert not registered.existing and ds.state == "development" and not ds.ready
        assert ds.info["medperf_input_data_hash"] == medperf_hash([raw / "images", raw / "labels"])
        # Nothing reached the registry.
        assert GitRepo(registry).out("ls-tree", "--name-only", "main", "datasets/") == "datasets/.gitkeep"
        with pytest.raises(UsageError, match="not prepared yet"):
            dataset_prepare.set_operational(RegistrySession.load(), ds.uid[:8], YES)
        # The same folders again: the registered dataset is kept, not registered twice.
        again = dataset_prepare.register(RegistrySession.load(), name="other", data_path=raw / "images",
                                         labels_path=raw / "labels", benchmark=1)
        assert again.existing and again.dataset.uid == ds.uid
        prepared = dataset_prepare.prepare(RegistrySession.load(), ds.uid[:8], settings=settings())
        assert not prepared.already and prepared.dataset.ready
        assert dataset_prepare.prepare(RegistrySession.load(), ds.uid[:8], settings=settings()).already
        outcome = dataset_prepare.set_operational(RegistrySession.load(), ds.uid[:8], YES)
    assert outcome.merged
    record = _main(registry, f"datasets/{outcome.record['id']}.yaml")
    local = prepared.dataset
    assert record["generated_uid"] == local.generated_uid
    assert record["medperf_generated_uid"] == medperf_hash([local.data_dir, local.labels_dir])
    assert record["medperf_input_data_hash"] == medperf_hash([raw / "images", raw / "labels"])
    with actors["testdo"].active(), pytest.raises(UsageError, match="operational"):
        dataset_prepare.prepare(RegistrySession.load(), ds.uid[:8], settings=settings())


def test_same_folder_for_data_and_labels_hashes_as_medperf_does(tutorial, tmp_path):
    registry, actors, raw = tutorial
    both = tmp_path / "both"
    subprocess.run(["cp", "-r", str(raw / "images"), str(both)], check=True)
    subprocess.run(["cp", str(raw / "labels" / "labels.csv"), str(both)], check=True)
    with actors["testdo"].active():
        ds = dataset_prepare.register(RegistrySession.load(), name="b", data_path=both, labels_path=both,
                                      data_preparation=1).dataset
    assert ds.info["medperf_input_data_hash"] == medperf_hash([both, both])
    assert ds.info["benchmark"] is None and ds.info["data_preparation"] == 1


def test_create_on_registered_data_names_the_registered_dataset(tutorial):
    registry, actors, raw = tutorial
    with actors["testdo"].active():
        created = dataset_flow.create(RegistrySession.load(), benchmark=1, name="d", data_path=raw / "images",
                                      labels_path=raw / "labels", settings=settings())
        outcome = dataset_flow.submit(RegistrySession.load(), created.dataset.uid[:8], YES)
        again = dataset_flow.create(RegistrySession.load(), benchmark=1, name="d", data_path=raw / "images",
                                    labels_path=raw / "labels", settings=settings())
    assert not again.prepared and again.registered.registry_id == outcome.record["id"]


def test_export_import_in_development_carries_the_raw_data(tutorial, tmp_path):
    registry, actors, raw = tutorial
    with actors["testdo"].active():
        s = RegistrySession.load()
        ds = dataset_prepare.register(s, name="a", data_path=raw / "images", labels_path=raw / "labels",
                                      benchmark=1).dataset
        dataset_prepare.prepare(RegistrySession.load(), ds.uid[:8], settings=settings())
        sent, received = [], []  # the progress bars' counts
        exported = dataset_transfer.export(RegistrySession.load(), ds.uid[:8], tmp_path / "out", progress=sent.append)
        assert exported.raw_included and exported.path == tmp_path / "out" / f"{ds.uid[:12]}.tar"
        files = [p for p in ds.path.rglob("*") if p.is_file()] + [p for p in raw.rglob("*") if p.is_file()]
        assert sum(sent) >= sum(p.stat().st_size for p in files) > 0
        subprocess.run(["rm", "-rf", str(ds.path)], check=True)
        with pytest.raises(UsageError, match="--raw_dataset_path"):
            dataset_transfer.import_(RegistrySession.load(), ds.uid[:8], exported.path)
        imported = dataset_transfer.import_(RegistrySession.load(), ds.uid[:8], exported.path,
                                            raw_dataset_path=tmp_path / "new_raw", progress=received.append)
        assert sum(received) > 0
        assert imported.dataset.ready and imported.raw_paths["data_path"] == str(tmp_path / "new_raw" / "images")
        # The moved raw data still hashes as registered, so it can be published.
        outcome = dataset_prepare.set_operational(RegistrySession.load(), ds.uid[:8], YES)
    assert outcome.merged


def test_import_refuses_changed_data(tutorial, tmp_path):
    registry, actors, raw = tutorial
    ds, dataset_id = _operational(actors, raw)
    with actors["testdo"].active():
        exported = dataset_transfer.export(RegistrySession.load(), str(dataset_id), tmp_path / "ds.tar")
        assert not exported.raw_included
        subprocess.run(["rm", "-rf", str(ds.path)], check=True)
        # Unpack, change one prepared file, pack again.
        work = tmp_path / "work"
        work.mkdir()
        subprocess.run(["tar", "xf", str(exported.path), "-C", str(work)], check=True)
        victim = next((work / "dataset" / "data").iterdir())
        victim.write_bytes(victim.read_bytes() + b"x")
        subprocess.run(["tar", "cf", str(tmp_path / "bad.tar"), "-C", str(work), "."], check=True)
        with pytest.raises(HashMismatch):
            dataset_transfer.import_(RegistrySession.load(), str(dataset_id), tmp_path / "bad.tar")
        with pytest.raises(UsageError, match="not 99"):
            dataset_transfer.import_(RegistrySession.load(), "99", exported.path)
        imported = dataset_transfer.import_(RegistrySession.load(), str(dataset_id), exported.path)
    assert imported.dataset.registry_id == dataset_id and imported.raw_paths is None


def test_second_request_resumes_the_open_one_and_run_names_it(tutorial):
    registry, actors, raw = tutorial
    ds, dataset_id = _operational(actors, raw)
    with actors["testdo"].active():
        first = dataset_flow.associate(RegistrySession.load(), benchmark=1, data_uid=str(dataset_id), confirm=YES,
                                       settings=settings())
        assert not first.merged
        second = dataset_flow.associate(RegistrySession.load(), benchmark=1, data_uid=str(dataset_id),
                                        confirm=lambda record: pytest.fail("asked again"), settings=settings())
        assert second.already_open and second.number == first.number and second.waiting_for == ["testbo"]
        with pytest.raises(PolicyDenied, match=f"submission {first.number}, waits for approval by testbo"):
            run_model(RegistrySession.load(), benchmark=1, data_uid=str(dataset_id), model=2, settings=settings())


def test_result_create_run_and_new_result(tutorial):
    registry, actors, raw = tutorial
    ds, dataset_id = _operational(actors, raw)
    commit_records(registry, actors["testadmin"], {f"associations/1/dataset-{dataset_id}.yaml": {
        "schema_version": 1, "kind": "association", "benchmark": 1, "dataset": dataset_id,
        "initiated_by": "testdo"}}, "approved")
    with actors["testdo"].active():
        made = run_model(RegistrySession.load(), benchmark=1, data_uid=str(dataset_id), model=4, settings=settings())
        assert made.name == f"b1m4d{dataset_id}" and not made.cached
        published = result_flow.submit(RegistrySession.load(), None, YES, benchmark=1, data_uid=str(dataset_id),
                                       model=4)
        assert published.merged
        with pytest.raises(UsageError, match="--new-result"):
            result_flow.run_and_submit(RegistrySession.load(), benchmark=1, data_uid=str(dataset_id), model=4,
                                       confirm=YES, settings=settings())
        again, published = result_flow.run_and_submit(RegistrySession.load(), benchmark=1, data_uid=str(dataset_id),
                                                      model=4, confirm=YES, new_result=True, settings=settings())
    assert again.name == f"b1m4d{dataset_id}-2" and published.merged
    assert _main(registry, f"results/1/b1m4d{dataset_id}-2.yaml")["model"] == 4
