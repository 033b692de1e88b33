"""The attacks of "Bad input and attacks": each is refused, judged from signatures and base records."""

from __future__ import annotations

import pytest

from medperf_git.errors import PolicyDenied
from medperf_git.policy.approvals import approvals, content_author, is_approval_commit
from medperf_git.policy.base import BaseRecords
from medperf_git.policy.lineage import lineage
from medperf_git.policy.review import review_submission
from medperf_git.registry.commits import Identity, commit_changes, commit_tree
from medperf_git.registry.signing import generate_key
from medperf_git.registry.verify import read_commit
from tests.policy.policy_world import World, association, benchmark, dataset, result, y


@pytest.fixture
def world(tmp_path) -> World:
    w = World(tmp_path)
    w.direct({"datasets/2.yaml": y(dataset(2, "do")), "results/1/b1m4d1.yaml": y(result(4, 1, "do"))}, "more")
    return w


def review(world: World, head: str):
    return review_submission(world.repo, "refs/heads/main", head)


def request(world: World) -> str:
    return world.submit("do", {"associations/1/dataset-2.yaml": y(association("dataset", 2, "do"))})


def test_editing_or_deleting_a_result_is_refused(world):
    edited = result(4, 1, "do", metrics={"accuracy": 1.0})
    assert [f.code for f in review(world, world.submit("do", {"results/1/b1m4d1.yaml": y(edited)})).verdict
            .violations] == ["RESULT-EDITED"]
    assert [f.code for f in review(world, world.submit("do", {"results/1/b1m4d1.yaml": None})).verdict
            .violations] == ["DELETED"]


def test_touching_a_non_record_path_inside_the_record_folders_is_refused(world):
    v = review(world, world.submit("do", {"datasets/notes.txt": b"hello\n"})).verdict
    assert [f.code for f in v.violations] == ["OUT-OF-SCOPE"]


def test_granting_oneself_rights_takes_effect_only_after_merge(world):
    """eve adds herself to the committee and approves a request in the same breath: both refused."""
    grab = world.submit("eve", {"benchmarks/1.yaml": y(benchmark(owners=["bo", "eve"]))})
    v = review(world, grab).verdict
    assert not v.allowed  # eve is no owner on the base
    # a key added in the submission does not count for approvals in that submission
    thief_key = generate_key(world.path.parent / "thief" / "id_ed25519", "thief")
    head = request(world)
    forged = commit_tree(world.repo, world.repo.out("rev-parse", f"{head}^{{tree}}"), [head],
                         "Approve\n\nApproved-by: bo", Identity("Bo", "bo@example.org", str(thief_key)))
    found = review(world, forged).approvals
    assert [(a.handle, a.valid) for a in found] == [("bo", False)]
    assert "not listed" in found[0].reason


def test_approval_by_initiator_or_outsider_does_not_count(world):
    head = request(world)
    own = review(world, world.approve("do", head))
    assert not own.verdict.mergeable and own.approvals[0].reason == "the initiator cannot approve their own request"
    outsider = review(world, world.approve("eve", head))
    assert outsider.approvals[0].valid and not outsider.verdict.mergeable  # valid signature, but not committee
    assert outsider.verdict.requirements[0].approved_by == []


def test_approval_naming_someone_else_is_invalid(world):
    head = request(world)
    fake = review(world, world.approve("eve", head, handle="bo"))
    assert not fake.approvals[0].valid and not fake.verdict.mergeable


def test_unsigned_approval_does_not_count(world):
    head = request(world)
    tree = world.repo.out("rev-parse", f"{head}^{{tree}}")
    unsigned = commit_tree(world.repo, tree, [head], "Approve\n\nApproved-by: bo", Identity("Bo", "bo@example.org"))
    found = review(world, unsigned).approvals
    assert found[0].reason == "not validly signed (unsigned)"


def test_commit_pushed_after_the_approval_voids_it(world):
    head = request(world)
    approved = world.approve("bo", head)
    assert review(world, approved).verdict.mergeable
    later = world.submit("do", {"datasets/2.yaml": y({**dataset(2, "do"), "description": "sneaky"})}, parent=approved)
    r = review(world, later)
    assert r.approvals == [] and not r.verdict.mergeable
    # a merge of main into the head voids it too
    world.direct({"datasets/3.yaml": y(dataset(3, "do"))}, "main moves")
    merged = commit_tree(world.repo, world.repo.out("merge-tree", "--write-tree", approved, world.main).split()[0],
                         [approved, world.main], "Merge main", world["do"].identity)
    assert not is_approval_commit(read_commit(world.repo, merged))
    r = review(world, merged)
    assert r.approvals == [] and not r.verdict.mergeable and r.author == "do"


def test_forged_author_metadata_is_ignored(world):
    """Signed by eve with bo's name and email: the author is eve."""
    forged = Identity("Bo", "bo@example.org", str(world["eve"].key))
    data = world.read("benchmarks/1.yaml")
    data["description"] = "rewritten by someone else"
    head = commit_changes(world.repo, world.main, {"benchmarks/1.yaml": y(data)}, "Edit", forged)
    r = review(world, head)
    assert r.author == "eve" and [f.code for f in r.verdict.violations] == ["NOT-PERMITTED"]
    # and an approval claiming to be bo but signed by eve is not bo's
    assert not review(world, world.approve("eve", request(world), handle="bo")).approvals[0].valid


def test_content_author_refuses_unsigned_unknown_and_mixed(world):
    people = BaseRecords(world.repo, world.main).people
    unsigned = commit_changes(world.repo, world.main, {"datasets/3.yaml": y(dataset(3, "do"))}, "x",
                              Identity("Do", "do@example.org"))
    with pytest.raises(PolicyDenied, match="not validly signed"):
        content_author(world.repo, lineage(world.repo, world.main, unsigned), people)
    stranger = generate_key(world.path.parent / "s" / "id_ed25519", "s")
    unknown = commit_changes(world.repo, world.main, {"datasets/3.yaml": y(dataset(3, "do"))}, "x",
                             Identity("Do", "do@example.org", str(stranger)))
    with pytest.raises(PolicyDenied, match="no person on the base lists"):
        content_author(world.repo, lineage(world.repo, world.main, unknown), people)
    first = world.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    mixed = world.submit("eve", {"datasets/4.yaml": y(dataset(4, "eve"))}, parent=first)
    with pytest.raises(PolicyDenied, match="several people"):
        content_author(world.repo, lineage(world.repo, world.main, mixed), people)
    assert content_author(world.repo, lineage(world.repo, world.main, first), people) == "do"
    assert [f.code for f in review(world, mixed).verdict.violations] == ["SIGNATURE"]


def test_approvals_stop_at_main(world):
    """Approval-shaped commits already on main are not this submission's approvals."""
    people = BaseRecords(world.repo, world.main).people
    assert approvals(world.repo, lineage(world.repo, world.main, world.main), people) == []
