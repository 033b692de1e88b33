"""Finding 2: what reaches main by hand is judged as the tool's own merge would have judged it.

The policy allowed these merges (self-service records, signed by their owner), so the old audit called
them clean; lint, the submission's state and the merge record were never asked.
"""

from __future__ import annotations

import yaml

from medperf_git.flows.session import RegistrySession
from medperf_git.flows.submission import open_submission
from tests.attacks.hostile import MAIN, audit_lines, dataset, record, tutorial_target


def _container(target, cid: int, owner: str, **changes) -> dict:
    data = yaml.safe_load(target.read(target.main, "containers/4.yaml"))
    data.update({"id": cid, "owner": owner, "name": f"model-{cid}", **changes})
    return data


def _hand_merge(target, head: str, signer) -> str:
    """Merge ``head`` into main the way git would, and move main: no submission, no checks."""
    main = target.main
    merge = target.commit(target.clean_merge_tree(main, head), [main, head], "Merge", signer)
    target.set_ref(MAIN, merge)
    return merge


def _submit_by_hand(target, owner: str, files: dict) -> str:
    main = target.main
    return target.commit(target.tree(main, files), [main], "Register", owner)


def test_records_that_fail_lint_never_pass_the_audit(tmp_path, invoke):
    target = tutorial_target(tmp_path)
    broken = _container(target, 5, "testmo", config=42)
    merge = _hand_merge(target, _submit_by_hand(target, "testmo", {"containers/5.yaml": record(broken)}), "testmo")
    code, output = audit_lines(invoke, target)
    assert code == 4, output
    assert f"{merge[:12]} LINT containers/5.yaml" in output and "config" in output


def test_a_name_with_a_right_to_left_override_never_passes_the_audit(tmp_path, invoke):
    target = tutorial_target(tmp_path)
    sneaky = _container(target, 5, "testmo", name="model-\u202egpj.exe")
    merge = _hand_merge(target, _submit_by_hand(target, "testmo", {"containers/5.yaml": record(sneaky)}), "testmo")
    code, output = audit_lines(invoke, target)
    assert code == 4 and f"{merge[:12]} LINT containers/5.yaml" in output, output


def _withdrawn_dataset(target, invoke) -> tuple[int, str]:
    """testdo opens a dataset submission with the real flow and withdraws it with the real command."""
    with target.actors["testdo"].active():
        opened = open_submission(RegistrySession.load(), {"datasets/1.yaml": record(dataset()).encode()}, "Dataset",
                                 "dataset", merge=False)
        assert invoke("submission", "withdraw", str(opened.submission.number), "-y").exit_code == 0
    return opened.submission.number, opened.submission.head


def test_a_withdrawn_submission_merged_by_an_outsider_is_a_finding(tmp_path, invoke):
    target = tutorial_target(tmp_path)
    number, head = _withdrawn_dataset(target, invoke)
    outsider = target.outsider()
    merge = _hand_merge(target, head, outsider.key)
    code, output = audit_lines(invoke, target)
    assert code == 4, output
    assert f"{merge[:12]} UNRECORDED" in output  # nobody entitled recorded this merge


def test_a_forged_merge_record_does_not_help_the_outsider_or_a_registered_stranger(tmp_path, invoke):
    """The hand merge comes with a merged event in the submission's meta chain, after the author's withdrawal."""
    from medperf_git.registry import submissions
    from medperf_git.registry.commits import Identity

    target = tutorial_target(tmp_path)
    number, head = _withdrawn_dataset(target, invoke)
    repo = target.repo()
    meta = target.git("rev-parse", f"refs/pull/{number}/meta")
    summary = {"number": number, "title": "Dataset", "author": "testdo", "kind": "dataset", "base": target.main,
               "state": "merged"}
    for who, key in (("mallory", target.outsider().key), ("testmo", target.actors["testmo"].key)):
        merge = _hand_merge(target, head, key)
        event = submissions.event_commit(repo, Identity(who, f"{who}@x", str(key)), who, meta, summary, 3, "merged",
                                   commit=merge, head=head)
        target.set_ref(f"refs/pull/{number}/meta", event)
        code, output = audit_lines(invoke, target)
        assert code == 4, output
        if who == "mallory":
            assert f"{merge[:12]} MERGE-RECORD" in output and "not signed by any person registered" in output
        else:
            assert f"{merge[:12]} NOT-OPEN submission #{number} was closed by 'testdo'" in output


def test_the_same_dataset_twice_is_a_finding(tmp_path, invoke):
    """The leftover of an interrupted `dataset submit`, merged by hand next to the re-run's: one generated UID,
    two records."""
    target = tutorial_target(tmp_path)
    first = _submit_by_hand(target, "testdo", {"datasets/1.yaml": record(dataset())})
    _hand_merge(target, first, "testdo")
    twin = _submit_by_hand(target, "testdo", {"datasets/2.yaml": record(dataset(2))})
    merge = _hand_merge(target, twin, "testdo")
    code, output = audit_lines(invoke, target)
    assert code == 4, output
    assert f"{merge[:12]} LINT datasets/2.yaml" in output and "DUPLICATE-UID" in output


def test_a_rerun_after_an_interrupted_dataset_submit_resumes_it(tmp_path, invoke, monkeypatch):
    """The kill comes right after the submission is opened; the re-run merges that one, not a second."""
    import sys

    import pytest

    from medperf_git.flows import dataset as dataset_flow
    from medperf_git.flows._containers import RunSettings
    from medperf_git.forges.gitnative import GitNativeForge
    from tests.support.tutorial_registry import make_raw_data

    target = tutorial_target(tmp_path, runner="local", python=sys.executable)
    raw = make_raw_data(tmp_path / "raw", count=6)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with target.actors["testdo"].active():
        ws = RegistrySession.load()
        prepared = dataset_flow.create(ws, benchmark=1, name="d", data_path=raw / "images",
                                       labels_path=raw / "labels",
                                       settings=RunSettings(runner="local", python=sys.executable)).dataset
        with monkeypatch.context() as patch:
            patch.setattr(GitNativeForge, "merge", killed)
            with pytest.raises(KeyboardInterrupt):
                dataset_flow.submit(ws, prepared.uid[:8], confirm=lambda r: True)
        again = invoke("dataset", "submit", "--data_uid", prepared.uid[:8], "-y")
        listed = invoke("submission", "ls", "--json")
    assert again.exit_code == 0 and "merged" in again.output, again.output
    assert '"state": "open"' not in listed.stdout
    listed_paths = target.git("ls-tree", "--name-only", "-r", MAIN, "datasets/").split()
    registered = [p for p in listed_paths if p.endswith(".yaml")]
    assert registered == ["datasets/1.yaml"]
    assert audit_lines(invoke, target)[0] == 0


def test_records_are_the_same_by_what_they_are_not_by_their_id():
    """What a re-run compares: a dataset by its generated UID, a result by its run, a request by its place."""
    from medperf_git.flows._resume import natural_key

    first, again = record(dataset(1)), record(dataset(2))
    assert natural_key("datasets/1.yaml", first.encode()) == natural_key("datasets/2.yaml", again.encode())
    assert natural_key("datasets/1.yaml", first.encode()) != natural_key("datasets/2.yaml",
                                                                         record(dataset(2, uid="e")).encode())
    result = {"schema_version": 1, "kind": "result", "name": "b1m4d1", "benchmark": 1, "model": 4, "dataset": 1,
              "created_at": "2026-12-01T00:00:00Z", "metrics": {"auc": 0.5}}
    rerun = dict(result, name="b1m4d1-2")
    assert natural_key("results/1/b1m4d1.yaml", record(result).encode()) == \
        natural_key("results/1/b1m4d1-2.yaml", record(rerun).encode())
    later_run = dict(rerun, created_at="2026-12-02T00:00:00Z")
    assert natural_key("results/1/b1m4d1.yaml", record(result).encode()) != \
        natural_key("results/1/b1m4d1-2.yaml", record(later_run).encode())
    request = {"schema_version": 1, "kind": "association", "benchmark": 1, "dataset": 1, "initiated_by": "testdo"}
    assert natural_key("associations/1/dataset-1.yaml", record(request).encode()) != \
        natural_key("associations/1/dataset-1.yaml", record(dict(request, initiated_by="testbo")).encode())
    assert natural_key("README.md", b"# hello\n") is None
