"""`person register`: a key made in the workspace, the person record's submission, unique handles."""

from __future__ import annotations

import json

import pytest

from medperf_git.registry.git import GitRepo
from medperf_git.registry.signing import generate_key
from medperf_git.workspace import Workspace
from medperf_git.workspace.config import Config, Profile
from tests.submissions.helpers import merges_of, pull_numbers
from tests.support.actors import Actor, seed_registry


def newcomer(tmp_path, registry, handle: str = "newbie") -> Actor:
    """Someone with a profile pointing at the registry, but no handle and no key yet."""
    home = tmp_path / f"home-{handle}"
    Config(home / "config.yaml", "default", {"default": Profile("default", registry=str(registry))}).save()
    return Actor(handle, home, home / "keys" / handle / "id_ed25519")


def test_register_generates_a_key_and_admins_approve(tmp_path, invoke):
    path, actors = seed_registry(tmp_path, ["admin", "bo"])
    new = newcomer(tmp_path, path)
    with new.active():
        result = invoke("person", "register", "-y", "--handle", "newbie", "--name", "New Bie",
                        "--email", "nb@example.org")
        profile = Workspace.load().profile
    assert result.exit_code == 0, result.output
    assert "Opened submission #1 to register 'newbie'" in result.stderr
    assert "PRIVATE KEY" not in result.output
    assert profile.handle == "newbie" and profile.signing_key == str(new.key) and new.key.exists()
    assert oct(new.key.stat().st_mode & 0o777) == "0o600"
    with actors["admin"].active():
        waiting = json.loads(invoke("review", "ls", "--json").stdout)
        approved = invoke("review", "approve", "1", "-y")
    assert [w["number"] for w in waiting] == [1]
    assert approved.exit_code == 0, approved.output
    record = GitRepo(path).read_path("refs/heads/main", "people/newbie.yaml").decode()
    assert "name: New Bie" in record and new.key.with_name("id_ed25519.pub").read_text().split()[1] in record
    assert list(merges_of(path)) == [1]


def test_a_taken_handle_is_refused_before_anything_is_pushed(tmp_path, invoke):
    path, _ = seed_registry(tmp_path, ["admin", "bo"])
    new = newcomer(tmp_path, path, "bo")
    with new.active():
        result = invoke("person", "register", "-y", "--handle", "bo", "--name", "Bo Two", "--email", "b2@example.org")
    assert result.exit_code == 1
    assert "Error: the handle 'bo' is taken in this registry" in result.stderr
    assert pull_numbers(path) == []


def test_a_handle_requested_in_an_open_submission_is_refused(tmp_path, invoke):
    path, _ = seed_registry(tmp_path, ["admin"])
    first, second = newcomer(tmp_path, path, "first"), newcomer(tmp_path, path, "second")
    with first.active():
        opened = invoke("person", "register", "-y", "--handle", "carol", "--name", "C", "--email", "c@example.org")
    assert opened.exit_code == 0, opened.output
    with second.active():
        result = invoke("person", "register", "-y", "--handle", "carol", "--name", "C2", "--email", "c2@example.org")
    assert result.exit_code == 1
    assert "the handle 'carol' is already requested in submission #1" in result.stderr
    assert pull_numbers(path) == [1]


def test_open_registration_merges_at_once_with_a_given_key(tmp_path, invoke):
    path, _ = seed_registry(tmp_path, ["admin"], registry_settings={"open_registration": True})
    new = newcomer(tmp_path, path)
    key = generate_key(tmp_path / "mykey", "mine")
    with new.active():
        result = invoke("person", "register", "-y", "--handle", "newbie", "--name", "N", "--email", "n@example.org",
                        "--key", str(key))
        profile = Workspace.load().profile
    assert result.exit_code == 0, result.output
    assert "Registered as 'newbie'" in result.stderr
    assert profile.signing_key == str(key) and not new.key.exists()
    assert list(merges_of(path)) == [1]


@pytest.mark.parametrize("handle", ["Bad_Handle", "-x", "a" * 40])
def test_invalid_handles_are_usage_errors(tmp_path, invoke, handle):
    path, _ = seed_registry(tmp_path, ["admin"])
    with newcomer(tmp_path, path).active():
        result = invoke("person", "register", "-y", "--handle", handle, "--name", "N", "--email", "n@example.org")
    assert result.exit_code == 2 and f"invalid handle '{handle}'" in result.stderr


def test_register_shows_the_record_and_publishes_nothing_on_no(tmp_path, invoke):
    path, _ = seed_registry(tmp_path, ["admin"])
    new = newcomer(tmp_path, path)
    with new.active():
        result = invoke("person", "register", "--handle", "shy", "--name", "Shy One", "--email", "shy@example.org",
                        input="n\n")
    assert result.exit_code == 1
    assert "handle: shy" in result.stderr and "everyone who can read the registry" in result.stderr
    assert "nothing was submitted" in result.stderr
    assert GitRepo(path).out("for-each-ref", "refs/pull") == ""
