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


@pytest.fixture(scope="session")
def _openapi():
    """GitHub's REST description (tests/github/openapi.py), or None and why it is missing."""
    from tests.github.openapi import load

    return load()


@pytest.fixture(autouse=True)
def _every_answer_is_documented(_openapi):
    """Every fake GitHub server of a test checks each answer against GitHub's description."""
    FakeGitHub.default_spec = _openapi[0]
    FakeGitHub.instances.clear()
    yield
    invalid = [problem for server in FakeGitHub.instances for problem in server.invalid]
    FakeGitHub.instances.clear()
    assert invalid == [], "answers GitHub's description does not allow:\n" + "\n".join(invalid[:10])


@pytest.fixture
def openapi_spec(_openapi):
    """The description itself, or a skip saying why it is missing."""
    if _openapi[0] is None:
        pytest.skip(f"GitHub's OpenAPI description is not available: {_openapi[1]}")
    return _openapi[0]


APP_ID = 77


def make_app(server) -> str:
    """A GitHub App for the bot: its public key registered with the fake server; its private key (PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server.apps[APP_ID] = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class Submitting:
    """What people do on a fake GitHub registry: open a pull request, approve one (``forge`` and ``world``
    come from the class that uses this)."""

    def submit(self, opener: str, changes: dict, signer: str | None = None, title: str = "a submission"):
        from medperf_git.registry.commits import commit_changes

        forge = self.forge(opener)
        head = commit_changes(forge.repo, forge.main, changes, title, self.world[signer or opener].identity)
        return forge.open(head, title=title, kind="association", base=forge.main)

    def approve(self, handle: str, number: int):
        from medperf_git.registry.commits import commit_tree

        forge = self.forge(handle)
        sub = forge.get(number)
        tree = forge.repo.out("rev-parse", f"{sub.head}^{{tree}}")
        approval = commit_tree(forge.repo, tree, [sub.head], f"Approve\n\nApproved-by: {handle}",
                               self.world[handle].identity)
        return forge.add_approval(number, approval, expected_head=sub.head)


class Hosting(Submitting):
    """A registry on the fake GitHub as SETTINGS.md sets it up: submitters (read access) work from forks
    over git's HTTP with their tokens, the bot is a GitHub App whose token is minted from its key, and
    every answer of the server is checked against GitHub's published description."""

    def __init__(self, tmp_path, spec):
        from tests.github.fake_github import FakeGitHub, github_accounts
        from tests.policy.policy_world import HANDLES, World, dataset, y

        self.tmp = tmp_path
        self.world = World(tmp_path, registry_settings={"host": "github"})
        self.ids, people = github_accounts(self.world.actors, HANDLES, 200)
        self.world.direct({**people, "datasets/2.yaml": y(dataset(2, "do"))}, "GitHub accounts, dataset 2")
        self.server = FakeGitHub(self.world.path, spec=spec)
        for h in HANDLES:
            self.server.add_user(self.token(h), h, self.ids[h], "admin" if h == "admin" else "read")
        self.app_key = make_app(self.server)
        self.server.start()
        self.sleeps: list[float] = []
        self._forges: dict = {}
        self.bot_repo = GitRepo(init_bare(tmp_path / "bot.git").path)
        self.bot_repo.git("remote", "add", "origin", self.server.git_url)

    @staticmethod
    def token(handle: str) -> str:
        return f"ghp_{handle}HOSTING0123456789"

    def forge(self, handle: str, **kwargs):
        from medperf_git.forges.github import GitHubForge

        if handle not in self._forges:
            self._forges[handle] = GitHubForge(
                init_bare(self.tmp / f"clone-{handle}.git"), self.server.git_url, self.world[handle].identity, handle,
                repository=self.server.full_name, token=self.token(handle), base_url=self.server.base_url,
                throttle=False, sleep=self.sleeps.append, **kwargs)
        self._forges[handle].refresh()
        return self._forges[handle]

    def bot_token(self) -> str:
        from medperf_git.forges._github_api import app_token

        return app_token(str(APP_ID), self.app_key, self.server.full_name, self.server.base_url)

    def sweep(self, event: dict | None = None, **kwargs):
        from medperf_git.flows.bot import run_bot

        return run_bot(self.bot_repo, event or {}, repository=self.server.full_name, token=self.bot_token(),
                       base_url=self.server.base_url, throttle=False, sleep=self.sleeps.append, **kwargs)

    def status(self, number: int) -> dict | None:
        from medperf_git.flows.bot import CONTEXT

        return self.server.latest_status(self.server.pulls[number]["head"]["sha"], CONTEXT)


@pytest.fixture
def hosting(tmp_path, openapi_spec):
    pytest.importorskip("github", reason="PyGithub is not installed (pip install -e '.[test]')")
    setup = Hosting(tmp_path, openapi_spec)
    yield setup
    setup.server.stop()
