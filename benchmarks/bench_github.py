"""GitHub forge speed against the local fake GitHub server (tests/github/fake_github.py).

    python benchmarks/bench_github.py [--pulls 1000] [--workdir DIR]

Builds a seeded registry, creates N open pull requests (each its own branch and a marker body),
then times, in this process, the client side of the github forge: `list()` (pages of 100 pull
requests plus the repository's comments, and one `git log` per open pull request for its approval
commits), `get(N)`, and opening one more pull request (push of a branch + create + read back).
The server is local, so the figures are the client's own cost; on github.com add the round trips
(about 10 pages for 1,000 pull requests).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medperf_git.forges._github_body import pr_body  # noqa: E402
from medperf_git.forges.github import GitHubForge  # noqa: E402
from medperf_git.registry.commits import commit_changes  # noqa: E402
from medperf_git.registry.git import GitRepo, init_bare  # noqa: E402
from tests.github.fake_github import FakeGitHub  # noqa: E402
from tests.support.actors import seed_registry  # noqa: E402


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pulls", type=int, default=1000)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-github-"))
    path, actors = seed_registry(work, ["admin", "bo"])
    remote = GitRepo(path)
    main_sha = remote.rev_parse("refs/heads/main")
    server = FakeGitHub(path).start()
    server.add_user("ghp_benchTOKEN", "bo", 101)
    head = commit_changes(remote, main_sha, {"containers/1.yaml": b"v: 1\n"}, "c", actors["bo"].identity)
    lines = "".join(f"create refs/heads/medperf-git/bo/{i:06d} {head}\n" for i in range(args.pulls))
    remote.git("update-ref", "--stdin", input=lines)
    body = pr_body(kind="container", author="bo", base=main_sha, head=head)
    user = server.users["ghp_benchTOKEN"]
    for i in range(args.pulls):
        server.create_pull(user, {"title": f"pr {i}", "body": body, "head": f"medperf-git/bo/{i:06d}",
                                  "base": "main"})
    forge = GitHubForge(init_bare(work / "clone.git"), str(path), actors["bo"].identity, "bo",
                        repository=server.full_name, token="ghp_benchTOKEN", base_url=server.base_url,
                        throttle=False)
    forge.refresh()
    t_list, subs = timed(forge.list)
    t_get, _ = timed(lambda: forge.get(args.pulls // 2))
    requests_before = len(server.requests)
    forge.list()
    list_requests = len(server.requests) - requests_before

    def open_one():
        new = commit_changes(forge.repo, forge.main, {"containers/2.yaml": f"v: {time.time()}\n".encode()}, "c",
                             actors["bo"].identity)
        return forge.open(new, title="one more", kind="container", base=forge.main)

    t_open, _ = timed(open_one, repeat=2)
    print(f"pulls={args.pulls} list={t_list:.2f}s ({len(subs)} submissions, {list_requests} requests) "
          f"get={t_get * 1000:.0f}ms open={t_open:.2f}s")
    server.stop()
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
