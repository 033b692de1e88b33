"""The data owner's workflow with the sandbox runner: `dataset create` on many images, and a
`benchmark run` whose models are all cached.

    python benchmarks/bench_data_owner.py [--images 5000] [--runs 5] [--work DIR]

Targets: the tool's own share of `dataset create` (everything but the runner's and the
containers' time) at most 10% of the total; `benchmark run` with every model cached at most 1 s
(a whole process, as a user sees it). The registry is the tutorial's, seeded directly; the
containers run with this interpreter (which has numpy, PyYAML and Pillow) inside bubblewrap.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medperf_git.flows import dataset as dataset_flow  # noqa: E402
from medperf_git.flows._containers import ContainerRunner, RunSettings  # noqa: E402
from medperf_git.flows.execution import run_benchmark  # noqa: E402
from medperf_git.workspace import Workspace  # noqa: E402
from tests.support.tutorial_registry import commit_records, make_raw_data, seed_tutorial_registry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--runner", default="sandbox")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-data-owner-"))
    os.environ["MEDPERF_GIT_NO_PROGRESS"] = "1"
    registry, actors, _ = seed_tutorial_registry(work, runner=args.runner, python=sys.executable)
    started = time.perf_counter()
    raw = make_raw_data(work / "raw", count=args.images, seed=11)
    print(f"mock data: {args.images} images in {time.perf_counter() - started:.1f} s")

    container_time = []
    original = ContainerRunner.run

    def timed(self, *a, **kw):
        result = original(self, *a, **kw)
        container_time.append(result.duration)
        return result

    ContainerRunner.run = timed
    do = actors["testdo"]
    with do.active():
        ws = Workspace.load()
        settings = RunSettings(runner=args.runner, python=sys.executable)
        started = time.perf_counter()
        ds = dataset_flow.create(ws, benchmark=1, name="bench", data_path=raw / "images",
                                 labels_path=raw / "labels", settings=settings).dataset
        total = time.perf_counter() - started
        inside = sum(container_time)
        print(f"dataset create: {total:.2f} s in all; runner and containers {inside:.2f} s; "
              f"the tool's own {total - inside:.2f} s = {100 * (total - inside) / total:.1f}% (target <= 10%)")
        commit_records(registry, actors["testadmin"], {
            "datasets/1.yaml": dataset_flow.dataset_record(ds, 1, "testdo"),
            "associations/1/dataset-1.yaml": {"schema_version": 1, "kind": "association", "benchmark": 1,
                                              "dataset": 1, "initiated_by": "testdo"}}, "Dataset 1, associated")
        run_benchmark(ws, benchmark=1, data_uid="1", settings=settings)
    env = {**os.environ, "MEDPERF_GIT_HOME": str(do.home)}
    exe = str(Path(sys.executable).with_name("medperf-git"))
    times = []
    for _ in range(args.runs + 1):
        started = time.perf_counter()
        subprocess.run([exe, "benchmark", "run", "--benchmark", "1", "--data_uid", "1"], env=env, check=True,
                       capture_output=True)
        times.append(time.perf_counter() - started)
    times = times[1:]
    print(f"benchmark run, every model cached (whole process, {args.runs} runs): median "
          f"{statistics.median(times):.3f} s, best {min(times):.3f} s (target <= 1 s)")


if __name__ == "__main__":
    main()
