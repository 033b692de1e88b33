"""Speed of the audit that judges state: a full audit of N merges (lint included) and one new merge.

Builds (or reuses) a registry with N self-service merges made as the git-native forge makes them
(``gen_history.py``), then times, each in a fresh process state (signatures verified afresh):
- the full audit from the root commit (target: 1,000 merges within 60 s on the 2-core machine);
- the incremental audit of one new merge after the last verified commit (target: within 0.3 s), once
  with the clone's SQLite index at that commit (what a client has) and once reading the base's files.

    python benchmarks/bench_audit.py [--merges 1000] [--registry PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.gen_history import add_merge, generate_history  # noqa: E402


def _fresh():
    from medperf_git.registry import verify

    verify._CACHES.clear()
    verify._VERIFIED.clear()


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run(merges: int, work: Path, repeat: int) -> dict[str, list[float]]:
    from medperf_git.lint.local import index_facts
    from medperf_git.policy.audit import AuditCache, audit
    from medperf_git.registry.git import GitRepo

    os.environ["MEDPERF_GIT_HOME"] = str(work / "home")
    path = work / f"history-{merges}.git"
    if path.exists():
        raise SystemExit(f"{path} exists: remove it, or use a new --work folder")
    took, history = _timed(lambda: generate_history(path, merges))
    print(f"generated {merges} merges in {took:.1f} s")
    figures: dict[str, list[float]] = {"full audit": [], "one new merge, with the index": [],
                                       "one new merge, base read from its files": []}
    root = history.repo.root_commits("refs/heads/main")[0]
    for _ in range(repeat):
        _fresh()
        repo = GitRepo(path)
        took, report = _timed(lambda r=repo: audit(r))
        assert report.clean and report.checked == history.merges + 2, [f.text() for f in report.findings][:5]
        figures["full audit"].append(took)
        repo.close()
    for label, with_index in (("one new merge, with the index", True),
                              ("one new merge, base read from its files", False)):
        for n in range(repeat):
            tip = history.repo.rev_parse("refs/heads/main")
            cache = AuditCache(work / f"cache-{label[:20]}-{n}.json", root)
            cache.add(tip)
            facts = index_facts(history.repo, tip) if with_index else None  # a client keeps its index current
            if facts is not None:
                facts.close()
            elif with_index:
                raise SystemExit("the index could not be built")
            index = Path(os.environ["MEDPERF_GIT_HOME"]) / "registries" / root / "index.sqlite"
            if not with_index:
                index.unlink(missing_ok=True)
            add_merge(history)
            _fresh()
            repo = GitRepo(path)
            took, report = _timed(lambda r=repo, c=cache: audit(r, cache=c))
            assert report.clean and report.checked == 1, [f.text() for f in report.findings]
            figures[label].append(took)
            repo.close()
    for label, values in figures.items():
        print(f"  {label:<42} median {statistics.median(values):7.3f} s  (min {min(values):.3f}, "
              f"max {max(values):.3f}, {len(values)} runs)")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merges", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="keep the registry and keys here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        run(args.merges, args.work or Path(tmp), args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
