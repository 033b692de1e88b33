"""Submission events are judged by the keys their signer had when they were made: a rotated key keeps
its earlier events valid, and a key added to a record later cannot sign an event dated before it."""

from __future__ import annotations

from medperf_git.records.yamlio import dump_yaml
from medperf_git.registry import submissions
from medperf_git.registry.commits import Identity
from medperf_git.registry.signing import generate_key, public_key
from tests.policy.policy_world import World, dataset, y


def rotate(world: World, handle: str, tmp_path, keep_old: bool = False) -> Identity:
    """``handle``'s record on main gets a new key (signed by the admin); returns an identity with it."""
    actor = world[handle]
    key = generate_key(tmp_path / f"rotated-{handle}" / "id_ed25519", f"{handle}@rotated")
    record = world.read(f"people/{handle}.yaml")
    record["keys"] = ([*record["keys"]] if keep_old else []) + [public_key(key)]
    world.direct({f"people/{handle}.yaml": dump_yaml(record).encode()}, f"{handle} rotates their key")
    return Identity(actor.name, actor.email, str(key))


def audit(world: World, invoke, who: str = "bo"):
    with world[who].active():
        return invoke("registry", "audit", str(world.path))


def test_events_signed_before_a_rotation_stay_valid(tmp_path, invoke):
    world = World(tmp_path)
    head = world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))})
    world.merge(head)  # do's opened event and the admin's merged event, with the keys of that time
    assert audit(world, invoke).exit_code == 0
    rotate(world, "do", tmp_path)
    rotate(world, "admin", tmp_path)
    result = audit(world, invoke)
    assert result.exit_code == 0, result.output
    assert "META" not in result.output


def test_a_key_added_later_cannot_sign_an_earlier_event(tmp_path, invoke):
    world = World(tmp_path)
    new = rotate(world, "do", tmp_path, keep_old=True)
    head = world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))})
    summary = {"number": 1, "title": "dataset 2", "author": "do", "kind": "dataset", "base": world.main,
               "state": "open"}
    # Signed with the key that joined do's record just now, but dated a year before it did.
    meta = submissions.event_commit(world.repo, new, "do", None, summary, 1, "opened", head=head,
                                    at="2000-01-01T00:00:00Z")
    world.repo.git("update-ref", "refs/pull/1/head", head)
    world.repo.git("update-ref", "refs/pull/1/meta", meta)
    result = audit(world, invoke)
    assert result.exit_code == 4
    assert ("META submission #1: the opened event by 'do' does not count: signed with a key that 'do' has "
            "listed only since") in result.stdout
    assert "after the event's time (2000-01-01T00:00:00Z)" in result.stdout
    # The same key, at the event's true time, counts.
    meta = submissions.event_commit(world.repo, new, "do", None, summary, 1, "opened", head=head)
    world.repo.git("update-ref", "refs/pull/1/meta", meta)
    assert audit(world, invoke).exit_code == 0


def test_a_rotated_away_key_cannot_be_claimed_by_another_person(tmp_path, invoke):
    """do's old key, still listed by nobody now, speaks only for do, and only before the rotation."""
    world = World(tmp_path)
    old = world["do"].identity
    rotate(world, "do", tmp_path)
    head = world.submit("eve", {"datasets/2.yaml": y(dataset(2, "eve"))})
    summary = {"number": 1, "title": "dataset 2", "author": "eve", "kind": "dataset", "base": world.main,
               "state": "open"}
    meta = submissions.event_commit(world.repo, old, "eve", None, summary, 1, "opened", head=head)
    world.repo.git("update-ref", "refs/pull/1/head", head)
    world.repo.git("update-ref", "refs/pull/1/meta", meta)
    result = audit(world, invoke)
    assert result.exit_code == 4
    # Refused either way: as do's key speaking for eve (rotation and event in the same second, when the key
    # still counts as do's), or as a key nobody listed at the event's time.
    assert "the opened event by 'eve' does not count: " in result.stdout
    assert ("claims to be by 'eve' but is signed by 'do'" in result.stdout
            or "signed by a key that no person listed at the event's time" in result.stdout)
