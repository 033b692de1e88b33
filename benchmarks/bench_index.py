"""Speed of the registry index: a cold build and an incremental update on a large synthetic registry.

    python benchmarks/bench_index.py [--records 100000] [--work DIR] [--repeat 3]

Generates the registry (with ``gen_registry.py``) once into ``--work``, clones it bare (as the
workspace's clone is: packed objects), then times:
- a cold build with the defaults (two processes parse above 20,000 records) and with one process;
- an incremental update after a commit that adds, changes and deletes one record each.
Target: a cold build of 100,000 records in at most 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_registry import emit, generate_registry  # noqa: E402

from medperf_git.registry import _index_rows  # noqa: E402
from medperf_git.registry.git import GitRepo  # noqa: E402
from medperf_git.registry.index import Index  # noqa: E402


def _git(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.org", GIT_COMMITTER_NAME="Bench",
               GIT_COMMITTER_EMAIL="bench@example.org", GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def prepare(work: Path, records: int) -> tuple[Path, Path]:
    """The generated working repository and a bare (packed) clone of it."""
    source = work / f"registry-{records}"
    if not (source / ".git").exists():
        start = time.perf_counter()
        generate_registry(source, records)
        print(f"generated {records:,} records in {time.perf_counter() - start:.1f} s")
    bare = work / f"registry-{records}.git"
    if not bare.exists():
        _git("clone", "-q", "--bare", str(source), str(bare), cwd=work)
    return source, bare


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with __import__("contextlib").suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the parsing workers, git)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_cold(repo: GitRepo, commit: str, path: Path, pool_min: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one cold build."""
    _fresh(path)
    _index_rows.POOL_MIN = pool_min
    with Index.open(path) as ix:
        start, start_cpu = time.perf_counter(), _cpu()
        stats = ix.update(repo, commit)
        elapsed, used = time.perf_counter() - start, _cpu() - start_cpu
        assert stats.mode == "cold" and ix.commit == commit
    return elapsed, used


def time_incremental(source: Path, bare: Path, path: Path) -> float:
    """Add, change and delete one record each in a branch of the bare clone, then update to it."""
    repo = GitRepo(bare)
    base = repo.rev_parse("HEAD")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        _git("clone", "-q", "--shared", str(bare), str(work), cwd=Path(tmp))
        people = sorted((work / "people").iterdir())
        people[0].unlink()
        text = (work / "containers" / "1.yaml").read_text()
        (work / "containers" / "1.yaml").write_text(text.replace("A synthetic", "An edited"))
        (work / "containers" / "999999.yaml").write_text(emit({
            "schema_version": 1, "kind": "container", "id": 999999, "name": "added", "owner": "user1",
            "config": {"tasks": {"infer": {}}},
            "image": {"reference": "x/y:1", "digest": "sha256:" + "0" * 64}}) + "\n")
        _git("add", "-A", ".", cwd=work)
        _git("commit", "-q", "--no-gpg-sign", "-m", "three changes", cwd=work)
        _git("push", "-q", "origin", "+HEAD:refs/heads/bench-change", cwd=work)
    new = repo.rev_parse("refs/heads/bench-change")
    with Index.open(path) as ix:
        if ix.commit != base:
            ix.update(repo, base)
        start = time.perf_counter()
        stats = ix.update(repo, new)
        elapsed = time.perf_counter() - start
        assert (stats.mode, stats.added, stats.changed, stats.deleted) == ("incremental", 1, 1, 1), stats
        ix.update(repo, base)  # back, for the next round
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "medperf-git-bench")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated registry for later runs")
    parser.add_argument("--only", choices=["cold", "incremental"], help="time only one of the two")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    source, bare = prepare(args.work, args.records)
    repo = GitRepo(bare)
    commit = repo.rev_parse("HEAD")
    path = args.work / "bench-index.sqlite"
    print(f"{args.records:,} records, {os.cpu_count()} cores")
    cold = (("cold build, 2 processes", 20_000), ("cold build, 1 process", 10**12))
    if args.only == "incremental":
        cold = ()
    for label, pool_min in cold:
        measured = [time_cold(repo, commit, path, pool_min) for _ in range(args.repeat)]
        runs = [wall for wall, _ in measured]
        print(f"{label}: median {statistics.median(runs):.2f} s, best {min(runs):.2f} s "
              f"({', '.join(f'{r:.2f}' for r in runs)}); CPU median {statistics.median(c for _, c in measured):.1f} s; "
              f"load average {os.getloadavg()[0]:.1f}")
    _index_rows.POOL_MIN = 20_000
    runs = [] if args.only == "cold" else [time_incremental(source, bare, path) for _ in range(args.repeat)]
    if runs:
        print(f"incremental update (1 added, 1 changed, 1 deleted): median {statistics.median(runs) * 1000:.0f} ms")
    repo.close()
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
