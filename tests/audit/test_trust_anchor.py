"""The trust anchor: pinned at first use, every fetch audited, a rewritten main refused loudly."""

from __future__ import annotations

import json

import pytest

from medperf_git.errors import AuditFailed
from medperf_git.flows.session import RegistrySession
from medperf_git.registry.clone import RegistryClone
from medperf_git.registry.commits import commit_changes, update_ref
from medperf_git.workspace import Workspace
from tests.policy.policy_world import World, dataset, y


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def open_clone(actor) -> RegistryClone:
    """The actor's clone, made (and verified) by a registry session on first use."""
    with actor.active():
        return RegistrySession.load().clone


def test_first_use_pins_root_and_admin_keys(world):
    clone = open_clone(world["do"])
    with world["do"].active():
        trust = Workspace.load().profile.trust
    assert trust["root_commit"] == world.repo.root_commits("refs/heads/main")[0] == clone.root
    assert len(trust["admin_keys"]) == 1 and trust["admin_keys"][0].startswith("SHA256:")
    assert clone.main == world.main


def test_new_commits_are_audited_on_fetch(world):
    clone = open_clone(world["do"])
    trusted = clone.main
    world.merge(world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))}))
    clone.fetch()
    assert clone.main == world.main
    world.direct({"datasets/3.yaml": y(dataset(3, "do"))}, "sneaked in", who="eve")
    with pytest.raises(AuditFailed, match="NOT-ADMIN"):
        clone.fetch()
    assert clone.main != world.main and clone.repo.is_ancestor(trusted, clone.main)


def test_force_pushed_main_is_refused(world):
    clone = open_clone(world["do"])
    trusted = clone.main
    # an admin rewrites main: drop the last commit and put another in its place
    parent = world.repo.out("rev-parse", "refs/heads/main^")
    rewritten = commit_changes(world.repo, parent, {"README.md": b"Rewritten history\n"}, "rewrite",
                               world["admin"].identity)
    update_ref(world.repo, "refs/heads/main", rewritten, world.main)
    with pytest.raises(AuditFailed, match="not a descendant of the last verified commit") as exc:
        clone.fetch()
    assert "profile trust --reset" in exc.value.hint
    assert clone.main == trusted
    with pytest.raises(AuditFailed):  # loudly, every time
        clone.fetch()


def test_reset_accepts_an_announced_rewrite(world, invoke):
    open_clone(world["do"])
    parent = world.repo.out("rev-parse", "refs/heads/main^")
    rewritten = commit_changes(world.repo, parent, {"README.md": b"Rewritten history\n"}, "rewrite",
                               world["admin"].identity)
    update_ref(world.repo, "refs/heads/main", rewritten, world.main)
    with world["do"].active():
        refused = invoke("registry", "audit")
        assert refused.exit_code == 4 and "trust --reset" in refused.output
        result = invoke("profile", "trust", "--reset")
        assert result.exit_code == 0, result.output
        shown = invoke("profile", "trust", "--json")
        assert json.loads(shown.stdout)["verified_main"] == rewritten
        assert open_clone(world["do"]).main == rewritten


def test_pinned_root_commit_must_match(world, invoke):
    with world["do"].active():
        result = invoke("profile", "trust", "--root-commit", "a" * 40)
        assert result.exit_code == 4 and "pinned" in result.output
        wrong = invoke("profile", "trust", "--root-commit", "xyz")
        assert wrong.exit_code == 1 and "40" in wrong.output
        root = world.repo.root_commits("refs/heads/main")[0]
        assert invoke("profile", "trust", "--root-commit", root).exit_code == 0


def test_registry_audit_cli(world, invoke, tmp_path):
    with world["do"].active():
        clean = invoke("registry", "audit", str(world.path))
        assert clean.exit_code == 0 and "Audit clean" in clean.stdout
        assert invoke("registry", "audit").exit_code == 0  # the profile's clone
    world.direct({"datasets/3.yaml": y(dataset(3, "do"))}, "sneaked in", who="do")
    with world["do"].active():
        bad = invoke("registry", "audit", str(world.path), "--json")
        assert bad.exit_code == 4
        report = json.loads(bad.stdout)
        assert [f["code"] for f in report["findings"]] == ["NOT-ADMIN"] and not report["clean"]
        text = invoke("registry", "audit", str(world.path))
        assert text.exit_code == 4 and "NOT-ADMIN pushed straight onto main by 'do'" in text.stdout
        url = invoke("registry", "audit", f"file://{world.path}")
        assert url.exit_code == 4
        since = invoke("registry", "audit", str(world.path), "--since", world.main)
        assert since.exit_code == 0 and "0 commit(s)" in since.stdout


def test_a_registry_with_an_unsigned_root_is_refused(tmp_path):
    """A root commit not signed by an admin it lists is not a medperf-git registry (or it was replaced):
    its findings are never waved through, not even on first use."""
    from medperf_git.registry.commits import Identity
    from medperf_git.registry.git import init_bare
    from tests.support.actors import make_actor

    repo = init_bare(tmp_path / "plain.git")
    root = commit_changes(repo, None, {"registry.yaml": b"schema_version: 1\nkind: registry\nname: p\n"
                                                        b"admins: [a]\nmedperf_git: x\n"}, "root", Identity("A", "a@x"))
    update_ref(repo, "refs/heads/main", root, None)
    reader = make_actor(tmp_path, "reader", str(repo.path))
    with pytest.raises(AuditFailed, match="UNSIGNED"):
        open_clone(reader)
    with reader.active():
        assert not Workspace.load().profile.trust


def test_first_audit_of_a_tampered_registry_reports_every_finding(world, invoke):
    world.direct({"datasets/3.yaml": y(dataset(3, "do"))}, "sneaked in", who="eve")
    with world["mo"].active():
        result = invoke("registry", "audit")
        assert result.exit_code == 4
        assert "NOT-ADMIN pushed straight onto main by 'eve'" in result.stdout
        with pytest.raises(AuditFailed):  # and reads refuse it too: there is no verified copy to go on from
            RegistrySession.load().fetch(tolerate=True)
