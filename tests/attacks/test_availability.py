"""Finding 5: one writer cannot hurt everyone.

A refused 50 MB submission no longer lands on every reviewer's disk, and one bad commit on main no
longer freezes the registry until history is rewritten: admins publish a signed recovery commit that
every client accepts, and the audit lists the bad commits as quarantined.
"""

from __future__ import annotations

import os

from medperf_git.flows.session import RegistrySession
from medperf_git.flows.submission import open_submission
from medperf_git.registry.git import GitRepo
from tests.attacks.hostile import MAIN, audit_lines, dataset, later, record, tutorial_target


def _clone_of(actor) -> GitRepo:
    (clone,) = actor.home.glob("registries/*/repo.git")
    return GitRepo(clone)


def _has(repo: GitRepo, sha: str) -> bool:
    return repo.git("cat-file", "-e", sha, check=False).returncode == 0


def test_an_oversized_submission_never_reaches_a_reviewers_disk(tmp_path, invoke):
    target = tutorial_target(tmp_path)
    with target.actors["testbo"].active():
        assert invoke("review", "ls").exit_code == 0
    main = target.main
    payload = os.urandom(3 * 1024 * 1024)  # three times the default cap of a record file
    big = target.blob(payload)
    head = target.commit(target.tree(main, {"datasets/7.yaml": payload}), [main], "Huge", "testdo")
    target.set_ref("refs/pull/41/head", head)
    small = target.commit(target.tree(main, {"README.md": "# hello\n"}), [main], "Small", "testdo")
    target.set_ref("refs/pull/42/head", small)
    later(target.actors["testbo"])
    with target.actors["testbo"].active():
        listed = invoke("review", "ls")
    assert listed.exit_code == 0, listed.output
    clone = _clone_of(target.actors["testbo"])
    assert not _has(clone, big) and not _has(clone, head)
    assert clone.rev_parse("refs/pull/41/head") is None
    assert clone.rev_parse("refs/pull/42/head") == small  # the others still arrive
    assert not list(clone.path.parent.glob(".incoming-*"))  # the staging area is gone


def test_a_bad_commit_on_main_is_recovered_without_rewriting_history(tmp_path, invoke):
    target = tutorial_target(tmp_path)
    bo, admin = target.actors["testbo"], target.actors["testadmin"]
    with bo.active():
        assert invoke("benchmark", "ls").exit_code == 0
    good = target.main
    registry = target.read(good, "registry.yaml").replace("admins:\n", "admins:\n- testdo\n", 1)
    bad = target.commit(target.tree(good, {"registry.yaml": registry}), [good], "I am an admin now")  # unsigned
    target.set_ref(MAIN, bad)

    later(bo)
    with bo.active():
        frozen = invoke("benchmark", "ls")
        writing = invoke("submission", "ls")
    assert frozen.exit_code == 0 and "fails the audit" in frozen.output  # reads go on from the verified copy
    assert writing.exit_code in (0, 4)

    with admin.active():
        recovered = invoke("registry", "recover", "-y")
    assert recovered.exit_code == 0, recovered.output
    assert bad[:12] in recovered.output and "quarantined" in recovered.output
    recovery = target.main
    assert target.git("rev-parse", f"{recovery}^") == bad  # history kept, nothing rewritten
    assert target.git("rev-parse", f"{recovery}^{{tree}}") == target.git("rev-parse", f"{good}^{{tree}}")

    later(bo)
    with bo.active():  # no `profile trust --reset`
        fine = invoke("benchmark", "ls")
        audited = invoke("registry", "audit")
    assert fine.exit_code == 0 and "fails the audit" not in fine.output, fine.output
    assert audited.exit_code == 0, audited.output
    code, output = audit_lines(invoke, target, "testmo")  # a full audit lists what the recovery undid
    assert code == 0 and f"quarantined: {bad[:12]} UNSIGNED" in output and "1 commit(s) quarantined" in output

    with target.actors["testdo"].active():  # and the registry goes on
        assert open_submission(RegistrySession.load(), {"datasets/1.yaml": record(dataset()).encode()}, "Dataset",
                               "dataset").merged
    assert audit_lines(invoke, target)[0] == 0


def test_a_recovery_by_someone_who_is_not_an_admin_is_a_finding(tmp_path, invoke):
    target = tutorial_target(tmp_path)
    good = target.main
    bad = target.commit(target.tree(good, {"README.md": "# mine\n"}), [good], "Mine")  # unsigned
    tree = target.git("rev-parse", f"{good}^{{tree}}")
    fake = target.commit(tree, [bad], f"Recover\n\nRecovers: {good}", "testdo")
    target.set_ref(MAIN, fake)
    code, output = audit_lines(invoke, target)
    assert code == 4 and f"{fake[:12]} RECOVERY" in output and "not an admin" in output, output
    with target.actors["testdo"].active():
        refused = invoke("registry", "recover", "-y")
    assert refused.exit_code == 4 and "only an admin" in refused.output
