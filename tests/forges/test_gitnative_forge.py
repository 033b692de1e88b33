"""The forge contract on the git-native forge, against a real bare repository."""

from __future__ import annotations

import pytest
import yaml

from medperf_git.forges.gitnative import GitNativeForge
from medperf_git.registry.git import GitRepo, init_bare
from tests.forges.contract import *  # noqa: F403 - the contract's tests run here
from tests.forges.contract import HarnessBase
from tests.support.actors import seed_registry


class GitNativeHarness(HarnessBase):
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.path, self.actors = seed_registry(tmp_path, ["admin", "bo", "mo"])
        self.remote = GitRepo(self.path)
        self._forges: dict[str, GitNativeForge] = {}

    def forge(self, handle: str) -> GitNativeForge:
        if handle not in self._forges:
            clone = init_bare(self.tmp / f"clone-{handle}.git")
            forge = GitNativeForge(clone, str(self.path), self.actors[handle].identity, handle)
            forge.refresh()
            self._forges[handle] = forge
        return self._forges[handle]



@pytest.fixture
def forge_harness(tmp_path):
    return GitNativeHarness(tmp_path)


def test_meta_chain_is_signed_and_holds_one_event_file_per_action(forge_harness):
    h = forge_harness
    forge = h.forge("bo")
    head = h.content_commit("bo", {"containers/1.yaml": b"v: 1\n"})
    sub = forge.open(head, title="t", kind="container", base=forge.main)
    forge.close(sub.number, "why")
    files = h.remote.out("ls-tree", "-r", "--name-only", f"refs/pull/{sub.number}/meta").split()
    assert files == ["events/0001-opened.yaml", "events/0002-closed.yaml", "submission.yaml"]
    raw = h.remote.out("cat-file", "commit", f"refs/pull/{sub.number}/meta")
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in raw
    summary = yaml.safe_load(h.remote.out("show", f"refs/pull/{sub.number}/meta:submission.yaml"))
    assert summary["state"] == "closed" and summary["author"] == "bo"


def test_many_merged_submissions_are_judged_in_main_as_one_by_one(forge_harness, monkeypatch):
    """Past a few dozen merged submissions, one listing of main's commits answers "is its merge in main?" for
    all: the states must be exactly those the per-submission question gives."""
    import medperf_git.forges.gitnative as gitnative
    from tests.forges.contract import _open

    h = forge_harness
    admin = h.forge("admin")
    numbers = []
    for i in range(1, 5):
        _, sub = _open(h, "bo", f"containers/{i}.yaml")
        numbers.append(sub.number)
        admin.refresh()
        if i != 3:
            admin.merge(sub.number)
    h.forge("bo").close(numbers[2], "kept open, then closed")
    reader = h.forge("mo")
    reader.refresh()

    def states():
        return [(s.number, s.state, s.merged_commit, s.merged_by) for s in reader.list()]

    one_by_one = states()
    monkeypatch.setattr(gitnative, "READ_MAIN_AFTER", 0)
    reader.repo.derived.clear()
    assert states() == one_by_one
    assert [state for _, state, _, _ in one_by_one] == ["merged", "merged", "closed", "merged"]


LEASE = "refs/merging/lease"


def _lease(h) -> str | None:
    return h.remote.rev_parse(LEASE) if h.remote.out("for-each-ref", LEASE) else None


def test_a_lease_left_by_a_client_that_died_delays_merges_but_never_blocks_them(forge_harness, monkeypatch):
    """Anyone can create the merge lease with plain git and walk away: waiters go ahead once main has
    stood still for LEASE_PATIENCE, merge by compare-and-swap alone, and the audit never reads it."""
    import medperf_git.forges.gitnative as gitnative
    from tests.forges.contract import _open

    h = forge_harness
    monkeypatch.setattr(gitnative, "LEASE_PATIENCE", 1.0)
    forge, sub = _open(h, "bo", "containers/1.yaml")
    h.remote.git("update-ref", LEASE, h.remote_main())  # a ghost: nobody will drop it
    merged = forge.merge(sub.number)
    assert merged.state == "merged" and h.remote.is_ancestor(merged.merged_commit, h.remote_main())
    assert _lease(h) == h.remote.rev_parse(f"{merged.merged_commit}^1")  # a lease it does not hold stays


def test_whoever_takes_the_lease_carries_the_other_waiting_submission_in_one_push(forge_harness):
    """Two clients wait behind a lease; when it goes, one takes it and merges both: main gets both merges
    from one merger, and the other's merge() reports its submission merged without building a train."""
    import threading

    from tests.forges.contract import _open

    h = forge_harness
    bo, first = _open(h, "bo", "containers/1.yaml")
    mo, second = _open(h, "mo", "containers/2.yaml")
    bo.refresh()
    start = h.remote_main()
    h.remote.git("update-ref", LEASE, start)
    results: dict[str, object] = {}

    def wait_and_merge(forge, number, other, name):
        try:
            results[name] = forge.merge(number, riders=lambda: [other])
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            results[name] = exc

    threads = [threading.Thread(target=wait_and_merge, args=(bo, first.number, second.number, "bo")),
               threading.Thread(target=wait_and_merge, args=(mo, second.number, first.number, "mo"))]
    for thread in threads:
        thread.start()
    import time

    time.sleep(1.5)  # both are waiting on the lease now
    assert h.remote_main() == start
    h.remote.git("update-ref", "-d", LEASE)
    for thread in threads:
        thread.join(timeout=120)
    assert all(getattr(r, "state", None) == "merged" for r in results.values()), results
    merges = h.remote.out("rev-list", "--merges", "--first-parent", f"{start}..{h.remote_main()}").split()
    assert len(merges) == 2
    signers = {h.remote.out("log", "-1", "--format=%ae", sha) for sha in merges}
    assert len(signers) == 1  # one train, built by whoever held the lease
    assert _lease(h) is None  # dropped by the push that merged


def test_a_holder_whose_own_merge_is_refused_drops_the_lease(forge_harness):
    from medperf_git.errors import MedperfGitError
    from tests.forges.contract import _open

    h = forge_harness
    forge, sub = _open(h, "bo", "containers/1.yaml")

    def refuse(*_args):
        raise MedperfGitError("refused by the check")

    with pytest.raises(MedperfGitError, match="refused by the check"):
        forge.merge(sub.number, check=refuse)
    assert _lease(h) is None
