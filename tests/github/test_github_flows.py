"""The publishing flows, unchanged, on a profile whose forge is github (the fake server over a real registry)."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("github", reason="PyGithub is not installed (pip install -e '.[test]')")

from medperf_git.flows.bot import run_bot  # noqa: E402
from medperf_git.flows.session import RegistrySession  # noqa: E402
from medperf_git.flows.submission import open_submission  # noqa: E402
from medperf_git.forges.github import GitHubForge  # noqa: E402
from medperf_git.registry.git import init_bare  # noqa: E402
from tests.github.fake_github import FakeGitHub, github_accounts  # noqa: E402
from tests.policy.policy_world import HANDLES, World, dataset, y  # noqa: E402

BOT_TOKEN = "ghs_botTOKENflows0123456789"


@pytest.fixture
def world(tmp_path, monkeypatch):
    world = World(tmp_path, registry_settings={"host": "github"})
    ids, people = github_accounts(world.actors, HANDLES, 300)
    world.direct(people, "GitHub accounts")
    server = FakeGitHub(world.path).start()
    for h in HANDLES:
        server.add_user(f"ghp_{h}FLOWS0123456789", h, ids[h])
    server.add_user(BOT_TOKEN, "medperf-bot", 999)
    world.server = server
    yield world
    server.stop()


def _github_profile(world, handle: str, monkeypatch, **settings):
    ws = world[handle].workspace()
    ws.profile.forge = "github"
    ws.profile.github = {"repository": world.server.full_name, "base_url": world.server.base_url, "poll": 0.2,
                         **settings}
    ws.config.save()
    monkeypatch.setenv("MEDPERF_GIT_GITHUB_TOKEN", f"ghp_{handle}FLOWS0123456789")
    return RegistrySession(world[handle].workspace())


def test_connect_picks_the_github_forge_and_a_self_service_submission_merges(world, monkeypatch):
    ws = _github_profile(world, "do", monkeypatch, bot=False)
    with world["do"].active():
        ws.fetch()
        assert isinstance(ws.forge, GitHubForge) and ws.forge.bot_merges is False
        result = open_submission(ws, {"datasets/3.yaml": y(dataset(3, "do"))}, "dataset 3", "dataset")
    assert result.merged, result.to_dict()
    pr = world.server.pulls[result.submission.number]
    assert pr["merged"] and world.repo.read_path(world.main, "datasets/3.yaml") is not None
    ws_bo = _github_profile(world, "bo", monkeypatch, bot=False)
    with world["bo"].active():  # another client fetches main with GitHub's merge commit: its audit accepts it
        ws_bo.fetch()
        assert ws_bo.forge.get(result.submission.number).state == "merged"


def test_where_the_bot_merges_the_client_waits_for_it(world, monkeypatch, tmp_path):
    ws = _github_profile(world, "do", monkeypatch, wait=60)
    bot_repo = init_bare(tmp_path / "bot.git")
    bot_repo.git("remote", "add", "origin", str(world.path))
    stop = threading.Event()
    seen: dict[int, float] = {}

    def bot_loop():  # as on GitHub, the bot acts after the validate workflow, not within the second
        while not stop.is_set():
            for number, pr in list(world.server.pulls.items()):
                if pr["state"] == "open" and time.monotonic() - seen.setdefault(number, time.monotonic()) > 2:
                    event = {"workflow_run": {"pull_requests": [{"number": number}]}}
                    run_bot(bot_repo, event, repository=world.server.full_name, token=BOT_TOKEN,
                            base_url=world.server.base_url, throttle=False, sleep=lambda s: None)
            stop.wait(0.3)

    thread = threading.Thread(target=bot_loop, daemon=True)
    thread.start()
    try:
        with world["do"].active():
            result = open_submission(ws, {"datasets/3.yaml": y(dataset(3, "do"))}, "dataset 3", "dataset")
    finally:
        stop.set()
        thread.join(30)
    assert result.merged and result.submission.state == "merged", result.to_dict()
    assert result.submission.merged_by in ("medperf-git[bot]", "medperf-bot")  # the bot pushed the merge


def test_no_wait_leaves_the_merge_to_the_bot(world, monkeypatch):
    ws = _github_profile(world, "do", monkeypatch, wait=0)
    with world["do"].active():
        result = open_submission(ws, {"datasets/3.yaml": y(dataset(3, "do"))}, "dataset 3", "dataset")
    assert not result.merged and result.submission.state == "open"
    assert not world.server.pulls[result.submission.number]["merged"]


def test_person_register_fills_the_github_login_and_id_and_the_bot_matches_them(world, monkeypatch, tmp_path):
    import yaml

    from medperf_git.flows.person import register
    from tests.support.actors import make_actor

    newbie = make_actor(tmp_path, "newbie", str(world.path), forge="github",
                        github={"repository": world.server.full_name, "base_url": world.server.base_url,
                                "wait": 0})
    world.server.add_user("ghp_newbieFLOWS0123456789", "new-bie", 777)
    monkeypatch.setenv("MEDPERF_GIT_GITHUB_TOKEN", "ghp_newbieFLOWS0123456789")
    with newbie.active():
        result = register(RegistrySession(newbie.workspace()), handle="newbie", name="New Bie",
                          email="newbie@example.org")
    sub = result.opened.submission
    head = world.server.pulls[sub.number]["head"]["sha"]
    record = yaml.safe_load(world.repo.read_path(head, "people/newbie.yaml"))
    assert record["accounts"] == [{"forge": "github", "login": "new-bie", "id": 777}]
    bot_repo = init_bare(tmp_path / "bot.git")
    bot_repo.git("remote", "add", "origin", str(world.path))
    outcome = run_bot(bot_repo, {"workflow_run": {"pull_requests": [{"number": sub.number}]}},
                      repository=world.server.full_name, token=BOT_TOKEN, base_url=world.server.base_url,
                      throttle=False, sleep=lambda s: None)[0]
    assert outcome.problems == [] and outcome.action in ("waiting", "merged"), outcome.to_dict()


def test_container_submit_no_wait_returns_while_the_bot_has_not_merged(world, monkeypatch, invoke):
    from tests.support.tutorial_registry import EXAMPLES

    _github_profile(world, "mo", monkeypatch)  # the bot merges: without --no-wait this would wait
    with world["mo"].active():
        result = invoke("container", "submit", "--name", "another-model", "--config",
                        str(EXAMPLES / "model_reference" / "container_config.yaml"), "--image",
                        "registry.example.org/another:1.0", "--image-hash", "sha256:" + "a" * 64, "-y", "--no-wait")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert [pr["state"] for pr in world.server.pulls.values()] == ["open"]
    assert "medperf-git submission show 1" in result.stdout + result.stderr
