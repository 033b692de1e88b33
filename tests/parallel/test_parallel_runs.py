"""`benchmark run --jobs N`: models side by side give the rows, results and summary of one after another,
and a failing model among them stops none of the others."""

from __future__ import annotations

import sys

import pytest

from medperf_git.flows import dataset as dataset_flow
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.session import RegistrySession
from tests.flows.test_data_owner_flows import _register
from tests.runners.runner_helpers import sandbox_reason
from tests.support.tutorial_registry import commit_records, container_record, make_raw_data, seed_tutorial_registry

pytestmark = [pytest.mark.slow]
BROKEN = ["python3", "-c", "import sys; print('this model is broken'); sys.exit(3)"]
RUNNERS = [pytest.param("local", marks=pytest.mark.unprivileged, id="local"),
           pytest.param("sandbox", marks=[pytest.mark.bwrap, pytest.mark.unprivileged,
                                          pytest.mark.skipif(sandbox_reason() is not None,
                                                             reason=f"sandbox: {sandbox_reason()}")], id="sandbox")]


def add_models(registry, actors, assets, ids: range, broken: set[int] = frozenset()) -> None:
    """More models for benchmark 1: copies of the reference model (a broken entrypoint for ``broken``), associated."""
    records = {}
    for cid in ids:
        record = {**container_record(2, assets), "id": cid, "name": f"chestxray-model-{cid}", "owner": "testmo"}
        if cid in broken:
            record["config"] = {**record["config"], "local": {**record["config"]["local"], "entrypoint": BROKEN}}
        records[f"containers/{cid}.yaml"] = record
        records[f"associations/1/model-{cid}.yaml"] = {"schema_version": 1, "kind": "association", "benchmark": 1,
                                                       "model": cid, "initiated_by": "testmo"}
    commit_records(registry, actors["testadmin"], records, f"Models {ids.start}-{ids.stop - 1}")


def prepared_tutorial(root, runner: str, models: range = range(5, 6), broken: set[int] = frozenset({5})):
    """The tutorial registry with more models, the data owner's dataset prepared and registered."""
    registry, actors, assets = seed_tutorial_registry(root)
    add_models(registry, actors, assets, models, broken)
    raw = make_raw_data(root / "raw")
    with actors["testdo"].active():
        ds = dataset_flow.create(RegistrySession.load(), benchmark=1, name="d", data_path=raw / "images",
                                 labels_path=raw / "labels",
                                 settings=RunSettings(runner=runner, python=sys.executable)).dataset
    _register(registry, actors, ds)
    return actors


def results_of(actors, names) -> dict[str, bytes]:
    with actors["testdo"].active():
        executions = RegistrySession.load().executions
        return {name: executions.require(name).results_file.read_bytes() for name in names if name}


@pytest.mark.parametrize("engine", RUNNERS)
def test_jobs_2_gives_the_sequential_table_and_results_with_a_failing_model(engine, tmp_path, invoke):
    actors = prepared_tutorial(tmp_path, engine)
    args = ["benchmark", "run", "-b", "1", "-d", "1", "--runner", engine, "--python", sys.executable, "--no-cache"]
    with actors["testdo"].active():
        sequential = invoke(*args)
        before = results_of(actors, ["b1m2d1", "b1m4d1"])
        parallel = invoke(*args, "--jobs", "2")
        after = results_of(actors, ["b1m2d1", "b1m4d1"])
    assert sequential.exit_code == parallel.exit_code == 0, parallel.output
    # The summary (table and counts) is the same, byte for byte; model 5's error is a row, not the end.
    assert parallel.stdout == sequential.stdout
    rows = sequential.stdout.splitlines()[2:5]
    assert [row.split()[:2] for row in rows[:2]] == [["2", "b1m2d1"], ["4", "b1m4d1"]]
    assert rows[2].split()[0] == "5" and "task 'infer' failed" in rows[2] and "1 failed" in sequential.stdout
    assert after == before and len(after) == 2
    # Each model's lines say which model they come from when they run side by side.
    assert "[model 5] this model is broken" in parallel.stderr
    assert "[model " not in sequential.stderr


def test_test_run_jobs_2_tests_several_models_as_one_by_one(tmp_path, invoke):
    actors = prepared_tutorial(tmp_path, "local")
    args = ["test", "run", "-b", "1", "-d", "1", "-m", "2", "-m", "4", "-m", "5", "--runner", "local", "--python",
            sys.executable, "--no-cache"]
    with actors["testdo"].active():
        sequential = invoke(*args)
        parallel = invoke(*args, "--jobs", "2")
        single = invoke("test", "run", "-b", "1", "-d", "1", "-m", "4", "--runner", "local", "--python",
                        sys.executable)
    assert sequential.exit_code == parallel.exit_code == 5, parallel.output
    assert parallel.stdout == sequential.stdout
    assert [line for line in sequential.stdout.splitlines() if line.startswith("- model:")] == [
        "- model: 2", "- model: 4", "- model: 5"]
    assert "  error: " in sequential.stdout and "task ''infer'' failed" in sequential.stdout
    assert "1 of 3 compatibility tests failed (model 5)" in parallel.stderr
    # One model is the command as it was: its report (reused from the run above) and exit 0.
    assert single.exit_code == 0 and "reused" in single.stderr and "Accuracy" in single.stdout


def test_ctrl_c_stops_every_task_running_side_by_side(tmp_path):
    """Ctrl-C reaches only the main thread; each thread's task is then killed as if interrupted itself."""
    import os
    import signal
    import threading
    import time

    from medperf_git.flows._parallel import in_parallel
    from medperf_git.runners._process import INTERRUPT, LogSink, run_process

    def task(n: int) -> int:
        sink = LogSink(tmp_path / f"{n}.log")
        try:
            return run_process(["sleep", "60"], env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path, timeout=None,
                               sink=sink).exit_code
        finally:
            sink.close()

    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()  # what Ctrl-C sends
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        in_parallel(task, [1, 2, 3], 2)
    assert time.monotonic() - started < 10  # not the 60 s the tasks would take
    assert not INTERRUPT.is_set()
