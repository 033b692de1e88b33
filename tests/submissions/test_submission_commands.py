"""`submission` and `review` end to end: several people, each with their own home and key, one bare registry."""

from __future__ import annotations

import json

import pytest

from medperf_git.flows.session import RegistrySession
from medperf_git.flows.submission import open_submission
from medperf_git.forges.gitnative import GitNativeForge
from medperf_git.registry.commits import Identity
from medperf_git.registry.git import GitRepo, init_bare
from tests.submissions.helpers import assert_linear_history, container, merges_of, pull_numbers
from tests.support.actors import seed_registry


@pytest.fixture
def reg(tmp_path):
    path, actors = seed_registry(tmp_path, ["admin", "bo", "mo"])
    return path, actors


def _open(actor, changes, title="t", kind="container", **kw):
    with actor.active():
        return open_submission(RegistrySession.load(), changes, title, kind, **kw)


def test_self_service_submission_merges_at_once(reg, invoke):
    path, actors = reg
    result = _open(actors["bo"], {"containers/1.yaml": container(1, "bo")}, "my model")
    assert result.merged and result.submission.number == 1
    assert merges_of(path) == {1: [result.submission.merged_commit]}
    with actors["bo"].active():
        listed = invoke("submission", "ls", "--mine", "--json")
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert [(s["number"], s["state"]) for s in data["submissions"]] == [(1, "merged")]
    assert data["outbox"] == []


def test_a_taken_id_is_renumbered_before_opening(reg):
    path, actors = reg
    _open(actors["bo"], {"containers/1.yaml": container(1, "bo")})
    result = _open(actors["mo"], {"containers/1.yaml": container(1, "mo")})
    assert result.merged
    assert result.renumbered == {"containers/1.yaml": "containers/2.yaml"}
    data = GitRepo(path).read_path("refs/heads/main", "containers/2.yaml").decode()
    assert "id: 2" in data and "owner: mo" in data


def test_collision_between_open_submissions_is_renumbered_by_the_author(reg, invoke):
    path, actors = reg
    one = _open(actors["bo"], {"containers/1.yaml": container(1, "bo")}, merge=False)
    two = _open(actors["mo"], {"containers/1.yaml": container(1, "mo")}, merge=False, renumber=False)
    assert (one.submission.state, two.submission.state) == ("open", "open")
    with actors["bo"].active():
        refused = invoke("submission", "renumber", "2")
    assert refused.exit_code == 4 and "only its author can renumber it" in refused.stderr
    with actors["mo"].active():
        done = invoke("submission", "renumber", "2")
    assert done.exit_code == 0, done.output
    assert "containers/1.yaml -> containers/2.yaml" in done.stderr
    with actors["bo"].active():
        invoke("submission", "renumber", "1")  # no collision left: merges its own self-service submission
    assert sorted(merges_of(path)) == [1, 2]
    assert_linear_history(path)


def test_approval_flow_with_policy(reg, invoke):
    path, actors = reg
    opened = _open(actors["mo"], {"README.md": b"# a better readme\n"}, "readme", "registry")
    assert not opened.merged and "registry admins" in opened.waiting
    number = opened.submission.number
    with actors["admin"].active():
        listed = invoke("review", "ls", "--json")
        shown = invoke("submission", "show", str(number))
    assert [a["number"] for a in json.loads(listed.stdout)] == [number]
    assert "missing: 1 approval from the registry admins (admin)" in shown.stdout
    assert "changed  README.md" in shown.stdout
    with actors["mo"].active():
        assert json.loads(invoke("review", "ls", "--json").stdout) == []
        own = invoke("review", "approve", str(number), "-y")
    assert own.exit_code == 4 and "the initiator never approves their own request" in own.stderr
    with actors["bo"].active():
        other = invoke("review", "approve", str(number), "-y")
    assert other.exit_code == 4 and "not entitled" in other.stderr
    with actors["admin"].active():
        approved = invoke("review", "approve", str(number), "-y")
        again = invoke("review", "approve", str(number), "-y")
    assert approved.exit_code == 0, approved.output
    assert f"Approved and merged submission #{number}" in approved.stderr
    assert again.exit_code == 1 and f"submission #{number} is already merged (by admin)" in again.stderr
    merge = merges_of(path)[number][0]
    repo = GitRepo(path)
    head = repo.out("rev-parse", f"{merge}^2")
    assert "Approved-by: admin" in repo.out("log", "-1", "--format=%B", head)
    assert repo.out("rev-parse", f"{head}^{{tree}}") == repo.out("rev-parse", f"{head}^^{{tree}}")


def test_approve_asks_first_and_no_means_nothing_happens(reg, invoke):
    _, actors = reg
    number = _open(actors["mo"], {"README.md": b"x\n"}, "readme", "registry").submission.number
    with actors["admin"].active():
        answer = invoke("review", "approve", str(number), input="n\n")
        state = json.loads(invoke("submission", "ls", "--json").stdout)["submissions"][0]["state"]
    assert answer.exit_code == 0 and "You are about to approve" in answer.stderr
    assert "Nothing was approved." in answer.stderr and state == "open"


def test_reject_and_withdraw(reg, invoke):
    _, actors = reg
    first = _open(actors["mo"], {"README.md": b"x\n"}, "readme", "registry").submission.number
    second = _open(actors["mo"], {"README.md": b"y\n"}, "readme 2", "registry").submission.number
    with actors["bo"].active():
        not_entitled = invoke("review", "reject", str(first), "--reason", "no", "-y")
        not_author = invoke("submission", "withdraw", str(second), "-y")
    assert not_entitled.exit_code == 4 and not_author.exit_code == 4
    with actors["admin"].active():
        rejected = invoke("review", "reject", str(first), "--reason", "duplicate of the docs", "-y")
        late = invoke("review", "approve", str(first), "-y")
    assert rejected.exit_code == 0, rejected.output
    assert late.exit_code == 1 and f"submission #{first} is closed: duplicate of the docs" in late.stderr
    with actors["mo"].active():
        withdrawn = invoke("submission", "withdraw", str(second), "--reason", "changed my mind", "-y")
        shown = invoke("submission", "show", str(first))
        closed = json.loads(invoke("submission", "ls", "--state", "closed", "--json").stdout)["submissions"]
    assert withdrawn.exit_code == 0
    assert "state:   closed: duplicate of the docs (by admin)" in shown.stdout
    assert {(s["number"], s["closed_by"]) for s in closed} == {(first, "admin"), (second, "mo")}


def test_meta_events_by_someone_not_entitled_or_forged_are_ignored(reg, invoke, tmp_path):
    path, actors = reg
    number = _open(actors["mo"], {"README.md": b"x\n"}, "readme", "registry").submission.number
    bo = actors["bo"]
    clone = init_bare(tmp_path / "attacker.git")
    blind = lambda sub, event: "ignored" if event.type == "closed" else None  # noqa: E731 - an attacker's tool
    intruder = GitNativeForge(clone, str(path), bo.identity, "bo", judge=blind)
    intruder.refresh()
    intruder.close(number, "bo closes what is not his")
    # A second event that claims to be the admin's, signed with bo's key.
    forger = GitNativeForge(clone, str(path), Identity("Admin", "admin@example.org", str(bo.key)), "admin",
                            judge=blind)
    forger.refresh()
    forger.close(number, "forged")
    with actors["admin"].active():
        shown = invoke("submission", "show", str(number))
        approved = invoke("review", "approve", str(number), "-y")
    assert "state:   open" in shown.stdout
    assert "'bo' is neither the author nor an entitled approver, so cannot close it" in shown.stderr
    assert "claims to be by 'admin' but is signed by 'bo'" in shown.stderr
    assert approved.exit_code == 0, approved.output


def test_unreachable_remote_keeps_the_submission_and_the_command_resumes(reg, invoke):
    path, actors = reg
    _open(actors["bo"], {"containers/1.yaml": container(1, "bo")})  # bo's clone exists
    hidden = path.with_name("registry-away.git")
    path.rename(hidden)
    changes = {"containers/2.yaml": container(2, "bo")}
    from medperf_git.errors import RemoteUnavailable

    with pytest.raises(RemoteUnavailable, match="prepared and kept"):
        _open(actors["bo"], changes, "second model")
    with actors["bo"].active():
        listed = invoke("submission", "ls", "--json")
    pending = json.loads(listed.stdout)["outbox"]
    assert [e["title"] for e in pending] == ["second model"]
    hidden.rename(path)
    result = _open(actors["bo"], changes, "second model")
    assert result.resumed and result.merged and result.submission.number == 2
    with actors["bo"].active():
        assert json.loads(invoke("submission", "ls", "--json").stdout)["outbox"] == []
    assert pull_numbers(path) == [1, 2]


def test_old_git_is_refused_with_a_clear_message(reg, invoke, monkeypatch):
    _, actors = reg
    import medperf_git.registry.git as gitmod

    monkeypatch.setattr(gitmod, "git_version", lambda: (2, 30, 1))
    with actors["bo"].active():
        result = invoke("submission", "ls")
    assert result.exit_code == 1
    assert "git 2.30.1 is too old: medperf-git needs git 2.34 or newer" in result.stderr


def test_review_ls_reuses_verdicts_until_main_changes_what_decides_them(reg, monkeypatch):
    import yaml

    from medperf_git.flows import review
    from medperf_git.records.yamlio import dump_yaml

    path, actors = reg
    opened = _open(actors["mo"], {"README.md": b"x\n"}, "readme", "registry").submission
    number, head = opened.number, opened.head
    computed = []
    real = review._policy_rows
    monkeypatch.setattr(review, "_policy_rows", lambda s, main, heads: computed.extend(heads) or real(s, main, heads))

    def awaiting() -> list[int]:
        with actors["admin"].active():
            return [a.number for a in review.awaiting_me(RegistrySession.load())[0]]

    assert awaiting() == [number] and computed == [head]
    assert _open(actors["bo"], {"containers/1.yaml": container(1, "bo")}).merged  # a new record only
    assert awaiting() == [number] and computed == [head]
    bo = yaml.safe_load(GitRepo(path).read_path("refs/heads/main", "people/bo.yaml"))
    bo["email"] = "bo@elsewhere.org"
    assert _open(actors["bo"], {"people/bo.yaml": dump_yaml(bo).encode()}, "new email", "person",
                 renumber=False).merged  # people changed: verdicts are computed again
    assert awaiting() == [number] and computed == [head, head]
