"""Each policy rule both ways, on a real registry with several people signing with their own keys."""

from __future__ import annotations

import pytest

from medperf_git.policy.engine import evaluate
from medperf_git.policy.lineage import lineage
from medperf_git.policy.review import review_submission
from tests.policy.policy_world import World, association, benchmark, container, dataset, result, y


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def verdict(world: World, head: str):
    return review_submission(world.repo, "refs/heads/main", head).verdict


def codes(v) -> list[str]:
    return [f.code for f in v.violations]


# Self-service
def test_own_new_dataset_container_result_are_self_service(world):
    v = verdict(world, world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))}))
    assert v.allowed and v.self_service and v.mergeable and v.author == "do"
    v = verdict(world, world.submit("mo", {"containers/5.yaml": y(container(5, "mo", "infer"))}))
    assert v.self_service and v.mergeable
    v = verdict(world, world.submit("do", {"results/1/b1m4d1.yaml": y(result(4, 1, "do"))}))
    assert v.mergeable, v.summary()
    v = verdict(world, world.submit("do", {"results/1/b1m2d1.yaml": y(result(2, 1, "do"))}))
    assert v.mergeable, "the reference model needs no association"


def test_new_record_must_name_its_author_as_owner(world):
    v = verdict(world, world.submit("do", {"datasets/2.yaml": y(dataset(2, "mo"))}))
    assert codes(v) == ["NOT-OWNER"]
    v = verdict(world, world.submit("eve", {"containers/5.yaml": y(container(5, "mo", "infer"))}))
    assert codes(v) == ["NOT-OWNER"]


def test_descriptive_change_by_owner_is_self_service_and_refused_for_others(world):
    data = world.read("datasets/1.yaml")
    data["description"] = "better words"
    assert verdict(world, world.submit("do", {"datasets/1.yaml": y(data)})).mergeable
    v = verdict(world, world.submit("mo", {"datasets/1.yaml": y(data)}))
    assert codes(v) == ["NOT-PERMITTED"] and not v.allowed


def test_frozen_field_cannot_change_even_by_owner(world):
    data = world.read("datasets/1.yaml")
    data["generated_uid"] = "tree-v1:sha256:" + "0" * 64
    assert codes(verdict(world, world.submit("do", {"datasets/1.yaml": y(data)}))) == ["FROZEN-FIELD"]


# Associations
def test_dataset_association_needs_the_committee(world):
    world.direct({"datasets/2.yaml": y(dataset(2, "do"))}, "dataset 2")
    head = world.submit("do", {"associations/1/dataset-2.yaml": y(association("dataset", 2, "do"))})
    v = verdict(world, head)
    assert v.allowed and not v.mergeable
    assert [(r.description, r.candidates) for r in v.requirements] == [("the committee of benchmark 1", ["bo"])]
    assert "awaiting approvals" in v.summary() and "bo" in v.summary()
    assert verdict(world, world.approve("bo", head)).mergeable


@pytest.mark.parametrize("policy,approved", [({"mode": "always"}, True),
                                             ({"mode": "allowlist", "allowlist": ["do"]}, True),
                                             ({"mode": "allowlist", "allowlist": ["mo"]}, False),
                                             ({"mode": "never"}, False)])
def test_association_policy(world, policy, approved):
    world.direct({"datasets/2.yaml": y(dataset(2, "do")),
                  "benchmarks/1.yaml": y(benchmark(association_policy={"datasets": policy}))}, "policy")
    v = verdict(world, world.submit("do", {"associations/1/dataset-2.yaml": y(association("dataset", 2, "do"))}))
    assert v.allowed and v.mergeable is approved


def test_component_owner_on_the_committee_is_approved_by_policy(world):
    world.direct({"containers/5.yaml": y(container(5, "bo", "infer"))}, "bo's model")
    v = verdict(world, world.submit("bo", {"associations/1/model-5.yaml": y(association("model", 5, "bo"))}))
    assert v.allowed and v.self_service


def test_model_association_initiated_by_committee_needs_the_model_owner(world):
    world.direct({"containers/5.yaml": y(container(5, "mo", "infer"))}, "mo's second model")
    head = world.submit("bo", {"associations/1/model-5.yaml": y(association("model", 5, "bo"))})
    v = verdict(world, head)
    assert [(r.description, r.candidates) for r in v.requirements] == [("the owner of model 5", ["mo"])]
    assert not verdict(world, world.approve("eve", head)).mergeable
    assert verdict(world, world.approve("mo", head)).mergeable


def test_association_initiated_by_someone_else_is_refused(world):
    world.direct({"containers/5.yaml": y(container(5, "mo", "infer"))}, "model 5")
    v = verdict(world, world.submit("eve", {"associations/1/model-5.yaml": y(association("model", 5, "eve"))}))
    assert codes(v) == ["NOT-PERMITTED"]
    v = verdict(world, world.submit("mo", {"associations/1/model-5.yaml": y(association("model", 5, "bo"))}))
    assert codes(v) == ["NOT-INITIATOR"]


def test_approvals_required(world):
    world.direct({"people/bo2.yaml": y({**world["eve"].person_record(), "handle": "bo2", "keys": [
                      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBo2bo2bo2bo2bo2bo2bo2bo2bo2bo2bo2bo2bo2bo2"]}),
                  "benchmarks/1.yaml": y(benchmark(owners=["bo", "eve"], approvals_required=2)),
                  "datasets/2.yaml": y(dataset(2, "do"))}, "two approvals")
    head = world.submit("do", {"associations/1/dataset-2.yaml": y(association("dataset", 2, "do"))})
    one = world.approve("bo", head)
    assert not verdict(world, one).mergeable
    assert not verdict(world, world.approve("bo", one)).mergeable, "the same person twice counts once"
    assert verdict(world, world.approve("eve", one)).mergeable


def test_revoke_and_priority(world):
    assoc = world.read("associations/1/model-4.yaml")
    assoc["priority"] = 5
    assert verdict(world, world.submit("bo", {"associations/1/model-4.yaml": y(assoc)})).mergeable
    assert codes(verdict(world, world.submit("mo", {"associations/1/model-4.yaml": y(assoc)}))) == ["NOT-PERMITTED"]
    revoked = {**world.read("associations/1/model-4.yaml"),
               "revoked": {"by": "mo", "at": "2026-01-02T00:00:00Z", "reason": "withdrawn"}}
    assert verdict(world, world.submit("mo", {"associations/1/model-4.yaml": y(revoked)})).mergeable
    assert codes(verdict(world, world.submit("eve", {"associations/1/model-4.yaml": y(revoked)}))) \
        == ["NOT-PERMITTED", "NOT-PERMITTED"]


# Admins
def test_new_benchmark_needs_admins(world):
    v = verdict(world, world.submit("bo", {"benchmarks/2.yaml": y(benchmark(2))}))
    assert v.allowed and [r.candidates for r in v.requirements] == [["admin"]]
    v = verdict(world, world.submit("bo", {"benchmarks/2.yaml": y(benchmark(2, owners=["eve"]))}))
    assert "NOT-OWNER" in codes(v)


def test_registry_yaml_and_files_outside_records_need_admins(world):
    reg = world.read("registry.yaml")
    reg["description"] = "mine now"
    for changes in ({"registry.yaml": y(reg)}, {".github/workflows/x.yml": b"on: push\n"}, {"README.md": b"hi\n"}):
        v = verdict(world, world.submit("eve", changes))
        assert v.allowed and not v.mergeable and v.requirements[0].candidates == ["admin"]
        assert verdict(world, world.approve("admin", world.submit("eve", changes))).mergeable


def test_benchmark_owners_change_needs_admins_and_only_owners_may_propose_it(world):
    new = benchmark(owners=["bo", "eve"])
    v = verdict(world, world.submit("bo", {"benchmarks/1.yaml": y(new)}))
    assert v.allowed and v.requirements[0].candidates == ["admin"]
    assert codes(verdict(world, world.submit("eve", {"benchmarks/1.yaml": y(new)}))) == ["NOT-PERMITTED"]
    desc = benchmark(description="new words", min_isolation="sandbox")
    assert verdict(world, world.submit("bo", {"benchmarks/1.yaml": y(desc)})).mergeable


def test_new_person_needs_admins_unless_open_registration(tmp_path):
    world = World(tmp_path / "closed")
    from tests.support.actors import make_actor

    newcomer = make_actor(tmp_path, "nina", str(world.path))
    head = world.repo.rev_parse("main")
    from medperf_git.registry.commits import commit_changes

    head = commit_changes(world.repo, head, {"people/nina.yaml": y(newcomer.person_record())}, "Register",
                          newcomer.identity)
    v = verdict(world, head)
    assert v.author == "nina" and v.allowed and v.requirements[0].candidates == ["admin"]
    open_world = World(tmp_path / "open", registry_settings={"open_registration": True}, populate=False)
    head = commit_changes(open_world.repo, open_world.main, {"people/nina.yaml": y(newcomer.person_record())},
                          "Register", newcomer.identity)
    assert verdict(open_world, head).mergeable


def test_person_record_of_someone_else(world):
    mine = {**world["eve"].person_record(), "name": "Eve Renamed"}
    assert verdict(world, world.submit("eve", {"people/eve.yaml": y(mine)})).mergeable
    theirs = {**world["mo"].person_record(), "keys": world["eve"].person_record()["keys"]}
    v = verdict(world, world.submit("eve", {"people/mo.yaml": y(theirs)}))
    assert "KEY-TAKEN" in codes(v)
    recovered = {**world["mo"].person_record(), "email": "mo@new.example.org"}
    v = verdict(world, world.submit("eve", {"people/mo.yaml": y(recovered)}))
    assert v.allowed and v.requirements[0].candidates == ["admin"]


def test_handle_never_taken_twice(world):
    from medperf_git.registry.commits import commit_changes
    from tests.support.actors import make_actor

    impostor = make_actor(world.path.parent, "x-bo", str(world.path))
    record = {**impostor.person_record(), "handle": "bo"}
    head = commit_changes(world.repo, world.main, {"people/bo.yaml": y(record)}, "I am bo", impostor.identity)
    v = verdict(world, head)
    assert not v.allowed and "SIGNATURE" in codes(v)


# Results
def test_result_rules(world):
    ok = result(4, 1, "do")
    assert verdict(world, world.submit("do", {"results/1/b1m4d1.yaml": y(ok)})).mergeable
    assert "NOT-OWNER" in codes(verdict(world, world.submit("mo", {"results/1/b1m4d1.yaml": y(
        result(4, 1, "mo"))})))
    world.direct({"containers/5.yaml": y(container(5, "mo", "infer"))}, "unassociated model")
    assert "NOT-ASSOCIATED" in codes(verdict(world, world.submit("do", {"results/1/b1m5d1.yaml": y(
        result(5, 1, "do"))})))
    bad_uid = result(4, 1, "do")
    bad_uid["provenance"]["dataset_uid"] = "tree-v1:sha256:" + "1" * 64
    assert "PROVENANCE" in codes(verdict(world, world.submit("do", {"results/1/b1m4d1.yaml": y(bad_uid)})))
    bad_pin = result(4, 1, "do")
    bad_pin["provenance"]["containers"]["model"]["image"]["digest"] = "sha256:" + "2" * 64
    assert "PROVENANCE" in codes(verdict(world, world.submit("do", {"results/1/b1m4d1.yaml": y(bad_pin)})))


def test_result_isolation_and_revoked_association(world):
    world.direct({"benchmarks/1.yaml": y(benchmark(min_isolation="sandbox"))}, "stricter")
    assert "ISOLATION" in codes(verdict(world, world.submit("do", {"results/1/b1m4d1.yaml": y(
        result(4, 1, "do", isolation="none"))})))
    assert verdict(world, world.submit("do", {"results/1/b1m4d1.yaml": y(result(4, 1, "do", isolation="sandbox"))})
                   ).mergeable
    world.direct({"associations/1/model-4.yaml": y(association("model", 4, "mo", priority=0, revoked={
        "by": "mo", "at": "2026-01-02T00:00:00Z", "reason": "bug"}))}, "revoke")
    assert "REVOKED" in codes(verdict(world, world.submit("do", {"results/1/b1m4d1.yaml": y(result(4, 1, "do"))})))


def test_evaluate_reads_only_the_base(world):
    """The submission's own records never grant rights: evaluate judges against the base."""
    head = world.submit("eve", {"benchmarks/1.yaml": y(benchmark(owners=["eve"])),
                                "datasets/2.yaml": y(dataset(2, "eve"))})
    head = world.submit("eve", {"associations/1/dataset-2.yaml": y(association("dataset", 2, "eve"))}, parent=head)
    v = evaluate(world.repo, lineage(world.repo, world.main, head), author="eve")
    assert "NOT-PERMITTED" in codes(v)


def test_rsa_and_ecdsa_signers_are_recognised(world, tmp_path):
    import subprocess

    from medperf_git.registry.commits import Identity, commit_changes
    from medperf_git.registry.signing import public_key

    keys = {}
    for kind, bits in (("rsa", "3072"), ("ecdsa", "384")):
        path = tmp_path / f"id_{kind}"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-b", bits, "-N", "", "-C", "laptop", "-f", str(path)],
                       check=True, capture_output=True)
        keys[kind] = path
    record = {**world["eve"].person_record(), "keys": [public_key(k) + " laptop" for k in keys.values()]}
    world.direct({"people/eve.yaml": y(record)}, "eve's keys")
    for path in keys.values():
        head = commit_changes(world.repo, world.main, {"datasets/2.yaml": y(dataset(2, "eve"))}, "mine",
                              Identity("Eve", "eve@example.org", str(path)))
        v = verdict(world, head)
        assert v.author == "eve" and v.mergeable, v.summary()
