"""Whole-process speed of the CLI: ``medperf-git --help`` and ``benchmark ls`` with a warm index.

    python benchmarks/bench_cli.py [--records 100000] [--work DIR] [--runs 20]

Each figure is the wall-clock time of a fresh process (as a user sees it), measured like
hyperfine: warm-up runs, then ``--runs`` timed runs; the median and the best are printed.
``benchmark ls`` runs against a bare registry of ``--records`` generated records, through a
profile in a temporary ``MEDPERF_GIT_HOME``; its index is built once before timing.
Targets: 0.3 s for each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_index import prepare  # noqa: E402

EXE = str(Path(sys.executable).with_name("medperf-git"))


def timed(argv: list[str], env: dict[str, str], runs: int, warmup: int = 2) -> list[float]:
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr}")
        if i >= warmup:
            times.append(elapsed)
    return times


def report(label: str, times: list[float]) -> None:
    print(f"{label}: median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms, "
          f"worst {max(times) * 1000:.0f} ms ({len(times)} runs)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "medperf-git-bench")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the generated registry for later runs")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    _, bare = prepare(args.work, args.records)
    home = Path(tempfile.mkdtemp(prefix="home-", dir=args.work))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MEDPERF_GIT_"))}
    env.update(MEDPERF_GIT_HOME=str(home), MEDPERF_GIT_NO_PROGRESS="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode; do not compile every run
    subprocess.run([EXE, "profile", "set", "--registry", str(bare), "--handle", "user1"], env=env, check=True,
                   capture_output=True)

    report("medperf-git --help", timed([EXE, "--help"], env, args.runs))
    start = time.perf_counter()
    subprocess.run([EXE, "benchmark", "ls"], env=env, check=True, capture_output=True)
    print(f"first benchmark ls (clone + cold index of {args.records:,} records): "
          f"{time.perf_counter() - start:.1f} s")
    listed = subprocess.run([EXE, "benchmark", "ls"], env=env, check=True, capture_output=True, text=True)
    rows = len(listed.stdout.strip().splitlines()) - 2
    report(f"benchmark ls, warm index ({rows} benchmarks listed)", timed([EXE, "benchmark", "ls"], env, args.runs))
    report("benchmark ls --offline, warm index", timed([EXE, "--offline", "benchmark", "ls"], env, args.runs))
    report("benchmark ls --json, warm index", timed([EXE, "benchmark", "ls", "--json"], env, args.runs))
    report("dataset view 1, warm index", timed([EXE, "dataset", "view", "1"], env, args.runs))
    shutil.rmtree(home, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
