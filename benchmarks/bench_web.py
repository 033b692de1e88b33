"""Speed of the web face: `site build` on a large generated registry, and the local app's pages.

    python benchmarks/bench_web.py [--records 10000] [--work DIR] [--repeat 3] [--requests 100] [--only site|app]

Site: generates the registry (``gen_registry.py``) once into ``--work``, clones it bare, then times the
command ``medperf-git site build OUT --registry BARE`` as a user runs it (a new process each time):
- cold: a new MEDPERF_GIT_HOME (the clone, its audit and the index are made first) and an empty OUT;
- warm: the clone and index exist, OUT is empty (every page rendered and written);
- unchanged: again into the same OUT (nothing to write);
- one record changed: after a signed commit that changes one dataset record.
Target: 10,000 records within 10 s on the 2-core machine.

App: the tutorial's end state (made with the flows, the local runner), `medperf-git ui` as the data owner,
then ``--requests`` sequential GETs of each page with the session cookie, after two warm-up requests
(the first, shown apart, is the first visit: the association list and the review queue compute there).
Target: every page within 100 ms at the 95th percentile. Beside the wall times, the CPU time the app and
the git processes it started spent per request: what a page costs whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from bench_index import prepare  # noqa: E402
from gen_registry import admin_key  # noqa: E402


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MEDPERF_GIT_"))}
    env.update(MEDPERF_GIT_HOME=str(home), MEDPERF_GIT_NO_PROGRESS="1", GIT_CONFIG_NOSYSTEM="1")
    return env


def _cpu() -> tuple[float, float]:
    """User and system CPU seconds of the finished children: the command, its render processes, git."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime, used.ru_stime


def _build(out: Path, registry: Path, home: Path) -> tuple[float, tuple[float, float], str]:
    """Wall and (user, system) CPU seconds of one `site build`, and what it said."""
    start, cpu = time.perf_counter(), _cpu()
    proc = subprocess.run([sys.executable, "-m", "medperf_git", "site", "build", str(out), "--registry", str(registry)],
                          env=_env(home), capture_output=True, text=True)
    after = _cpu()
    elapsed, used = time.perf_counter() - start, (after[0] - cpu[0], after[1] - cpu[1])
    if proc.returncode != 0 or "Warning" in proc.stderr:
        raise SystemExit(proc.stderr)
    line = next(x for x in proc.stderr.splitlines() if "Site of commit" in x)
    return elapsed, used, re.sub(r"^\S+ ", "", line)


def _change_one_record(bare: Path, source: Path) -> None:
    """A signed commit by the registry's first admin that edits dataset 1's description (a field that may change)."""
    from medperf_git.records.yamlio import dump_yaml, load_yaml
    from medperf_git.registry.commits import Identity, commit_changes, update_ref
    from medperf_git.registry.git import GitRepo

    repo = GitRepo(bare)
    main = repo.rev_parse("refs/heads/main")
    record = load_yaml(repo.read_path(main, "datasets/1.yaml"), "datasets/1.yaml")
    record["description"] = f"edited at {time.time():.0f}"
    key = admin_key(source)
    new = commit_changes(repo, main, {"datasets/1.yaml": dump_yaml(record).encode()}, "Edit dataset 1",
                         Identity("Person user1", "user1@example.org", str(key)))
    update_ref(repo, "refs/heads/main", new, main)


def bench_site(work: Path, records: int, repeat: int) -> None:
    source, _ = prepare(work, records)
    bare = work / f"registry-{records}-site.git"  # its own copy: the last case commits to it
    shutil.rmtree(bare, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
    rows: dict[str, list[tuple[float, tuple[float, float], str]]] = {"cold": [], "warm": [], "unchanged": [],
                                                                     "one record changed": []}
    sites = work / "sites"  # every build into an empty folder gets a new one: deleting 14,000 files just before
    shutil.rmtree(sites, ignore_errors=True)  # a build would charge it the file system's work of the deletion
    loads = [os.getloadavg()[0]]
    for i in range(repeat):
        home = work / "home"
        shutil.rmtree(home, ignore_errors=True)
        for case in rows:
            out = sites / f"{i}-warm" if case == "warm" else sites / f"{i}"
            if case == "one record changed":
                _change_one_record(bare, source)
            rows[case].append(_build(out, bare, home))
            loads.append(os.getloadavg()[0])
    shutil.rmtree(sites, ignore_errors=True)
    print(f"\nsite build, {records:,} records, wall best / median of {repeat}, CPU (user + system) of the best "
          f"(load average {min(loads):.1f} to {max(loads):.1f}):")
    for case, times in rows.items():
        best = min(times)
        cpu = best[1]
        print(f"  {case:20} {best[0]:6.2f} s / {statistics.median(t[0] for t in times):6.2f} s  CPU {sum(cpu):6.2f} s "
              f"({cpu[0]:.2f} + {cpu[1]:.2f})   {best[2]}")


def _app_cpu(pid: int) -> float:
    """CPU seconds of the app and of its children that ended (its git processes), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


PAGES = ["/", "/benchmarks", "/benchmarks/1", "/datasets", "/datasets/new", "/datasets/{uid}", "/results",
         "/results/b1m4d1", "/associations", "/review", "/jobs"]


def bench_app(work: Path, requests: int) -> None:
    from tests.web.browser import RunningApp
    from tests.web.tutorial_state import finished

    root = work / "tutorial"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    os.environ.update(_env(root / "home"))
    os.environ["HOME"] = str(root / "home")
    started = time.perf_counter()
    t = finished(root)
    print(f"tutorial end state made in {time.perf_counter() - started:.1f} s")
    app = RunningApp(t.actors["testdo"].home, work / "ui.stderr")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
        host = {"Host": f"127.0.0.1:{app.port}"}
        conn.request("GET", f"/?token={app.token}", headers=host)
        response = conn.getresponse()
        response.read()
        cookie = response.getheader("set-cookie").split(";")[0]
        conn.request("GET", "/datasets", headers={**host, "Cookie": cookie})
        uid = re.search(r'href="/datasets/([0-9a-f]{12,})"', conn.getresponse().read().decode()).group(1)
        everything: list[float] = []
        print(f"\napp pages, {requests} sequential requests each (load average {os.getloadavg()[0]:.1f}):")
        print(f"  {'page':20} {'first':>8} {'p50':>8} {'p95':>8} {'max':>8} {'CPU/request':>12}")
        for page in PAGES:
            path = page.format(uid=uid)
            times = []
            for i in range(requests + 2):
                if i == 2:
                    cpu = _app_cpu(app.proc.pid)
                started = time.perf_counter()
                conn.request("GET", path, headers={**host, "Cookie": cookie})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise SystemExit(f"{path}: {response.status}")
                if i == 0:
                    first = (time.perf_counter() - started) * 1000
                if i >= 2:
                    times.append((time.perf_counter() - started) * 1000)
            cpu = (_app_cpu(app.proc.pid) - cpu) / requests * 1000
            times.sort()
            everything += times
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"  {page:20} {first:6.1f}ms {statistics.median(times):6.1f}ms {p95:6.1f}ms {times[-1]:6.1f}ms "
                  f"{cpu:10.1f}ms")
        everything.sort()
        print(f"  {'all pages':20} {'':8} {statistics.median(everything):6.1f}ms "
              f"{everything[int(len(everything) * 0.95) - 1]:6.1f}ms {everything[-1]:6.1f}ms")
    finally:
        app.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--only", choices=["site", "app"])
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-web-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    if args.only in (None, "site"):
        bench_site(work, args.records, args.repeat)
    if args.only in (None, "app"):
        bench_app(work, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
