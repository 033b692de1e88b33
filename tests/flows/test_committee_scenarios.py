"""MedPerf's integration scenarios, adapted: committees and model owners with several people on a
real bare registry. Every record here is made by the commands' flows, from an empty registry."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from medperf_git.errors import HashMismatch, PolicyDenied, UsageError
from medperf_git.flows import (
    association,
    benchmark as benchmark_flow,
    container as container_flow,
    dataset as dataset_flow,
    result as result_flow,
    review,
)
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.container import ArchiveInput
from medperf_git.flows.execution import run_benchmark
from medperf_git.flows.session import RegistrySession
from medperf_git.forges.base import SubmissionNotOpen
from medperf_git.runners.archives import make_archive
from tests.support.actors import seed_registry
from tests.support.tutorial_registry import EXAMPLES, build_assets, make_raw_data

pytestmark = pytest.mark.slow
YES = lambda record: True  # noqa: E731 - answers every confirmation
PEOPLE = ["testadmin", "testbo", "testmo", "testdo", "testdo2"]

BUG_MODEL = textwrap.dedent('''\
    """Passes on the demo data (10 cases) but crashes on larger data after predicting all but one case."""
    import json, os, pathlib, sys
    data = pathlib.Path(os.environ["MP_VOL_DATA_PATH"])
    out = pathlib.Path(os.environ["MP_VOL_OUTPUT_PATH"])
    ids = sorted(p.stem for p in data.glob("*.npy"))
    crash = len(ids) > 10
    keep = ids[:-1] if crash else ids
    (out / "predictions.json").write_text(json.dumps({i: [0.5] * 14 for i in keep}))
    if crash:
        print("model crashed on case", ids[-1])
        sys.exit(1)
''')


def settings():
    return RunSettings(runner="local", python=sys.executable)


def as_(actor):
    class _Ctx:
        def __enter__(self):
            self.cm = actor.active()
            self.cm.__enter__()
            return RegistrySession.load()

        def __exit__(self, *exc):
            return self.cm.__exit__(*exc)

    return _Ctx()


def _submit_container(actor, assets, name, folder, extra=True, config=None, source=None):
    with as_(actor) as ws:
        archive = assets / f"{folder}_additional_files.tar.gz"
        return container_flow.submit(
            ws, name=name, config_path=config or EXAMPLES / folder / "container_config.yaml",
            parameters_path=EXAMPLES / folder / "parameters.yaml" if (EXAMPLES / folder).exists() else None,
            source=ArchiveInput(str(source or assets / f"{folder}.tar.gz")),
            additional_files=ArchiveInput(str(archive)) if extra and archive.exists() else None, confirm=YES)


def _bug_model(tmp_path: Path, assets: Path) -> tuple[Path, Path]:
    folder = tmp_path / "model_bug"
    (folder / "project").mkdir(parents=True)
    (folder / "project" / "infer.py").write_text(BUG_MODEL)
    config = yaml.safe_load((EXAMPLES / "model_reference" / "container_config.yaml").read_text())
    config["local"]["entrypoint"] = ["python3", "/project/infer.py"]
    config["local"].pop("requirements", None)
    (folder / "container_config.yaml").write_text(yaml.safe_dump(config))
    make_archive(folder, assets / "model_bug.tar.gz")
    return folder / "container_config.yaml", assets / "model_bug.tar.gz"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tutorial registry rebuilt from an empty registry with the commands' flows alone."""
    root = tmp_path_factory.mktemp("world")
    mp = pytest.MonkeyPatch()
    registry, actors = seed_registry(root, PEOPLE, ["testadmin"], runner="local", python=sys.executable)
    assets = root / "assets"
    build_assets(assets)
    bo, mo, admin = actors["testbo"], actors["testmo"], actors["testadmin"]
    ids = [_submit_container(bo, assets, "chestxray-prep", "data_preparator").record["id"],
           _submit_container(bo, assets, "chestxray-reference-model", "model_reference").record["id"],
           _submit_container(bo, assets, "chestxray-metrics", "metrics").record["id"],
           _submit_container(mo, assets, "chestxray-second-model", "model_second").record["id"]]
    assert ids == [1, 2, 3, 4]
    config, source = _bug_model(root, assets)
    assert _submit_container(mo, assets, "buggy-model", "model_bug", extra=False, config=config,
                             source=source).record["id"] == 5
    with as_(bo) as ws:
        opened = benchmark_flow.submit(ws, name="chestxray", description="tutorial", docs_url=None,
                                       demo=ArchiveInput(str(assets / "demo_data.tar.gz")), data_preparation=1,
                                       reference_model=2, metrics=3, settings=settings(), confirm=YES)
    assert not opened.merged and opened.waiting_for == ["testadmin"]
    with as_(admin) as ws:
        assert review.approve(ws, opened.number).merged
    with as_(mo) as ws:
        requested = association.associate_model(ws, benchmark=1, model=4, confirm=YES, settings=settings())
    assert not requested.merged and requested.waiting_for == ["testbo"]
    with as_(bo) as ws:
        assert review.approve(ws, requested.number).merged
    yield registry, actors, assets, root
    mp.undo()


def _prepare_and_submit(actor, root, name, count=20, seed=3):
    raw = make_raw_data(root / f"raw-{name}", count=count, seed=seed)
    with as_(actor) as ws:
        ds = dataset_flow.create(ws, benchmark=1, name=name, data_path=raw / "images", labels_path=raw / "labels",
                                 settings=settings()).dataset
        return dataset_flow.submit(ws, ds.uid[:10], confirm=YES).record["id"]


def test_rebuilt_registry_has_the_tutorial_records(world):
    registry, actors, _, _ = world
    from medperf_git.registry.git import GitRepo

    repo = GitRepo(registry)
    files = {e.path for e in repo.ls_tree("refs/heads/main")}
    assert {"containers/1.yaml", "containers/4.yaml", "benchmarks/1.yaml", "associations/1/model-4.yaml"} <= files
    bench = yaml.safe_load(repo.read_path("refs/heads/main", "benchmarks/1.yaml"))
    assert bench["demo_dataset"]["generated_uid"].startswith("tree-v1:sha256:")
    assert set(bench["compatibility_test"]["results"]) == {"Accuracy", "AUC"}


def test_allowlist_and_always_policies(world):
    registry, actors, _, root = world
    bo, do, do2 = actors["testbo"], actors["testdo"], actors["testdo2"]
    allowlist = root / "allow.txt"
    allowlist.write_text("# by email, as MedPerf's allowlists are\ntestdo@example.org\n")
    with as_(bo) as ws:
        assert benchmark_flow.update_policy(ws, benchmark=1, datasets="allowlist", models=None,
                                            dataset_allowlist=allowlist, confirm=YES).merged
    d1 = _prepare_and_submit(do, root, "listed")
    d2 = _prepare_and_submit(do2, root, "unlisted", seed=4)
    with as_(do) as ws:
        assert dataset_flow.associate(ws, benchmark=1, data_uid=str(d1), confirm=YES, settings=settings()).merged
    with as_(do2) as ws:
        pending = dataset_flow.associate(ws, benchmark=1, data_uid=str(d2), confirm=YES, settings=settings())
    assert not pending.merged and pending.waiting_for == ["testbo"]
    with as_(bo) as ws:
        rows = {(r.component_id, r.status) for r in association.list_associations(ws, component="dataset")}
        assert {(d1, "approved"), (d2, "pending")} <= rows
        # Approving an association that is already approved fails clearly.
        with pytest.raises(UsageError, match="already approved"):
            association.find_request(ws, benchmark=1, component="dataset", cid=d1)
        assert benchmark_flow.update_policy(ws, benchmark=1, datasets="always", models=None, confirm=YES).merged
    # The pending request was made under the old policy; under `always` it needs no approval, so the
    # policy change's merge carries it along (a merge train) and it is approved on main at once.
    with as_(bo) as ws:
        rows = {(r.component_id, r.status) for r in association.list_associations(ws, component="dataset")}
        assert (d2, "approved") in rows
        with pytest.raises(SubmissionNotOpen, match="already merged"):
            review.approve(ws, pending.number)


def test_committee_initiated_model_association_waits_for_the_model_owner(world):
    registry, actors, _, _ = world
    bo, mo = actors["testbo"], actors["testmo"]
    with as_(bo) as ws:
        outcome = association.associate_model(ws, benchmark=1, model=5, confirm=YES, settings=settings())
        assert not outcome.merged and outcome.waiting_for == ["testmo"]
        with pytest.raises(PolicyDenied):
            review.approve(ws, outcome.number)
    with as_(mo) as ws:
        assert review.approve(ws, outcome.number).merged


def test_model_failing_on_real_data_and_partial_results(world):
    registry, actors, _, root = world
    do = actors["testdo"]
    with as_(do) as ws:
        summary = run_benchmark(ws, benchmark=1, data_uid="1", models=[5], settings=settings())
        assert summary.outcomes[0].error and "crashed" in summary.outcomes[0].error or summary.failed
        partial = run_benchmark(ws, benchmark=1, data_uid="1", models=[5], ignore_model_errors=True,
                                settings=settings())
        assert partial.outcomes[0].partial and not partial.outcomes[0].error
        assert result_flow.show(ws, partial.outcomes[0].name).execution.partial


def test_priority_orders_benchmark_run(world):
    registry, actors, _, _ = world
    bo, do = actors["testbo"], actors["testdo"]
    with as_(do) as ws:
        order = [o.model for o in run_benchmark(ws, benchmark=1, data_uid="1", ignore_model_errors=True,
                                                 settings=settings()).outcomes]
        assert order == [2, 4, 5]  # the reference model first, then equal priorities by id
        with pytest.raises(PolicyDenied, match="owners set priorities"):
            association.set_priority(ws, benchmark=1, model=5, priority=10, confirm=YES)
    with as_(bo) as ws:
        assert association.set_priority(ws, benchmark=1, model=5, priority=10, confirm=YES).merged
    with as_(do) as ws:
        order = [o.model for o in run_benchmark(ws, benchmark=1, data_uid="1", ignore_model_errors=True,
                                                 settings=settings()).outcomes]
        assert order == [2, 5, 4]


def test_result_submitted_once_then_rerun_as_dash_two(world, invoke):
    registry, actors, _, _ = world
    do = actors["testdo"]
    with as_(do) as ws:
        run_benchmark(ws, benchmark=1, data_uid="1", models=[4], settings=settings())
        assert result_flow.submit(ws, "b1m4d1", confirm=YES).merged
        with pytest.raises(UsageError, match="already submitted"):
            result_flow.submit(ws, "b1m4d1", confirm=YES)
        cached = run_benchmark(ws, benchmark=1, data_uid="1", models=[4], no_cache=True, settings=settings())
        assert cached.outcomes[0].cached
        rerun = run_benchmark(ws, benchmark=1, data_uid="1", models=[4], rerun_finalized=True, settings=settings())
        assert rerun.outcomes[0].name == "b1m4d1-2"
        outcome = result_flow.submit(ws, "b1m4d1-2", confirm=YES)
        assert outcome.merged and outcome.path == "results/1/b1m4d1-2.yaml"
    # `result submit --all` publishes every local result not submitted yet (here the reference model's).
    with do.active():
        unsubmitted = [r.execution.name for r in result_flow.list_local(RegistrySession.load(), unsubmitted=True)]
        assert "b1m2d1" in unsubmitted
        result = invoke("result", "submit", "--all", "-y")
        assert result.exit_code == 0, result.output
        assert "Result b1m2d1: submission" in result.stderr
        assert result_flow.list_local(RegistrySession.load(), unsubmitted=True) == []


def test_tampered_additional_files_fail_the_next_run(world):
    registry, actors, assets, _ = world
    do = actors["testdo"]
    with as_(do) as ws:
        weights = list((ws.ws.cache_dir / "extracted").glob("*/weights.npz"))
        assert weights, "no extracted weights to tamper with"
        originals = {w: w.read_bytes() for w in weights}
        for w in weights:
            w.write_bytes(originals[w] + b"tampered")
        try:
            summary = run_benchmark(ws, benchmark=1, data_uid="1", models=[4], rerun_finalized=True,
                                    settings=settings())
            error = summary.outcomes[0].error or ""
            assert "hash mismatch" in error and "expected tree-v1:sha256:" in error and "found tree-v1:sha256:" in error
        finally:
            for w, data in originals.items():
                w.write_bytes(data)


def test_mismatched_preparation_and_unassociated_models_are_refused(world):
    registry, actors, assets, root = world
    do = actors["testdo"]
    with as_(do) as ws, pytest.raises(PolicyDenied, match="model 3 is not associated"):
        run_benchmark(ws, benchmark=1, data_uid="1", models=[3], settings=settings())


def test_revoked_model_no_longer_runs(world):
    registry, actors, _, _ = world
    bo, do = actors["testbo"], actors["testdo"]
    with as_(bo) as ws:
        assert association.revoke(ws, benchmark=1, component="model", cid=5, reason="crashes on real data",
                                  confirm=YES).merged
    with as_(do) as ws:
        with pytest.raises(PolicyDenied, match="model 5 is not associated"):
            run_benchmark(ws, benchmark=1, data_uid="1", models=[5], settings=settings())
        rows = association.list_associations(ws, component="model", everyone=True)
        assert ("revoked", "crashes on real data") in {(r.status, r.reason) for r in rows if r.component_id == 5}
        # Its results stay, flagged.
        flagged = [r for r in result_flow.list_local(ws, model=5)]
        assert flagged and all(r.flags == ["model 5's association was revoked: crashes on real data"]
                               for r in flagged)


def test_bad_benchmark_submissions_publish_nothing(world, tmp_path):
    registry, actors, assets, _ = world
    bo = actors["testbo"]
    with as_(bo) as ws:
        with pytest.raises(UsageError, match="--metrics 2: container 'chestxray-reference-model' has no evaluate"):
            benchmark_flow.submit(ws, name="other", description="x", docs_url=None, demo=None, data_preparation=1,
                                  reference_model=2, metrics=2, skip_compatibility_tests=True, confirm=YES)
        from medperf_git.errors import RecordNotFound

        with pytest.raises(RecordNotFound, match="container 99 does not exist"):
            benchmark_flow.submit(ws, name="other", description="x", docs_url=None, demo=None, data_preparation=99,
                                  reference_model=2, metrics=3, skip_compatibility_tests=True, confirm=YES)
        with pytest.raises(UsageError, match="name 'Chestxray' is taken"):
            benchmark_flow.submit(ws, name="Chestxray", description="x", docs_url=None, demo=None,
                                  data_preparation=1, reference_model=2, metrics=3, skip_compatibility_tests=True,
                                  confirm=YES)
        no_paths = tmp_path / "demo"
        (no_paths / "images").mkdir(parents=True)
        (no_paths / "images" / "a.png").write_bytes(b"x")
        make_archive(no_paths, tmp_path / "demo.tar.gz")
        with pytest.raises(UsageError, match="no paths.yaml"):
            benchmark_flow.submit(ws, name="other", description="x", docs_url=None,
                                  demo=ArchiveInput(str(tmp_path / "demo.tar.gz")), data_preparation=1,
                                  reference_model=2, metrics=3, settings=settings(), confirm=YES)
        (no_paths / "paths.yaml").write_text("data_path: ../../etc\nlabels_path: images\n")
        make_archive(no_paths, tmp_path / "demo2.tar.gz")
        from medperf_git.errors import UnsafeArchive

        with pytest.raises(UnsafeArchive, match="points outside the archive"):
            benchmark_flow.submit(ws, name="other", description="x", docs_url=None,
                                  demo=ArchiveInput(str(tmp_path / "demo2.tar.gz")), data_preparation=1,
                                  reference_model=2, metrics=3, settings=settings(), confirm=YES)
    with as_(actors["testmo"]) as ws:
        with pytest.raises(UsageError, match="name 'chestxray_prep' is taken"):
            _submit_container(actors["testmo"], assets, "chestxray_prep", "data_preparator")
        bad_hash = "sha256:" + "0" * 64
        with pytest.raises(HashMismatch):
            container_flow.submit(ws, name="x", config_path=EXAMPLES / "metrics" / "container_config.yaml",
                                  source=ArchiveInput(str(assets / "metrics.tar.gz"), bad_hash), confirm=YES)
        # An all-zero image digest is a placeholder, refused even where no engine can check the pin.
        with pytest.raises(UsageError, match="is a placeholder, not a digest"):
            container_flow.submit(ws, name="y", config_path=EXAMPLES / "metrics" / "container_config.yaml",
                                  image="registry.invalid/metrics:1", image_hash=bad_hash, confirm=YES)


def test_dataset_prepared_for_another_preparation_cannot_associate(world):
    registry, actors, assets, _ = world
    bo, admin, do = actors["testbo"], actors["testadmin"], actors["testdo"]
    prep = _submit_container(bo, assets, "chestxray-prep-v2", "data_preparator").record["id"]
    with as_(bo) as ws:
        opened = benchmark_flow.submit(ws, name="chestxray-v2", description="second", docs_url=None, demo=None,
                                       data_preparation=prep, reference_model=2, metrics=3,
                                       skip_compatibility_tests=True, confirm=YES)
    with as_(admin) as ws:
        assert review.approve(ws, opened.number).merged
    second = opened.record["id"]
    expected = f"prepared with container 1, but benchmark {second} prepares data with container {prep}"
    with as_(do) as ws, pytest.raises(PolicyDenied, match=expected):
        dataset_flow.associate(ws, benchmark=second, data_uid="1", confirm=YES, settings=settings())


def test_compatibility_tests_with_local_configs_are_cached(world, invoke):
    registry, actors, _, _ = world
    mo = actors["testmo"]
    from medperf_git.flows.compat import get_test, list_tests, run_test

    config = str(EXAMPLES / "model_second" / "container_config.yaml")
    with as_(mo) as ws:
        first = run_test(ws, benchmark=1, model=config, settings=settings())
        assert set(first.results) == {"Accuracy", "AUC"} and not first.cached
        assert first.data["inputs"]["model"] == config
        again = run_test(ws, benchmark=1, model=config, settings=settings())
        assert again.cached and again.key == first.key and again.results == first.results
        other = run_test(ws, benchmark=1, settings=settings())  # the reference model: another test
        assert other.key != first.key
        assert {r.key for r in list_tests(ws)} >= {first.key, other.key}
        assert get_test(ws, first.key[:8]).results == first.results
        listed = invoke("test", "ls", "--json")
        assert listed.exit_code == 0 and first.key in listed.stdout
        viewed = invoke("test", "view", first.key[:8])
        assert viewed.exit_code == 0 and "Accuracy" in viewed.stdout
        missing = invoke("test", "view", "zzzzzz")
        assert missing.exit_code == 1 and "test ls" in missing.stderr
