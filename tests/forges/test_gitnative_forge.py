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
