"""Data owner flows on a seeded tutorial registry: prepare, check, run, view (local runner, this Python)."""

from __future__ import annotations

import sys

import pytest

from medperf_git.errors import HashMismatch, PolicyDenied, RecordNotFound, UsageError
from medperf_git.flows import dataset as dataset_flow
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.execution import run_benchmark
from medperf_git.flows.session import RegistrySession
from tests.support.tutorial_registry import commit_records, make_raw_data, seed_tutorial_registry

pytestmark = [pytest.mark.slow, pytest.mark.unprivileged]


@pytest.fixture
def tutorial(tmp_path):
    registry, actors, assets = seed_tutorial_registry(tmp_path)
    raw = make_raw_data(tmp_path / "raw")
    return registry, actors, raw


def settings(steps=None):
    return RunSettings(runner="local", python=sys.executable, on_step=(steps.append if steps is not None else None))


def _register(registry, actors, ds, dataset_id=1, associate=True):
    """What `dataset submit` and the committee's approval leave on main (a test shortcut)."""
    record = dataset_flow.dataset_record(ds, dataset_id, "testdo")
    records = {f"datasets/{dataset_id}.yaml": record}
    if associate:
        records[f"associations/1/dataset-{dataset_id}.yaml"] = {
            "schema_version": 1, "kind": "association", "benchmark": 1, "dataset": dataset_id,
            "initiated_by": "testdo"}
    commit_records(registry, actors["testadmin"], records, "Dataset and its association")


def test_create_prepares_hashes_and_keeps_everything_local(tutorial):
    registry, actors, raw = tutorial
    steps: list[str] = []
    with actors["testdo"].active():
        ws = RegistrySession.load()
        result = dataset_flow.create(ws, benchmark=1, name="mytestdata", description="A tutorial dataset",
                                     location="My machine", data_path=raw / "images", labels_path=raw / "labels",
                                     settings=settings(steps))
        ds = result.dataset
        assert ds.generated_uid.startswith("tree-v1:sha256:")
        assert ds.info["input_data_hash"].startswith("tree-v1:sha256:")
        assert ds.info["input_data_hash"] != ds.generated_uid
        assert result.statistics["num_cases"] == 12
        assert sum(result.statistics["labels_count"].values()) == 12
        assert sorted(p.name for p in ds.data_dir.iterdir()) == sorted(p.name for p in ds.labels_dir.iterdir())
        assert any("prepare" in s for s in steps) and any("statistics" in s for s in steps)
        # The generated UID is exactly tree-v1 of the prepared data and labels.
        from medperf_git.hashing import dataset_hashes

        assert dataset_hashes(ds.data_dir, ds.labels_dir).digest == ds.generated_uid
        # The same command again keeps the dataset.
        again = dataset_flow.create(ws, benchmark=1, name="mytestdata", data_path=raw / "images",
                                    labels_path=raw / "labels", settings=settings())
        assert again.reused and again.dataset.path == ds.path
        assert [d.uid for d in dataset_flow.list_local(ws)] == [ds.uid]
        # A prefix is enough; a short or unknown one is a clear error.
        assert view_find(ws, ds.uid[:8]).uid == ds.uid
        with pytest.raises(UsageError, match="at least 6"):
            view_find(ws, ds.uid[:4])
        with pytest.raises(RecordNotFound):
            view_find(ws, "ffffffffff")
        # check: clean, then tampered
        assert dataset_flow.check(ws, ds.uid[:8]).ok
        victim = sorted(ds.data_dir.iterdir())[0]
        victim.write_bytes(victim.read_bytes() + b"x")
        result = dataset_flow.check(ws, ds.uid[:8])
        assert not result.ok and result.changed == [f"data/{victim.name}"]
        with pytest.raises(HashMismatch):
            dataset_flow.require_match(result)


def view_find(s, prefix):
    return s.local_dataset(prefix)


def test_create_bad_inputs(tutorial, tmp_path):
    registry, actors, raw = tutorial
    with actors["testdo"].active():
        ws = RegistrySession.load()
        with pytest.raises(UsageError, match="does not exist"):
            dataset_flow.create(ws, benchmark=1, name="x", data_path=tmp_path / "nope", labels_path=raw / "labels")
        empty = tmp_path / "empty"
        empty.mkdir()
        with pytest.raises(UsageError, match="is empty"):
            dataset_flow.create(ws, benchmark=1, name="x", data_path=empty, labels_path=raw / "labels")
        with pytest.raises(RecordNotFound, match="benchmark 9 does not exist"):
            dataset_flow.create(ws, benchmark=9, name="x", data_path=raw / "images", labels_path=raw / "labels")
        # Labels that do not match the images: the preparation container fails, nothing is kept.
        bad = tmp_path / "badlabels"
        bad.mkdir()
        (bad / "labels.csv").write_text("Image ID,Label\nnot-an-image,effusion\n")
        from medperf_git.errors import ContainerFailed

        with pytest.raises(ContainerFailed):
            dataset_flow.create(ws, benchmark=1, name="x", data_path=raw / "images", labels_path=bad,
                                settings=settings())
        assert dataset_flow.list_local(ws) == []


def test_benchmark_run_caches_and_reruns(tutorial):
    """Each call is one command, with its own registry session (which fetches once)."""
    registry, actors, raw = tutorial
    with actors["testdo"].active():
        ds = dataset_flow.create(RegistrySession.load(), benchmark=1, name="d", data_path=raw / "images",
                                 labels_path=raw / "labels", settings=settings()).dataset

        def run(**kwargs):
            return run_benchmark(RegistrySession.load(), benchmark=1, settings=settings(), **kwargs)

        with pytest.raises(UsageError, match="not registered"):
            run(data_uid=ds.uid[:10])
        _register(registry, actors, ds, associate=False)
        with pytest.raises(PolicyDenied, match="not associated"):
            run(data_uid="1")
        _register(registry, actors, ds)
        first = run(data_uid="1")
        assert [(o.model, o.name, o.cached, o.error) for o in first.outcomes] == [
            (2, "b1m2d1", False, None), (4, "b1m4d1", False, None)]
        second = run(data_uid="1")
        assert [o.cached for o in second.outcomes] == [True, True]
        again = run(data_uid="1", no_cache=True, models=[4])
        assert [(o.model, o.name, o.cached) for o in again.outcomes] == [(4, "b1m4d1", False)]
        with pytest.raises(PolicyDenied, match="model 3 is not associated"):
            run(data_uid="1", models=[3])
        from medperf_git.flows.result import show

        result = show(RegistrySession.load(), "b1m4d1")
        assert set(result.metrics) == {"Accuracy", "AUC"}
        assert 0 <= result.metrics["Accuracy"] <= 1
        assert result.state == "local"
        provenance = result.execution.info["provenance"]
        assert provenance["runner"] == "local" and provenance["isolation"] == "none"
        assert provenance["containers"]["model"]["id"] == 4
        assert provenance["containers"]["data_preparation"]["id"] == 1


def test_published_numbers_are_checked_before_publishing():
    """Integer keys become text as in MedPerf's JSON upload; anything but numbers is refused, naming its source."""
    from medperf_git.errors import EXIT_LINT, RecordInvalid

    assert dataset_flow.as_published({0: 3, "per_class": {1: [0.5]}}) == {"0": 3, "per_class": {"1": [0.5]}}
    assert dataset_flow.as_published({0: 3, "0": 4}) == {0: 3, "0": 4}  # a clash stays, and is refused
    origin = dataset_flow.Origin("evaluate", 3, 1)
    dataset_flow.require_published_numbers("result b1m2d1", "metrics", {"AUC": 0.5}, origin)
    hostile = {"AUC": float("nan"), **{f"id{i}": f"MRN-{i}" for i in range(12)}}
    with pytest.raises(RecordInvalid) as refused:
        dataset_flow.require_published_numbers("result b1m2d1", "metrics", hostile, origin)
    assert refused.value.exit_code == EXIT_LINT
    lines = refused.value.message.splitlines()
    assert lines[0] == ("result b1m2d1 cannot be published: the metrics written by the evaluate task of metrics "
                        "container 3 hold more than numbers:")
    assert lines[1] == ("  metrics.AUC: NaN is not a number: a value that cannot be computed is left out, not "
                        "written as NaN")
    assert len(lines) == 12 and lines[-1] == "  ... and 3 more"
    assert "ask the owners of benchmark 1 to fix container 3" in refused.value.hint
