"""Bad input and interruptions in the data owner's workflow: clear errors, nothing lost, re-runnable."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from medperf_git.errors import UsageError
from medperf_git.flows import dataset as dataset_flow
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.session import RegistrySession
from medperf_git.workspace.datasets import LocalDatasets
from tests.support.tutorial_registry import commit_records, make_raw_data, seed_tutorial_registry

pytestmark = pytest.mark.slow


@pytest.fixture
def tutorial(tmp_path):
    registry, actors, _ = seed_tutorial_registry(tmp_path, runner="local", python=sys.executable)
    raw = make_raw_data(tmp_path / "raw", count=30)
    return registry, actors, raw


def _default_sigint() -> None:
    """Run in the child before exec: Ctrl-C means what it means at a terminal.

    A suite started in the background (`nohup sh scripts/test.sh &`) ignores SIGINT, and a child
    inherits an ignored signal; Python then installs no KeyboardInterrupt handler, and the SIGINT
    these tests send would do nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(actor, *args):
    env = {**os.environ, "MEDPERF_GIT_HOME": str(actor.home), "MEDPERF_GIT_NO_PROGRESS": "1"}
    return subprocess.Popen([sys.executable, "-m", "medperf_git", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            preexec_fn=_default_sigint)


def _prepare(ws, raw):
    return dataset_flow.create(ws, benchmark=1, name="d", data_path=raw / "images", labels_path=raw / "labels",
                               settings=RunSettings(runner="local", python=sys.executable)).dataset


def _interrupt_when(proc: subprocess.Popen, marker: str, sig: int) -> str:
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=120)
    return "".join(seen) + err


CREATE = ("dataset", "create", "--name", "d", "--data_path", None, "--labels_path", None, "--benchmark", "1")


def _create_args(raw):
    args = list(CREATE)
    args[5], args[7] = str(raw / "images"), str(raw / "labels")
    return args


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_dataset_create_restarts_cleanly(tutorial, sig):
    registry, actors, raw = tutorial
    do = actors["testdo"]
    output = _interrupt_when(_cli(do, *_create_args(raw)), "(prepare)", sig)
    if sig == signal.SIGINT:
        assert "Interrupted" in output and "Traceback" not in output
    finished = _cli(do, *_create_args(raw))
    out, err = finished.communicate(timeout=300)
    assert finished.returncode == 0, err
    assert "Generated UID:" in out
    with do.active():
        ws = RegistrySession.load()
        datasets = dataset_flow.list_local(ws)
        assert len(datasets) == 1 and datasets[0].ready
        leftovers = [p.name for p in datasets[0].path.parent.iterdir() if p.name.startswith(".staging")]
        assert leftovers == []


def test_interrupted_benchmark_run_keeps_finished_results(tutorial):
    registry, actors, raw = tutorial
    do = actors["testdo"]
    with do.active():
        ws = RegistrySession.load()
        ds = _prepare(ws, raw)
    record = dataset_flow.dataset_record(ds, 1, "testdo")
    commit_records(registry, actors["testadmin"], {
        "datasets/1.yaml": record,
        "associations/1/dataset-1.yaml": {"schema_version": 1, "kind": "association", "benchmark": 1,
                                          "dataset": 1, "initiated_by": "testdo"}}, "Dataset 1, associated")
    output = _interrupt_when(_cli(do, "benchmark", "run", "--benchmark", "1", "--data_uid", "1"),
                             "Running model 4", signal.SIGINT)
    assert "Traceback" not in output
    again = _cli(do, "benchmark", "run", "--benchmark", "1", "--data_uid", "1")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert [line.split()[:4] for line in out.splitlines() if line.strip().startswith(("2 ", "4 "))] == [
        ["2", "b1m2d1", "False", "True"], ["4", "b1m4d1", "False", "False"]]


def test_ambiguous_uid_prefix_is_refused(tmp_path):
    stores = LocalDatasets(tmp_path)
    for uid in ("abcdef111111", "abcdef222222"):
        folder = tmp_path / uid
        folder.mkdir()
        (folder / "dataset.yaml").write_text(f"generated_uid: tree-v1:sha256:{uid}\nregistry_id: null\n")
    with pytest.raises(UsageError, match="matches 2 local datasets"):
        stores.find("abcdef")
    assert stores.find("abcdef2").uid == "abcdef222222"


def test_submit_twice_and_associate_before_submit(tutorial):
    registry, actors, raw = tutorial
    do = actors["testdo"]
    with do.active():
        ws = RegistrySession.load()
        ds = _prepare(ws, raw)
        with pytest.raises(UsageError, match="not registered yet"):
            dataset_flow.associate(ws, benchmark=1, data_uid=ds.uid[:8], confirm=lambda r: True)
        outcome = dataset_flow.submit(ws, ds.uid[:8], confirm=lambda r: True)
        assert outcome.merged and outcome.record["id"] == 1
        with pytest.raises(UsageError, match="already registered as dataset 1"):
            dataset_flow.submit(ws, ds.uid[:8], confirm=lambda r: True)
        cancelled = pytest.raises(dataset_flow.Cancelled)
        with cancelled:
            dataset_flow.associate(ws, benchmark=1, data_uid="1", confirm=lambda r: False)


def test_unreachable_registry_keeps_local_work(tutorial):
    registry, actors, raw = tutorial
    do = actors["testdo"]
    with do.active():
        ws = RegistrySession.load()
        ds = _prepare(ws, raw)
        moved = registry.with_name("moved.git")
        shutil.move(registry, moved)
        from medperf_git.errors import RemoteUnavailable

        with pytest.raises(RemoteUnavailable) as failure:
            dataset_flow.submit(ws, ds.uid[:8], confirm=lambda r: True)
        assert "run the same command again" in (failure.value.hint or "")
        assert ds.path.exists() and dataset_flow.list_local(RegistrySession.load()) != []
        shutil.move(moved, registry)
        outcome = dataset_flow.submit(RegistrySession.load(), ds.uid[:8], confirm=lambda r: True)
        assert outcome.merged and outcome.record["id"] == 1
