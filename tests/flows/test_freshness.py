"""Never stale: a second client sees a record another client merged moments ago, without --offline and
without waiting, and "does not exist" is only said after the remote was asked."""

from __future__ import annotations

import pytest

from medperf_git.flows.session import RegistrySession
from medperf_git.registry.git import GitRepo
from tests.attacks.hostile import dataset, tutorial_target
from tests.support.tutorial_registry import commit_records

pytestmark = [pytest.mark.unprivileged]


def _merge_a_dataset(target, did: int) -> None:
    """Another client's merge: main moves on the remote."""
    record = {f"datasets/{did}.yaml": dataset(did, uid="0123456789"[did])}
    commit_records(target.registry, target.actors["testadmin"], record, "merged")


def test_a_second_client_sees_a_record_merged_seconds_ago(tmp_path, invoke):
    target = tutorial_target(tmp_path)
    reader = target.actors["testdo"]
    with reader.active():
        assert invoke("dataset", "ls").exit_code == 0  # its copy is fresh now
        _merge_a_dataset(target, 1)
        # Within the seconds a read may answer from its copy, asking for the new record checks the remote.
        shown = invoke("dataset", "view", "1")
        assert shown.exit_code == 0, shown.output
        assert "name: data 1" in shown.stdout
        listed = invoke("dataset", "ls")  # and the copy it brought is the one the listing reads
        assert "data 1" in listed.stdout
        _merge_a_dataset(target, 2)
        # A flow that needs the record (not a view) asks too.
        s = RegistrySession.load()
        try:
            assert s.record("dataset", 2)["id"] == 2
        finally:
            s.close()


def test_missing_is_said_only_after_asking_the_remote(tmp_path, invoke):
    target = tutorial_target(tmp_path)
    reader = target.actors["testdo"]
    with reader.active():
        assert invoke("benchmark", "ls").exit_code == 0
        main = GitRepo(target.registry).rev_parse("refs/heads/main")
        missing = invoke("benchmark", "view", "7")
        assert missing.exit_code == 1 and "no benchmark with id 7 in the registry" in missing.stderr
        # It asked: the copy is at the remote's main, not older.
        s = RegistrySession.load()
        assert s.repo.rev_parse("refs/remotes/origin/main") == main
        s.close()
        offline = invoke("--offline", "dataset", "view", "9")
        assert offline.exit_code == 1 and "no dataset with id 9" in offline.stderr


def test_a_read_within_seconds_does_not_ask_again(tmp_path, invoke, monkeypatch):
    from medperf_git.registry import clone as clone_module

    target = tutorial_target(tmp_path)
    calls = []
    real = clone_module.fetch_remote
    monkeypatch.setattr(clone_module, "fetch_remote", lambda *a, **k: calls.append(1) or real(*a, **k))
    with target.actors["testdo"].active():
        assert invoke("benchmark", "ls").exit_code == 0
        calls.clear()
        assert invoke("benchmark", "view", "1").exit_code == 0
        assert calls == []  # a copy checked a moment ago answers: no ls-remote for this read
