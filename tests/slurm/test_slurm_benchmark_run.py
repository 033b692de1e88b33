"""The tutorial's `benchmark run` through the slurm runner: the same results as the sandbox runner's, byte for byte."""

from __future__ import annotations

import sys

import pytest

from medperf_git.flows.session import RegistrySession
from tests.parallel.test_parallel_runs import prepared_tutorial, results_of
from tests.runners.runner_helpers import sandbox_reason

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sandbox_reason() is not None, reason=f"sandbox: {sandbox_reason()}")]


def test_tutorial_benchmark_run_through_slurm_equals_the_sandbox(slurm, tmp_path, invoke):
    actors = prepared_tutorial(tmp_path, "sandbox", models=range(5, 6), broken=set())
    args = ["benchmark", "run", "--benchmark", "1", "--data_uid", "1", "--python", sys.executable, "--no-cache"]
    names = ["b1m2d1", "b1m4d1", "b1m5d1"]
    with actors["testdo"].active():
        sandbox = invoke(*args, "--runner", "sandbox")
        expected = results_of(actors, names)
        on_slurm = invoke(*args, "--runner", "slurm", "--jobs", "2")
        got = results_of(actors, names)
        session = RegistrySession.load()
        execution = session.executions.require("b1m4d1")
        log = (session.logs_dir / "executions" / "b1m4d1" / "infer.log").read_text()
    assert sandbox.exit_code == on_slurm.exit_code == 0, on_slurm.output
    assert on_slurm.stdout == sandbox.stdout and "3 ran successfully" in on_slurm.stdout
    assert got == expected and len(got) == 3
    provenance = execution.info["provenance"]
    assert (provenance["runner"], provenance["isolation"]) == ("sandbox", "sandbox")
    assert "slurm" in provenance["runner_version"]
    assert "Slurm job " in log  # the task's log names its job
