"""Review speed: `review ls` with many open submissions, and approving one in a large registry.

    python benchmarks/bench_review.py [--submissions 1000] [--records 100000] [--workdir DIR] [--keep]

Part 1 builds a bare registry with an admin and ten authors (real SSH keys), then 1,000 open
submissions (signed content commit + signed meta chain each, pushed in one go): a third change the
README and a third propose a benchmark, both needing the admins, and a third edit their author's own
person record, which is self-service but still judged. It times `medperf-git review ls --json` as the
admin in a fresh process: the first run (verdicts not cached yet), then warm runs, with and without
the fetch (`--offline`).
Part 2 generates a 100,000-record registry (benchmarks/gen_registry.py), registers real people on
top, opens one submission that needs an admin, and times `medperf-git review approve N -y`
(fetch, policy on the base, lint of the merged tree, signed approval, merge, atomic push).
Targets (issue 4): review ls <= 1 s with 1,000 open submissions; approve <= 5 s at 100,000 records.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from medperf_git.forges.gitnative import GitNativeForge  # noqa: E402
from medperf_git.records.yamlio import dump_yaml  # noqa: E402
from medperf_git.registry.commits import commit_changes, update_ref  # noqa: E402
from medperf_git.registry.git import GitRepo, init_bare, push  # noqa: E402
from tests.support.actors import make_actor, seed_registry  # noqa: E402


class Timing(float):
    """Wall-clock seconds, with the CPU seconds (user + sys, git children included) alongside."""

    cpu: float = 0.0

    def __str__(self) -> str:
        return f"{float(self):.3f} s wall, {self.cpu:.3f} s CPU"


def _cli(actor, *args: str) -> Timing:
    env = dict(os.environ, MEDPERF_GIT_HOME=str(actor.home), MEDPERF_GIT_NO_PROGRESS="1", PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "medperf_git", *args], env=env, capture_output=True, text=True)
    elapsed = Timing(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"medperf-git {' '.join(args)} failed: {proc.stderr}")
    return elapsed


def _proposal(n: int, author) -> tuple[str, dict[str, bytes]]:
    """A mix, so verdicts take different paths through the rules and read different base records:
    a README change and a new benchmark (both need the admins), and an edit of the author's own person
    record (self-service, still judged)."""
    if n % 3 == 0:
        return "registry", {"README.md": f"# proposal {n}\n".encode()}
    if n % 3 == 1:
        person = dict(author.person_record(), name=f"{author.name} {n}")
        return "person", {f"people/{author.handle}.yaml": dump_yaml(person).encode()}
    benchmark = {"schema_version": 1, "kind": "benchmark", "id": 100 + n, "name": f"benchmark-{n}",
                 "description": "A proposed benchmark", "docs_url": "https://example.org/docs",
                 "owners": [author.handle], "data_preparation": 1, "reference_model": 2, "metrics": 3,
                 "association_policy": {"datasets": {"mode": "never"}, "models": {"mode": "never"}},
                 "approvals_required": 1, "min_isolation": "none"}
    return "benchmark", {f"benchmarks/{100 + n}.yaml": dump_yaml(benchmark).encode()}


def _open_many(path: Path, authors: list, count: int, base: str) -> None:
    """``count`` open submissions, each a signed README change and a signed meta chain, pushed at once."""
    work = init_bare(path.parent / "bulk.git")
    work.git("fetch", "-q", str(path), "+refs/heads/*:refs/remotes/origin/*")
    refspecs = []
    for n in range(1, count + 1):
        author = authors[n % len(authors)]
        kind, changes = _proposal(n, author)
        head = commit_changes(work, base, changes, f"Proposal {n}", author.identity)
        forge = GitNativeForge(work, str(path), author.identity, author.handle)
        summary = {"number": n, "title": f"proposal {n}", "author": author.handle, "kind": kind,
                   "base": base, "state": "open"}
        meta = forge._meta_commit(None, None, summary, "opened", head=head)
        refspecs += [f"{head}:refs/pull/{n}/head", f"{meta}:refs/pull/{n}/meta"]
        if n % 100 == 0:
            print(f"  prepared {n}/{count}", file=sys.stderr)
    for start in range(0, len(refspecs), 500):
        push(work, str(path), refspecs[start:start + 500])


def bench_review_ls(workdir: Path, count: int) -> dict[str, float]:
    root = workdir / "review-ls"
    root.mkdir(parents=True)
    authors = [f"a{i}" for i in range(1, 11)]
    path, actors = seed_registry(root, ["admin", *authors])
    base = GitRepo(path).rev_parse("refs/heads/main")
    t0 = time.perf_counter()
    _open_many(path, [actors[a] for a in authors], count, base)
    setup = time.perf_counter() - t0
    admin = actors["admin"]
    figures: dict[str, object] = {"setup (s)": f"{setup:.1f}"}
    figures["first run: clone + fetch + verdicts"] = _cli(admin, "review", "ls", "--json")
    cache = next((admin.home / "registries").glob("*/review-cache.json"))
    cold = []
    for _ in range(5):
        cache.unlink()
        cold.append(_cli(admin, "--offline", "review", "ls", "--json"))
    cold.sort()
    figures["verdicts not cached (--offline), best of 5"] = cold[0]
    figures["verdicts not cached (--offline), median of 5"] = cold[2]
    figures["warm, --offline (best of 3)"] = min(_cli(admin, "--offline", "review", "ls", "--json") for _ in range(3))
    figures["warm, with fetch (best of 3)"] = min(_cli(admin, "review", "ls", "--json") for _ in range(3))
    figures["warm, table output (best of 3)"] = min(_cli(admin, "review", "ls") for _ in range(3))
    figures["for scale: medperf-git --help"] = min(_cli(admin, "--help") for _ in range(3))
    return figures


def bench_approve(workdir: Path, records: int) -> dict[str, float]:
    from gen_registry import generate_registry

    root = workdir / "approve"
    root.mkdir(parents=True)
    path = root / "registry.git"
    t0 = time.perf_counter()
    src = root / "src"
    generate_registry(src, records)
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(path)], check=True)
    admin = make_actor(root, "admin", str(path))
    author = make_actor(root, "author", str(path))
    repo = GitRepo(path)
    main = repo.rev_parse("refs/heads/main")
    import yaml

    registry = yaml.safe_load(repo.read_path(main, "registry.yaml"))
    registry["admins"] = ["admin", *registry.get("admins", [])]
    changes = {"registry.yaml": dump_yaml(registry).encode(),
               "people/admin.yaml": dump_yaml(admin.person_record()).encode(),
               "people/author.yaml": dump_yaml(author.person_record()).encode()}
    from gen_registry import admin_key

    from medperf_git.registry.commits import Identity

    user1 = Identity("user1", "user1@example.org", str(admin_key(src)))  # an admin of the generated root
    new = commit_changes(repo, main, changes, "Register the benchmark's people", user1)
    update_ref(repo, "refs/heads/main", new, main)
    env = dict(os.environ, MEDPERF_GIT_HOME=str(author.home), PYTHONPATH=str(ROOT))
    script = ("from medperf_git.flows.submission import open_submission; from medperf_git.workspace import Workspace;"
              "r = open_submission(Workspace.load(), {'README.md': b'# better\\n'}, 'readme', 'registry');"
              "print(r.submission.number)")
    number = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    shutil.rmtree(src)
    setup = time.perf_counter() - t0
    _cli(admin, "review", "ls")  # the admin's clone and index exist, as for anyone who reviews regularly
    seconds = _cli(admin, "review", "approve", number.stdout.strip(), "-y")
    merged = GitRepo(path).out("log", "-1", "--format=%s", "refs/heads/main")
    return {"setup (s)": f"{setup:.1f}", "review approve N -y (fetch, checks, approval, merge, push)": seconds,
            "records": records, "main after": merged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--only", choices=["ls", "approve"])
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-review-", dir=args.workdir))
    os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@example.org")
    os.environ["MEDPERF_GIT_HOME"] = str(workdir / "home")
    try:
        if args.only in (None, "ls"):
            print(f"review ls with {args.submissions} open submissions:")
            for name, value in bench_review_ls(workdir, args.submissions).items():
                print(f"  {name}: {value}")
        if args.only in (None, "approve"):
            print(f"review approve in a {args.records}-record registry:")
            for name, value in bench_approve(workdir, args.records).items():
                print(f"  {name}: {value}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
