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
import resource
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


def signed_registry(work: Path, records: int, source: Path) -> tuple[Path, Path]:
    """The generated records in a registry made by ``registry init``, committed on main signed by its admin.

    Clients audit what they fetch, so the benchmark's registry must be one they accept. Returns the
    bare registry and the admin's signing key.
    """
    from medperf_git.flows.registry_init import init_registry
    from medperf_git.registry.commits import Identity, commit_tree, update_ref
    from medperf_git.registry.git import GitRepo
    from medperf_git.registry.signing import generate_key
    from medperf_git.workspace import Workspace
    from medperf_git.workspace.config import Config, Profile

    bare = work / f"signed-{records}.git"
    admin_home = work / "admin-home"
    key = admin_home / "keys" / "id_ed25519"
    if bare.exists():
        return bare, key
    generate_key(key, "admin@bench")
    config = Config(admin_home / "config.yaml", "default", {})
    config.profiles["default"] = Profile("default", handle="admin", signing_key=str(key))
    config.save()
    old_home = os.environ.get("MEDPERF_GIT_HOME")
    os.environ["MEDPERF_GIT_HOME"] = str(admin_home)
    try:
        init_registry(Workspace.load(), bare, name="bench", admins=["admin"], admin_name="Bench Admin",
                      admin_email="admin@example.org", bare=True)
    finally:
        if old_home is None:
            os.environ.pop("MEDPERF_GIT_HOME", None)
        else:
            os.environ["MEDPERF_GIT_HOME"] = old_home
    repo = GitRepo(bare)
    main = repo.rev_parse("refs/heads/main")
    repo.git("fetch", "-q", str(source), "+HEAD:refs/generated")
    keep = {e.path: e.sha for e in repo.ls_tree(main, ["registry.yaml", "people/admin.yaml"])}
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        repo.git("read-tree", "refs/generated^{tree}", env=env)
        repo.git("update-index", "--index-info", env=env,
                 input="".join(f"100644 {sha}\t{path}\n" for path, sha in keep.items()))
        tree = repo.out("write-tree", env=env)
    identity = Identity("Bench Admin", "admin@example.org", str(key))
    update_ref(repo, "refs/heads/main", commit_tree(repo, tree, [main], f"{records} records", identity), main)
    repo.git("update-ref", "-d", "refs/generated")
    repo.git("gc", "-q")
    return bare, key


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str], runs: int, warmup: int = 2) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (user + system) seconds of each timed run."""
    times, cpu = [], []
    for i in range(warmup + runs):
        start, start_cpu = time.perf_counter(), _children_cpu()
        proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed, used = time.perf_counter() - start, _children_cpu() - start_cpu
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr}")
        if i >= warmup:
            times.append(elapsed)
            cpu.append(used)
    return times, cpu


def report(label: str, measured: tuple[list[float], list[float]]) -> None:
    times, cpu = measured
    print(f"{label}: median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms, "
          f"worst {max(times) * 1000:.0f} ms; CPU median {statistics.median(cpu) * 1000:.0f} ms "
          f"({len(times)} runs, load average {os.getloadavg()[0]:.1f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "medperf-git-bench")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the generated registry for later runs")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    source, _ = prepare(args.work, args.records)
    bare, _ = signed_registry(args.work, args.records, source)
    home = Path(tempfile.mkdtemp(prefix="home-", dir=args.work))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MEDPERF_GIT_"))}
    env.update(MEDPERF_GIT_HOME=str(home), MEDPERF_GIT_NO_PROGRESS="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode; do not compile every run
    subprocess.run([EXE, "profile", "set", "--registry", str(bare), "--handle", "user1"], env=env, check=True,
                   capture_output=True)

    report("medperf-git --help", timed([EXE, "--help"], env, args.runs))
    start = time.perf_counter()
    subprocess.run([EXE, "benchmark", "ls"], env=env, check=True, capture_output=True)
    print(f"first benchmark ls (clone, audit, cold index of {args.records:,} records): "
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
