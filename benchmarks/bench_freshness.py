"""What the freshness check costs a read: `benchmark ls` whose copy must ask the remote, against the same
read answering from its copy (`--offline`), on a registry in a local bare repository.

    python benchmarks/bench_freshness.py [--repeat 15] [--workdir DIR]

A read whose copy is older than a few seconds asks the remote with one `git ls-remote` and fetches only
when main moved; here it has not moved, so the difference is the check itself. The rounds alternate
the two reads (a busy machine slows both alike); medians and bests are reported.
Target (issue 13): the check adds at most 50 ms to a read command on a local remote.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MEDPERF_GIT = Path(sys.executable).with_name("medperf-git")


def timed(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def age(home: Path) -> None:
    """The copy was fetched long ago: the next read must ask the remote."""
    for stamp in home.glob("registries/*/fetched-at"):
        os.utime(stamp, (0, 0))


def main() -> None:
    from tests.support.tutorial_registry import seed_tutorial_registry

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-freshness-", dir=args.workdir))
    os.environ["MEDPERF_GIT_HOME"] = str(work / "home")
    try:
        _, actors, _ = seed_tutorial_registry(work / "world")
        home = actors["testdo"].home
        env = {**os.environ, "MEDPERF_GIT_HOME": str(home), "MEDPERF_GIT_NO_PROGRESS": "1"}
        read = [str(MEDPERF_GIT), "benchmark", "ls"]
        timed(read, env)  # the first clone and index
        checked, offline = [], []
        for _ in range(args.repeat):
            age(home)
            checked.append(timed(read, env))
            offline.append(timed([str(MEDPERF_GIT), "--offline", "benchmark", "ls"], env))
        print(f"cpu_count={os.cpu_count()} python={sys.version.split()[0]} "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} load={os.getloadavg()[0]:.2f}")
        print(f"\n| `benchmark ls` | median of {args.repeat} (ms) | best (ms) |")
        print("|---|---|---|")
        for name, times in (("copy older than the freshness window (one ls-remote)", checked),
                            ("--offline (the copy as it is)", offline)):
            print(f"| {name} | {statistics.median(times) * 1000:.0f} | {min(times) * 1000:.0f} |")
        added = statistics.median(checked) - statistics.median(offline)
        best = min(checked) - min(offline)
        print(f"\nthe check adds {added * 1000:.0f} ms (medians), {best * 1000:.0f} ms (bests); target <= 50 ms; "
              f"load up to {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
