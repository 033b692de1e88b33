"""Models side by side, and what Slurm adds per task: `benchmark run --jobs N` against one model after another,
and the same tasks as jobs on a one-node cluster.

    python benchmarks/bench_parallel.py [--models 8] [--jobs 2] [--images 12] [--runs 3] [--slurm-runs 5]

Targets: 8 models on the tutorial data with ``--jobs 2`` at least 1.7x faster than sequential on a
2-core machine; Slurm's overhead per task within 1.5 s on the one-node cluster (measured as the
difference between the same one-model run under the slurm and the sandbox runners, divided by its
two tasks). The registry is the tutorial's with copies of the reference model as more models; the
containers run with this interpreter inside bubblewrap. The Slurm part needs root and Debian's
slurm-wlm and munge; it starts its own cluster (tests/slurm/cluster.py) and is skipped otherwise.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medperf_git.flows._containers import RunSettings  # noqa: E402
from medperf_git.flows.execution import run_benchmark  # noqa: E402
from medperf_git.flows.session import RegistrySession  # noqa: E402
from tests.parallel.test_parallel_runs import prepared_tutorial  # noqa: E402
from tests.slurm.cluster import start_cluster, why_not  # noqa: E402

CPU: list[float] = []  # CPU seconds of each timed run's tasks (its child processes), beside its wall clock


def timed_run(settings: RunSettings, jobs: int, models: list[int] | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    summary = run_benchmark(RegistrySession.load(), benchmark=1, data_uid="1", no_cache=True, settings=settings,
                            jobs=jobs, models=models)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    failed = [o for o in summary.outcomes if o.error]
    if failed:
        raise SystemExit(f"model {failed[0].model} failed: {failed[0].error}")
    return elapsed


def machine_speedup(jobs: int, count: int = 8) -> float:
    """What this machine gives right now: ``count`` CPU-bound processes one after another, then ``jobs`` at a time.

    On an idle machine with ``jobs`` cores this is about ``jobs``; on a shared one it says how much of a second core
    there was to win, which bounds what ``--jobs`` can show.
    """
    import concurrent.futures
    import subprocess

    argv = [sys.executable, "-c", "s = 0\nfor i in range(3_000_000): s += i"]
    started = time.perf_counter()
    for _ in range(count):
        subprocess.run(argv, check=True)
    sequential = time.perf_counter() - started
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda _: subprocess.run(argv, check=True), range(count)))
    return sequential / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--images", type=int, default=12, help="cases of mock tutorial data (the tutorial has 12)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slurm-runs", type=int, default=5)
    parser.add_argument("--runner", default="sandbox")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    os.environ["MEDPERF_GIT_NO_PROGRESS"] = "1"
    os.environ["HOME"] = str(work / "home")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    actors = prepared_tutorial(work, args.runner, models=range(5, 5 + args.models - 2), broken=set())
    settings = RunSettings(runner=args.runner, python=sys.executable)
    with actors["testdo"].active():
        timed_run(settings, 1)  # warm-up: caches, page cache
        sequential, parallel, cores = [], [], []
        for _ in range(args.runs):
            sequential.append(timed_run(settings, 1))
            cores.append(CPU[-1] / sequential[-1])
            parallel.append(timed_run(settings, args.jobs))
            cores.append(CPU[-1] / parallel[-1])
        seq, par = statistics.median(sequential), statistics.median(parallel)
        pairs = ", ".join(f"{s:.2f}/{p:.2f}" for s, p in zip(sequential, parallel, strict=True))
        print(f"{args.models} models, {args.runner} runner: sequential {seq:.2f} s, --jobs {args.jobs} {par:.2f} s "
              f"(median of {args.runs}; runs {pairs}) -> {seq / par:.2f}x (target >= 1.7x)")
        if args.runner == "local":  # under bubblewrap the task is in its own pid namespace: its CPU time is lost
            busy = [", ".join(f"{c:.2f}" for c in cores[i::2]) for i in (0, 1)]
            print(f"cores the tasks kept busy (CPU s / wall s), sequential: {busy[0]}; --jobs {args.jobs}: {busy[1]}")
        print(f"load average after the parallel runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"the machine itself, plain CPU-bound processes, {args.jobs} at a time: "
              f"{machine_speedup(args.jobs):.2f}x")
        reason = why_not() or ("--slurm-runs 0" if not args.slurm_runs else None)
        if reason:
            print(f"Slurm overhead: skipped ({reason})")
            return
        cluster = start_cluster(work / "slurm")
        try:
            os.environ.update(cluster.env)
            slurm = RunSettings(runner="slurm", python=sys.executable)
            started = time.perf_counter()
            timed_run(slurm, 1, [2])  # the first includes the probe job that checks the shared filesystem
            first = time.perf_counter() - started
            local, on_slurm = [], []
            for _ in range(args.slurm_runs):
                local.append(timed_run(settings, 1, [2]))
                on_slurm.append(timed_run(slurm, 1, [2]))
            base, via = statistics.median(local), statistics.median(on_slurm)
            print(f"one model (2 tasks): {args.runner} {base:.2f} s, slurm {via:.2f} s (median of {args.slurm_runs}); "
                  f"overhead per task {(via - base) / 2:.2f} s (target <= 1.5 s); the first slurm run, with the "
                  f"shared-filesystem probe job, {first:.2f} s")
        finally:
            cluster.stop()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
