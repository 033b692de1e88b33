"""Fixtures for the github tests: a fake GitHub server over a seeded registry, and a forge harness."""

from __future__ import annotations

import pytest

from medperf_git.registry.commits import commit_changes, commit_tree
from medperf_git.registry.git import GitRepo, init_bare
from tests.github.fake_github import FakeGitHub
from tests.support.actors import seed_registry

HANDLES = ["admin", "bo", "mo"]


class GitHubHarness:
    def __init__(self, tmp_path, server: FakeGitHub, path, actors):
        self.tmp = tmp_path
        self.server = server
        self.path, self.actors = path, actors
        self.remote = GitRepo(self.path)
        self._forges: dict = {}
        self.sleeps: list[float] = []

    def token(self, handle: str) -> str:
        return f"ghp_secret{handle}TOKEN0123456789"

    def forge(self, handle: str):
        from medperf_git.forges.github import GitHubForge

        if handle not in self._forges:
            clone = init_bare(self.tmp / f"clone-{handle}.git")
            forge = GitHubForge(clone, str(self.path), self.actors[handle].identity, handle,
                                repository=self.server.full_name, token=self.token(handle),
                                base_url=self.server.base_url, throttle=False, sleep=self.sleeps.append)
            forge.refresh()
            self._forges[handle] = forge
        return self._forges[handle]

    def content_commit(self, handle: str, changes: dict, parent: str | None = None) -> str:
        forge = self.forge(handle)
        return commit_changes(forge.repo, parent or forge.main, changes, "a change", self.actors[handle].identity)

    def approval_commit(self, handle: str, head: str) -> str:
        repo = self.forge(handle).repo
        tree = repo.out("rev-parse", f"{head}^{{tree}}")
        return commit_tree(repo, tree, [head], f"Approve\n\nApproved-by: {handle}", self.actors[handle].identity)

    def remote_main(self) -> str:
        return self.remote.rev_parse("refs/heads/main")

    def first_parents(self) -> list[str]:
        return self.remote.out("rev-list", "--first-parent", "refs/heads/main").split()


@pytest.fixture
def github_server(tmp_path):
    path, actors = seed_registry(tmp_path, HANDLES)
    server = FakeGitHub(path)
    for uid, handle in enumerate(HANDLES, start=101):
        server.add_user(f"ghp_secret{handle}TOKEN0123456789", handle, uid)
    server.start()
    server.seeded = (path, actors)
    yield server
    server.stop()


@pytest.fixture
def forge_harness(tmp_path, github_server):
    path, actors = github_server.seeded
    return GitHubHarness(tmp_path, github_server, path, actors)
