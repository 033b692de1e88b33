"""GitHub forge and policy bot speed against the local fake GitHub server (tests/github/fake_github.py).

    python benchmarks/bench_github.py [--pulls 500] [--workdir DIR]

Builds a populated registry, opens N pull requests (each its own branch, a signed container record,
a marker body), then times:

- the client's `list("open")` (pages of 100 open pull requests, the comments since the oldest);
- the bot's first sweep over all of them (each judged: lint of the merged tree and policy, then a
  commit status and a comment), run with ``merge=False`` so that main stays put;
- a second sweep, where nothing moved (no pull request is judged again);
- a sweep after main moved: every pull request judged again, no verdict changed, none written.

For each it prints the wall time, the requests made and the time the server spent answering them
(the "API time"; on github.com add about 0.1-0.3 s of network per request).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medperf_git.flows.bot import run_bot  # noqa: E402
from medperf_git.forges._github_body import pr_body  # noqa: E402
from medperf_git.forges.github import GitHubForge  # noqa: E402
from medperf_git.registry.commits import commit_changes  # noqa: E402
from medperf_git.registry.git import init_bare  # noqa: E402
from tests.github.fake_github import FakeGitHub, github_accounts  # noqa: E402
from tests.policy.policy_world import HANDLES, World, container, dataset, y  # noqa: E402

BOT = "ghs_benchBOT"
TARGET_API = 60.0  # seconds of API time for the first sweep (issue 14)
TARGET_PER_PULL = 3  # requests per pull request: "at most a few"


def measure(server: FakeGitHub, fn):
    requests, busy, start = len(server.requests), server.busy, time.perf_counter()
    value = fn()
    return time.perf_counter() - start, len(server.requests) - requests, server.busy - busy, value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pulls", type=int, default=500)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-github-"))
    world = World(work, registry_settings={"host": "github"})
    ids, people = github_accounts(world.actors, HANDLES, 200)
    world.direct(people, "GitHub accounts")
    server = FakeGitHub(world.path).start()
    server.add_user("ghp_benchBO", "bo", ids["bo"])
    server.users[BOT] = {"login": "medperf-git[bot]", "id": 4242, "type": "Bot"}
    main_sha = world.main
    user = server.users["ghp_benchBO"]
    start = time.perf_counter()
    refs = []
    for i in range(args.pulls):
        cid = 10 + i
        head = commit_changes(world.repo, main_sha, {f"containers/{cid}.yaml": y(container(cid, "bo", "infer"))},
                              f"container {cid}", world["bo"].identity)
        refs.append(f"create refs/heads/medperf-git/bo/{i:06d} {head}\n")
    world.repo.git("update-ref", "--stdin", input="".join(refs))
    body = pr_body(kind="container", author="bo", base=main_sha, head="")
    for i in range(args.pulls):
        server.create_pull(user, {"title": f"container {10 + i}", "body": body, "head": f"medperf-git/bo/{i:06d}",
                                  "base": "main"})
    setup = time.perf_counter() - start
    forge = GitHubForge(init_bare(work / "clone.git"), str(world.path), world["bo"].identity, "bo",
                        repository=server.full_name, token="ghp_benchBO", base_url=server.base_url, throttle=False)
    forge.refresh()
    t_list, n_list, api_list, subs = measure(server, lambda: forge.list("open"))
    bot_repo = init_bare(work / "bot.git")
    bot_repo.git("remote", "add", "origin", str(world.path))

    def sweep():
        return run_bot(bot_repo, {}, repository=server.full_name, token=BOT, base_url=server.base_url,
                       throttle=False, merge=False, sleep=lambda s: None)

    t_first, n_first, api_first, first = measure(server, sweep)
    t_again, n_again, api_again, again = measure(server, sweep)
    assert {o.action for o in first} == {"mergeable"}, {o.action for o in first}
    assert {o.action for o in again} == {"unchanged"}
    world.direct({"datasets/9.yaml": y(dataset(9, "do"))}, "main moves")
    t_moved, n_moved, api_moved, moved = measure(server, sweep)
    assert {o.action for o in moved} == {"mergeable"}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"setup of {args.pulls} pull requests {setup:.1f} s")
    print(f"list('open'): {len(subs)} submissions, {n_list} requests, {t_list:.2f} s wall, {api_list:.2f} s API")
    print(f"first sweep: {len(first)} judged, {n_first} requests ({n_first / args.pulls:.2f} per pull request), "
          f"{t_first:.1f} s wall, {api_first:.1f} s API")
    print(f"second sweep: {len(again)} unchanged, {n_again} requests, {t_again:.1f} s wall, {api_again:.2f} s API")
    print(f"after main moved: {len(moved)} judged again, {n_moved} requests, {t_moved:.1f} s wall, "
          f"{api_moved:.2f} s API")
    met = api_first <= TARGET_API and n_first <= TARGET_PER_PULL * args.pulls
    print(f"target (first sweep of 500: at most {TARGET_API:.0f} s API, {TARGET_PER_PULL} requests per pull "
          f"request): {'met' if met else 'NOT MET'}")
    server.stop()
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
