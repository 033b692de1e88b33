"""The audit on clean and tampered history, on real bare repositories signed by several people."""

from __future__ import annotations

from medperf_git.policy.audit import AuditCache, audit
from medperf_git.registry.commits import Identity, commit_changes, commit_tree, update_ref
from medperf_git.registry.signing import generate_key
from tests.policy.policy_world import World, association, dataset, y


def codes(report) -> list[str]:
    return [f.code for f in report.findings]


def test_clean_history_passes(tmp_path):
    world = World(tmp_path)
    world.merge(world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))}), who="do")
    head = world.submit("do", {"associations/1/dataset-2.yaml": y(association("dataset", 2, "do"))})
    world.merge(world.approve("bo", head), who="bo")
    report = audit(world.repo)
    assert report.clean, [f.text() for f in report.findings]
    assert report.checked == 5 and "Audit clean" in report.summary()


def test_unsigned_commit_and_unknown_key_in_a_merge(tmp_path):
    world = World(tmp_path)
    unsigned = commit_changes(world.repo, world.main, {"datasets/2.yaml": y(dataset(2, "do"))}, "x",
                              Identity("Do", "do@example.org"))
    world.merge(unsigned)
    stranger = generate_key(tmp_path / "stranger" / "id_ed25519", "s")
    unknown = commit_changes(world.repo, world.main, {"datasets/3.yaml": y(dataset(3, "do"))}, "y",
                             Identity("Do", "do@example.org", str(stranger)))
    world.merge(unknown)
    report = audit(world.repo)
    assert codes(report) == ["UNSIGNED", "UNKNOWN-KEY"]
    assert report.findings[0].commit == unsigned and report.findings[1].commit == unknown


def test_merge_lacking_approvals(tmp_path):
    world = World(tmp_path)
    world.direct({"datasets/2.yaml": y(dataset(2, "do"))}, "dataset 2")
    head = world.submit("do", {"associations/1/dataset-2.yaml": y(association("dataset", 2, "do"))})
    merge = world.merge(world.approve("eve", head), who="do")
    report = audit(world.repo)
    assert codes(report) == ["APPROVALS"] and report.findings[0].commit == merge
    assert "committee of benchmark 1" in report.findings[0].message


def test_merge_of_a_forbidden_change(tmp_path):
    world = World(tmp_path)
    data = world.read("datasets/1.yaml")
    data["description"] = "not mine"
    world.merge(world.submit("eve", {"datasets/1.yaml": y(data)}))
    assert codes(audit(world.repo)) == ["POLICY"]


def test_direct_push_by_a_non_admin(tmp_path):
    world = World(tmp_path)
    world.direct({"datasets/2.yaml": y(dataset(2, "do"))}, "sneaked in", who="do")
    report = audit(world.repo)
    assert codes(report) == ["NOT-ADMIN"] and "'do'" in report.findings[0].message


def test_merge_with_a_tree_beyond_the_clean_merge(tmp_path):
    world = World(tmp_path)
    head = world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))})
    tree = world.repo.out("rev-parse", f"{world.submit('do', {'datasets/9.yaml': y(dataset(9, 'do'))}, parent=head)}"
                                       "^{tree}")
    old = world.main
    bad = commit_tree(world.repo, tree, [old, head], "Merge", world["eve"].identity)
    update_ref(world.repo, "refs/heads/main", bad, old)
    assert codes(audit(world.repo)) == ["MERGE-TREE", "UNRECORDED"]  # by hand: no meta event records it


def test_cache_resumes_from_the_last_verified_commit(tmp_path):
    world = World(tmp_path)
    cache = AuditCache(tmp_path / "cache.json", audit(world.repo).root)
    first = audit(world.repo, cache=cache)
    assert first.clean and first.start is None and cache.tips == [world.main]
    world.merge(world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))}))
    again = audit(world.repo, cache=AuditCache(tmp_path / "cache.json", first.root))
    assert again.clean and again.checked == 1 and again.start == first.tip
    # a finding stops the cache at the last clean commit
    clean_tip = world.main
    world.direct({"datasets/3.yaml": y(dataset(3, "do"))}, "sneaked in", who="do")
    bad = audit(world.repo, cache=AuditCache(tmp_path / "cache.json", first.root))
    assert codes(bad) == ["NOT-ADMIN"]
    assert AuditCache(tmp_path / "cache.json", first.root).tips[-1] == clean_tip


def test_since_limits_the_walk(tmp_path):
    world = World(tmp_path)
    world.direct({"datasets/2.yaml": y(dataset(2, "do"))}, "sneaked in", who="do")
    since = world.main
    world.merge(world.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))}))
    report = audit(world.repo, since=since)
    assert report.clean and report.checked == 1


def test_root_must_be_signed_by_an_admin_it_lists(tmp_path):
    from medperf_git.registry.git import init_bare

    repo = init_bare(tmp_path / "r.git")
    key = generate_key(tmp_path / "k" / "id_ed25519", "k")
    from medperf_git.registry.signing import public_key

    registry = b"schema_version: 1\nkind: registry\nname: r\nadmins: [boss]\nmedperf_git: medperf-git==0.1.0\n"
    records = {"registry.yaml": registry,
               "people/mallory.yaml": y({"schema_version": 1, "kind": "person", "handle": "mallory", "name": "M",
                                         "email": "m@x.org", "keys": [public_key(key)]})}
    root = commit_changes(repo, None, records, "root", Identity("M", "m@x.org", str(key)))
    update_ref(repo, "refs/heads/main", root, None)
    assert codes(audit(repo)) == ["ROOT"]


def test_person_registration_signed_by_the_new_key_is_clean(tmp_path):
    from tests.support.actors import make_actor

    world = World(tmp_path)
    newcomer = world.actors["nina"] = make_actor(tmp_path, "nina", str(world.path))
    head = commit_changes(world.repo, world.main, {"people/nina.yaml": y(newcomer.person_record())}, "Register",
                          newcomer.identity)
    world.merge(world.approve("admin", head))
    # nina now signs her own dataset with the key her merged record lists
    world.merge(world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))}))
    own = commit_changes(world.repo, world.main, {"datasets/3.yaml": y(dataset(3, "nina"))}, "Mine",
                         newcomer.identity)
    world.merge(own, who="do")
    report = audit(world.repo)
    assert report.clean, [f.text() for f in report.findings]
    # the same registration merged without the admin's approval is a finding
    other = world.actors["otto"] = make_actor(tmp_path, "otto", str(world.path))
    world.merge(commit_changes(world.repo, world.main, {"people/otto.yaml": y(other.person_record())}, "Register",
                               other.identity))
    assert codes(audit(world.repo)) == ["APPROVALS"]


def test_an_octopus_by_hand_among_good_merges_is_found_and_the_merges_around_it_still_judged(tmp_path):
    """The audit reads all merges' lineages from one walk of main; a hand-made commit of three parents
    makes it judge merge by merge instead, and a bad merge after the octopus is still caught."""
    world = World(tmp_path)
    world.merge(world.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))}))
    one = world.submit("do", {"datasets/4.yaml": y(dataset(4, "do"))})
    two = world.submit("eve", {"datasets/5.yaml": y(dataset(5, "eve"))})
    old = world.main
    tree = world.repo.out("merge-tree", "--write-tree", old, one).splitlines()[0]
    octopus = commit_tree(world.repo, tree, [old, one, two], "Three at once", world["admin"].identity)
    update_ref(world.repo, "refs/heads/main", octopus, old)
    world.merge(world.submit("eve", {"datasets/6.yaml": y(dataset(6, "do"))}))  # eve files do's dataset
    found = codes(audit(world.repo))
    assert "OCTOPUS" in found and "POLICY" in found
