"""Many writers at once: N people, each in their own workspace, submit a new container at the same moment.

Every one picks the same id (1), as on the day a benchmark opens; the tool must merge all N, each
under its own id. Runs over a bare repository on disk and over ``git daemon`` on 127.0.0.1, and
reports merged and failed submissions, how many were renumbered, latency (p50, p95, max) and the
verdicts of ``registry audit`` and ``registry lint`` on the result.

    python benchmarks/bench_many_writers.py [--writers 10 25 50] [--transport path daemon]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.actors import seed_registry  # noqa: E402

SUBMIT = """
import json, sys, time
start = time.monotonic()
from medperf_git.flows.session import RegistrySession
from medperf_git.flows.submission import open_submission
from tests.submissions.helpers import container
handle = sys.argv[1]
try:
    r = open_submission(RegistrySession.load(), {"containers/1.yaml": container(1, handle)}, "model of " + handle,
                        "container")
    out = {"merged": r.merged, "renumbered": len(r.renumbered), "waiting": r.waiting}
except Exception as exc:  # reported, not raised: the benchmark counts failures
    out = {"merged": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
out["seconds"] = time.monotonic() - start
print(json.dumps(out))
"""


def _daemon(base: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(["git", "daemon", "--export-all", "--enable=receive-pack", f"--base-path={base}",
                             f"--port={port}", "--listen=127.0.0.1", "--reuseaddr", str(base)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return proc, f"git://127.0.0.1:{port}"


def run(writers: int, transport: str, work: Path) -> dict:
    from medperf_git.workspace.config import Config

    root = work / f"{transport}-{writers}"
    handles = ["admin"] + [f"w{i}" for i in range(writers)]
    path, actors = seed_registry(root, handles)
    daemon = None
    if transport == "daemon":
        daemon, url = _daemon(root)
        for actor in actors.values():
            config = Config.load(actor.home / "config.yaml")
            config.profiles["default"].registry = f"{url}/{path.name}"
            config.save()
    exe = str(Path(sys.executable).with_name("medperf-git"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "medperf_git")], check=True,
                   stdout=subprocess.DEVNULL)  # as an installed package is: no writer compiles every module
    for handle in handles[1:]:  # registered people have a workspace with its clone, as after `person register`
        env = dict(os.environ, MEDPERF_GIT_HOME=str(actors[handle].home), MEDPERF_GIT_NO_PROGRESS="1")
        warm = subprocess.run([exe, "container", "ls"], env=env, capture_output=True, text=True)
        if warm.returncode:
            raise SystemExit(f"{handle} could not clone the registry: {warm.stderr[-500:]}")
    cpu_before = _children_cpu()
    try:
        start = time.monotonic()
        procs = []
        for handle in handles[1:]:
            env = dict(os.environ, MEDPERF_GIT_HOME=str(actors[handle].home), PYTHONPATH=str(ROOT),
                       MEDPERF_GIT_NO_PROGRESS="1")
            procs.append(subprocess.Popen([sys.executable, "-c", SUBMIT, handle], env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=1800)
            try:
                results.append(json.loads(out.strip().splitlines()[-1]))
            except (ValueError, IndexError):
                results.append({"merged": False, "error": err[-300:], "seconds": float("nan")})
        wall = time.monotonic() - start
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=10)
    cpu = _children_cpu() - cpu_before  # every writer with its git processes, and the daemon's side
    latencies = sorted(r["seconds"] for r in results)
    env = dict(os.environ, MEDPERF_GIT_HOME=str(actors["admin"].home), MEDPERF_GIT_NO_PROGRESS="1")
    audit = subprocess.run([exe, "registry", "audit", str(path)], env=env, capture_output=True, text=True)
    checkout = root / "checkout"
    subprocess.run(["git", "clone", "-q", str(path), str(checkout)], check=True)
    lint = subprocess.run([exe, "registry", "lint", str(checkout)], env=env, capture_output=True, text=True)
    return {"writers": writers, "transport": transport, "merged": sum(r["merged"] for r in results),
            "failed": [r.get("error") or r.get("waiting") for r in results if not r["merged"]],
            "renumbered": sum(r.get("renumbered", 0) for r in results), "wall": wall,
            "p50": statistics.median(latencies), "p95": latencies[max(0, int(0.95 * len(latencies)) - 1)],
            "max": latencies[-1], "cpu": cpu, "audit": audit.returncode, "lint": lint.returncode}


def _children_cpu() -> float:
    """CPU seconds of every finished child process: unlike wall time, not inflated by other work on the machine."""
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--transport", nargs="+", choices=["path", "daemon"], default=["path", "daemon"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-writers-") as tmp:
        os.environ["MEDPERF_GIT_HOME"] = str(Path(tmp) / "home")
        for transport in args.transport:
            for writers in args.writers:
                r = run(writers, transport, Path(tmp))
                print(f"{r['transport']:>6} {r['writers']:>3} writers: {r['merged']} merged, {len(r['failed'])} "
                      f"failed, {r['renumbered']} renumbered; latency p50 {r['p50']:.1f} s, p95 {r['p95']:.1f} s, "
                      f"max {r['max']:.1f} s; wall {r['wall']:.1f} s; CPU {r['cpu']:.0f} s "
                      f"({r['cpu'] / r['writers']:.2f} s per writer); audit exit {r['audit']}, lint exit {r['lint']}",
                      flush=True)
                for failure in r["failed"][:3]:
                    print(f"       failed: {failure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
