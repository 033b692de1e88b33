"""The contract every forge honours, as reusable tests.

A forge's test module imports these tests and defines a ``forge_harness`` fixture that yields an
object with this shape (see ``test_gitnative_forge.py``):

- ``forge(handle) -> Forge``: that person's forge, with their own local state and signing key;
- ``content_commit(handle, changes) -> sha``: a signed commit on top of main, reachable by that forge;
- ``approval_commit(handle, head) -> sha``: a signed approval commit on top of ``head``;
- ``remote_main() -> sha`` and ``first_parents() -> list[sha]``: main on the remote, and its first-parent chain.

Handles ``admin``, ``bo`` and ``mo`` exist.
"""

from __future__ import annotations

import pytest

from medperf_git.forges.base import MergeConflict, RaceLost, SubmissionNotFound, SubmissionNotOpen
from medperf_git.registry.commits import commit_changes, commit_tree


class HarnessBase:
    """What every forge's harness shares; a subclass sets ``actors`` and ``remote`` and defines ``forge``."""

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


def _open(h, handle: str, path: str, content: bytes = b"v: 1\n", title: str = "a change"):
    forge = h.forge(handle)
    forge.refresh()
    head = h.content_commit(handle, {path: content})
    return forge, forge.open(head, title=title, kind="container", base=h.remote_main())


def test_open_allocates_numbers_and_records_who_and_what(forge_harness):
    h = forge_harness
    forge, first = _open(h, "bo", "containers/1.yaml", title="first")
    _, second = _open(h, "mo", "containers/2.yaml", title="second")
    assert (first.number, second.number) == (1, 2)
    got = forge.get(1)
    assert (got.title, got.author, got.kind, got.state) == ("first", "bo", "container", "open")
    assert got.head == first.head and got.base == first.base
    assert [e.type for e in got.events] == ["opened"] and got.events[0].by == "bo"


def test_a_stale_client_gets_the_next_free_number(forge_harness):
    h = forge_harness
    stale = h.forge("mo")
    stale.refresh()
    head = h.content_commit("mo", {"containers/2.yaml": b"v: 2\n"})
    _open(h, "bo", "containers/1.yaml")
    sub = stale.open(head, title="late", kind="container", base=h.remote_main())
    assert sub.number == 2
    numbers = [s.number for s in h.forge("admin").list()]
    assert numbers == [1, 2]


def test_get_an_unknown_number_fails_clearly(forge_harness):
    forge = forge_harness.forge("bo")
    forge.refresh()
    with pytest.raises(SubmissionNotFound, match="no submission #7"):
        forge.get(7)


def test_list_filters_by_state(forge_harness):
    h = forge_harness
    _open(h, "bo", "containers/1.yaml")
    forge, second = _open(h, "bo", "containers/2.yaml")
    forge.close(second.number, "not needed")
    assert [s.number for s in forge.list("open")] == [1]
    assert [s.number for s in forge.list("closed")] == [2]
    assert forge.list("merged") == []


def test_approval_goes_on_top_of_the_head_with_compare_and_swap(forge_harness):
    h = forge_harness
    _, sub = _open(h, "bo", "containers/1.yaml")
    admin = h.forge("admin")
    admin.refresh()
    approval = h.approval_commit("admin", sub.head)
    after = admin.add_approval(sub.number, approval, expected_head=sub.head)
    assert after.head == approval
    assert any(e.type == "approved" and e.by == "admin" for e in after.events)
    stale = h.approval_commit("mo", sub.head)
    with pytest.raises(RaceLost):
        admin.add_approval(sub.number, stale, expected_head=sub.head)
    assert admin.get(sub.number).head == approval


def test_merge_makes_a_merge_commit_on_main_exactly_once(forge_harness):
    h = forge_harness
    _, sub = _open(h, "bo", "containers/1.yaml")
    admin = h.forge("admin")
    admin.refresh()
    old_main = h.remote_main()
    merged = admin.merge(sub.number)
    assert merged.state == "merged" and merged.merged_commit == h.remote_main()
    assert h.first_parents()[:2] == [merged.merged_commit, old_main]
    assert merged.merged_by == "admin"
    with pytest.raises(SubmissionNotOpen, match="merged"):
        admin.merge(sub.number)
    bo = h.forge("bo")
    bo.refresh()
    assert bo.get(sub.number).state == "merged"


def test_merge_check_can_refuse_and_main_does_not_move(forge_harness):
    h = forge_harness
    _, sub = _open(h, "bo", "containers/1.yaml")
    admin = h.forge("admin")
    admin.refresh()
    before = h.remote_main()

    def refuse(merged: str, main: str) -> None:
        assert main == before
        raise RuntimeError("lint failed")

    with pytest.raises(RuntimeError, match="lint failed"):
        admin.merge(sub.number, check=refuse)
    assert h.remote_main() == before
    assert admin.get(sub.number).state == "open"


def test_a_path_changed_on_both_sides_is_a_conflict(forge_harness):
    h = forge_harness
    _, one = _open(h, "bo", "containers/1.yaml", b"v: bo\n")
    _, two = _open(h, "mo", "containers/1.yaml", b"v: mo\n")
    admin = h.forge("admin")
    admin.refresh()
    admin.merge(one.number)
    before = h.remote_main()
    with pytest.raises(MergeConflict, match="containers/1.yaml"):
        admin.merge(two.number)
    assert h.remote_main() == before


def test_merging_with_a_stale_main_retries_and_keeps_history_linear(forge_harness):
    h = forge_harness
    _, one = _open(h, "bo", "containers/1.yaml")
    _, two = _open(h, "mo", "containers/2.yaml")
    first, second = h.forge("admin"), h.forge("bo")
    first.refresh()
    second.refresh()
    first.merge(one.number)
    merged = second.merge(two.number)  # its view of main is stale: the lease fails, it re-fetches and retries
    chain = h.first_parents()
    assert chain[0] == merged.merged_commit
    assert chain[1] == first.get(one.number).merged_commit


def test_close_records_the_reason_and_blocks_further_actions(forge_harness):
    h = forge_harness
    forge, sub = _open(h, "bo", "containers/1.yaml")
    closed = forge.close(sub.number, "opened by mistake")
    assert (closed.state, closed.close_reason, closed.closed_by) == ("closed", "opened by mistake", "bo")
    admin = h.forge("admin")
    admin.refresh()
    with pytest.raises(SubmissionNotOpen, match="closed"):
        admin.merge(sub.number)
    with pytest.raises(SubmissionNotOpen):
        admin.add_approval(sub.number, h.approval_commit("admin", sub.head), expected_head=sub.head)


def test_update_moves_the_head_forward(forge_harness):
    h = forge_harness
    forge, sub = _open(h, "bo", "containers/1.yaml")
    newer = h.content_commit("bo", {"containers/1.yaml": b"v: 2\n"}, parent=sub.head)
    after = forge.update(sub.number, newer, expected_head=sub.head, reason="renumbered")
    assert after.head == newer
    assert after.events[-1].type == "updated"
    with pytest.raises(RaceLost):
        forge.update(sub.number, newer, expected_head=sub.head, reason="again")
