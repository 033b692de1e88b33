"""Confidential results end to end on the tutorial registry: a committee benchmark's result and dataset
statistics go on main encrypted with age to the readers' SSH keys; readers decrypt, others see no number;
lint, policy and the audit check the envelopes without decrypting; key rotation and re-encryption."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from medperf_git.flows import confidential, dataset as dataset_flow, result as result_flow, review
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.execution import run_benchmark
from medperf_git.flows.session import RegistrySession
from medperf_git.records import envelope
from medperf_git.registry.git import GitRepo
from medperf_git.registry.signing import generate_key, public_key
from tests.support.tutorial_registry import commit_records, make_raw_data, seed_tutorial_registry

pytestmark = pytest.mark.slow
YES = lambda record: True  # noqa: E731 - answers every confirmation


def settings():
    return RunSettings(runner="local", python=sys.executable)


def session(actor) -> RegistrySession:
    with actor.active():
        return RegistrySession.load()


def main_record(registry, path):
    return yaml.safe_load(GitRepo(registry).read_path("refs/heads/main", path))


@pytest.fixture(scope="module")
def committee(tmp_path_factory):
    """The tutorial with benchmark 1 set to committee by its owner, then a dataset, its association and a
    result made and submitted by the data owner with the commands' flows."""
    root = tmp_path_factory.mktemp("committee")
    registry, actors, _ = seed_tutorial_registry(root)
    bo, do = actors["testbo"], actors["testdo"]
    with bo.active():
        changed = confidential.update_visibility(RegistrySession.load(), benchmark=1, visibility="committee",
                                                 confirm=YES)
    assert changed.merged
    raw = make_raw_data(root / "raw")
    shown = []
    with do.active():
        s = RegistrySession.load()
        ds = dataset_flow.create(s, benchmark=1, name="mytestdata", data_path=raw / "images",
                                 labels_path=raw / "labels", settings=settings()).dataset
        assert dataset_flow.submit(RegistrySession.load(), ds.uid[:10], confirm=YES).merged
        asked = dataset_flow.associate(RegistrySession.load(), benchmark=1, data_uid="1", confirm=YES,
                                       settings=settings())
    with bo.active():
        assert review.approve(RegistrySession.load(), asked.number).merged
    with do.active():
        run_benchmark(RegistrySession.load(), benchmark=1, data_uid="1", models=[4], settings=settings())
        local = result_flow.show(RegistrySession.load(), "b1m4d1").metrics
        submitted = result_flow.submit(RegistrySession.load(), "b1m4d1", confirm=lambda r: shown.append(r) or True)
    assert submitted.merged
    return registry, actors, local, shown[0]


def test_result_on_main_holds_no_metric_and_age_opens_it_with_the_owners_ssh_key(committee):
    registry, actors, local, _ = committee
    record = main_record(registry, "results/1/b1m4d1.yaml")
    assert "metrics" not in record
    text = GitRepo(registry).read_path("refs/heads/main", "results/1/b1m4d1.yaml").decode()
    for value in local.values():
        assert repr(value) not in text and str(value) not in text
    assert {r["handle"] for r in record["encrypted"]["recipients"]} == {"testbo", "testdo"}
    # In clear: what policy and the audit need.
    assert record["owner"] == "testdo" and record["provenance"]["runner"] == "local"
    assert envelope.check(record["encrypted"]) == []
    if shutil.which("age") is None:
        pytest.skip("the age command-line tool is not installed (apt-get install age)")
    opened = subprocess.run(["age", "-d", "-i", str(actors["testbo"].key)], input=record["encrypted"]["payload"],
                            capture_output=True, text=True, check=True).stdout
    assert json.loads(opened) == {"metrics": local}
    assert envelope.sha256_hex(opened.encode()) == record["encrypted"]["plaintext_sha256"]


def test_preview_shows_the_plaintext_and_its_readers(committee):
    _, _, local, shown = committee
    assert shown["plaintext (only testbo, testdo can read it)"] == local
    assert shown["encrypted"]["payload"].startswith("<age, ASCII-armored")


def test_dataset_statistics_follow_the_benchmark(committee):
    registry, actors, _, _ = committee
    record = main_record(registry, "datasets/1.yaml")
    assert "statistics" not in record and envelope.check(record["encrypted"]) == []
    revealed = confidential.reveal(session(actors["testbo"]), record)
    assert revealed.numbers["num_cases"] == 12
    assert confidential.reveal(session(actors["testmo"]), record).numbers is None


def test_readers_see_metrics_others_are_told_it_is_encrypted(committee, invoke):
    registry, actors, local, _ = committee
    with actors["testbo"].active():
        shown = invoke("result", "view", "b1m4d1", "--json")
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["metrics"] == local
        listed = invoke("result", "ls", "--published", "--json")
        assert json.loads(listed.stdout)[0]["metrics"] == local
    with actors["testmo"].active():
        hidden = invoke("result", "view", "b1m4d1", "--json")
        assert hidden.exit_code == 0, hidden.output
        data = json.loads(hidden.stdout)
        assert data["metrics"] is None and data["encrypted"] == "encrypted for the committee"
        for value in local.values():
            assert str(value) not in hidden.output
        text = invoke("result", "view", "b1m4d1")
        assert text.exit_code == 0 and "encrypted for the committee" in text.output
        listed = invoke("result", "ls", "--published")
        assert listed.exit_code == 0 and "encrypted for the committee" in listed.output
        assert all(str(v) not in listed.output for v in local.values())


def test_registry_lint_and_audit_pass(committee, invoke, tmp_path):
    registry, actors, _, _ = committee
    with actors["testbo"].active():
        audit = invoke("registry", "audit", str(registry))
        assert audit.exit_code == 0, audit.output
    clone = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(registry), str(clone)], check=True)
    lint = invoke("registry", "lint", str(clone))
    assert lint.exit_code == 0, lint.output


def test_clear_result_on_a_committee_benchmark_is_refused(committee, tmp_path):
    """Lint (of the change) and policy (from the base's benchmark) both refuse numbers in clear."""
    from medperf_git.lint.linter import lint_tree
    from medperf_git.policy._create import confidential as rule
    from medperf_git.registry.tree import CommitTree as GitTree

    registry, actors, local, _ = committee
    repo = GitRepo(registry)
    record = main_record(registry, "results/1/b1m4d1.yaml")
    clear = {k: v for k, v in record.items() if k != "encrypted"} | {"name": "b1m4d1-2", "metrics": local}
    from medperf_git.records.yamlio import dump_yaml
    from medperf_git.registry.commits import commit_changes

    main = repo.rev_parse("refs/heads/main")
    head = commit_changes(repo, main, {"results/1/b1m4d1-2.yaml": dump_yaml(clear).encode()}, "clear",
                          actors["testdo"].identity)
    findings = lint_tree(GitTree(repo, head), base=GitTree(repo, main))
    assert [(f.code, f.severity) for f in findings] == [("CLEAR-RESULT", "error")]

    class Judge:
        denied: list = []

        def deny(self, path, code, message, hint=None):
            self.denied.append(code)

    judge = Judge()
    rule(judge, main_record(registry, "benchmarks/1.yaml"), clear, "results/1/b1m4d1-2.yaml", "result")
    assert judge.denied == ["CLEAR-RESULT"]
    # A forged envelope (recipients that the payload is not for) is an ENVELOPE error, found without a key.
    forged = dict(record, name="b1m4d1-3")
    forged["encrypted"] = dict(record["encrypted"], recipients=[{"handle": "testmo", "key": envelope.fingerprint(
        public_key(actors["testmo"].key))}])
    head = commit_changes(repo, main, {"results/1/b1m4d1-3.yaml": dump_yaml(forged).encode()}, "forged",
                          actors["testdo"].identity)
    codes = {f.code for f in lint_tree(GitTree(repo, head), base=GitTree(repo, main))}
    assert "ENVELOPE" in codes


def test_key_rotation_then_reencrypt(committee, invoke, tmp_path):
    """The owner's new key reads nothing until a current reader (the data owner) re-encrypts; then the old
    key no longer reads the new payload. Lint flags the stale set meanwhile."""
    registry, actors, local, _ = committee
    bo, do, admin = actors["testbo"], actors["testdo"], actors["testadmin"]
    old_key = bo.key
    new_key = generate_key(tmp_path / "rotated" / "id_ed25519", "testbo@rotated")
    person = main_record(registry, "people/testbo.yaml")
    person["keys"] = [public_key(new_key)]
    commit_records(registry, admin, {"people/testbo.yaml": person}, "testbo rotates their key")
    _set_signing_key(bo, new_key)
    with bo.active():
        assert invoke("result", "view", "b1m4d1", "--json").exit_code == 0
        assert json.loads(invoke("result", "view", "b1m4d1", "--json").stdout)["metrics"] is None
    clone = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(registry), str(clone)], check=True)
    lint = invoke("registry", "lint", str(clone))
    assert "STALE-RECIPIENTS" in lint.output and lint.exit_code == 0  # a warning
    with bo.active():  # the rotated owner cannot open the old payload, so cannot re-encrypt it
        done = confidential.reencrypt(RegistrySession.load(), benchmark=1, confirm=YES)
        assert done.outcome is None and done.unreadable == ["b1m4d1"]
    with do.active():
        done = confidential.reencrypt(RegistrySession.load(), benchmark=1, confirm=YES)
    assert done.outcome.merged and [r["name"] for r in done.records] == ["b1m4d1"]
    assert done.outcome.path == "results/1/b1m4d1.yaml"
    assert not GitRepo(registry).read_path("refs/heads/main", "results/1/b1m4d1-2.yaml")
    record = main_record(registry, "results/1/b1m4d1.yaml")
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_payload(record["encrypted"], old_key)
    assert json.loads(envelope.open_payload(record["encrypted"], new_key)) == {"metrics": local}
    with bo.active():
        assert json.loads(invoke("result", "view", "b1m4d1", "--json").stdout)["metrics"] == local
    with do.active():  # nothing stale any more
        assert confidential.reencrypt(RegistrySession.load(), benchmark=1, confirm=YES).outcome is None
        # testbo's events signed with the old key (approvals, the visibility change) are judged by the keys
        # testbo had then: the audit stays clean after the rotation.
        audit = invoke("registry", "audit", str(registry))
        assert audit.exit_code == 0, audit.output


def _set_signing_key(actor, key):
    path = actor.home / "config.yaml"
    data = yaml.safe_load(path.read_text())
    for profile in (data.get("profiles") or {}).values():
        profile["signing_key"] = str(key)
    path.write_text(yaml.safe_dump(data))
