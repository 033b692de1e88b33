"""Fixtures for the github tests: a fake GitHub server over a seeded registry, and a forge harness."""

from __future__ import annotations

import pytest

from medperf_git.registry.git import GitRepo, init_bare
from tests.forges.contract import HarnessBase
from tests.github.fake_github import FakeGitHub
from tests.support.actors import seed_registry

HANDLES = ["admin", "bo", "mo"]


class GitHubHarness(HarnessBase):
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



@pytest.fixture
def github_server(tmp_path):
    path, actors = seed_registry(tmp_path, HANDLES, registry_settings={"host": "github"})
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
