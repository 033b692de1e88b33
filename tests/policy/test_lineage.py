"""Lineages computed for many heads at once agree with git's own merge-base, rev-list and diff-tree;
in-process tree lookups agree with ls-tree."""

from __future__ import annotations

import pytest

from medperf_git.errors import GitError
from medperf_git.policy.base import BaseRecords
from medperf_git.policy.lineage import lineage, lineages, merge_lineages
from medperf_git.policy.review import review_submission
from medperf_git.registry.commits import commit_changes
from tests.policy.policy_world import World, dataset, y


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def _by_git(world: World, base: str, head: str):
    fork = world.repo.out("merge-base", base, head, check=False) or None
    commits = set(world.repo.out("rev-list", head, f"^{base}").split())
    changes = tuple(world.repo.diff_tree(fork, head)) if fork else ()
    return fork, commits, changes


def test_batch_lineages_match_git(world):
    start = world.main
    one = world.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    two = world.submit("do", {"datasets/4.yaml": y(dataset(4, "do"))}, parent=one)
    approved = world.approve("bo", two)
    world.direct({"README.md": b"# moved on\n"}, "Main moves on")
    # a submission that merged main in: two edges into main's history, so git decides the fork
    merged_in = world.submit("eve", {"datasets/5.yaml": y(dataset(5, "eve"))}, parent=start)
    main = world.main
    tree = world.repo.out("merge-tree", "--write-tree", main, merged_in).splitlines()[0]
    from medperf_git.registry.commits import commit_tree

    with_main = commit_tree(world.repo, tree, [merged_in, main], "Merge main", world["eve"].identity)
    unrelated = commit_changes(world.repo, None, {"x.yaml": b"a: 1\n"}, "Unrelated", world["eve"].identity)
    heads = [one, two, approved, with_main, start, main, unrelated]

    found = lineages(world.repo, main, heads)

    for head in heads:
        line = found[head]
        assert (line.fork, set(line.commits), line.changes) == _by_git(world, main, head), head
        for i, sha in enumerate(line.commits):  # children before parents
            parents = world.repo.out("rev-list", "--parents", "-n1", sha).split()[1:]
            assert not set(parents) & set(line.commits[:i]), head
        assert line == lineage(world.repo, main, head)
    assert found[start].commits == () and found[start].changes == ()
    assert found[unrelated].fork is None
    assert found[with_main].paths == ["datasets/5.yaml"]


def test_lineage_keys_by_the_names_given_and_refuses_unknown_revisions(world):
    head = world.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    found = lineages(world.repo, "refs/heads/main", ["refs/test/1"])
    assert found["refs/test/1"].head == head and found["refs/test/1"].base == world.main
    with pytest.raises(GitError, match="not a commit"):
        lineage(world.repo, world.main, "0" * 40)


def test_one_shared_base_judges_many_heads_as_separate_reviews_do(world):
    heads = [world.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))}),
             world.submit("eve", {"datasets/3.yaml": y(dataset(3, "do"))}),
             world.submit("eve", {"benchmarks/1.yaml": b"kind: benchmark\n"})]
    records = BaseRecords(world.repo, world.main)
    lines = lineages(world.repo, world.main, heads)
    for head in heads:
        shared = review_submission(world.repo, world.main, head, line=lines[head], records=records)
        alone = review_submission(world.repo, world.main, head)
        assert shared.to_dict() == alone.to_dict()


@pytest.mark.parametrize("parse_at_once", [True, False], ids=["parsed", "asked-of-git"])
def test_tree_lookup_matches_ls_tree(world, monkeypatch, parse_at_once):
    from medperf_git.registry import git

    if not parse_at_once:  # every tree counts as large: lookups go through ls-tree until parsing pays
        monkeypatch.setattr(git, "_TREE_BYTES_PER_GIT_CALL", 1)
    main = world.main
    for path in ("registry.yaml", "people/do.yaml", "associations/1/model-4.yaml", "associations/1", "datasets/99.yaml",
                 "people", "registry.yaml/x", "nowhere/deep/file.yaml"):
        listed = [e for e in world.repo.ls_tree(main, [path]) if e.path == path]
        entry = world.repo.lookup(main, path)
        if path in ("people", "associations/1"):
            assert entry is not None and entry.type == "tree" and entry.mode == "40000"
        else:
            assert (entry.sha if entry else None) == (listed[0].sha if listed else None), path
    assert set(BaseRecords(world.repo, main).people) == {"admin", "bo", "mo", "do", "eve"}
    with pytest.raises(GitError):
        world.repo.lookup("0" * 40, "registry.yaml")


def test_diff_commits_answers_each_pair_and_empty_diffs(world):
    base = world.main
    a = world.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    b = world.submit("do", {"datasets/4.yaml": y(dataset(4, "do")), "datasets/5.yaml": y(dataset(5, "do"))})
    same = world.approve("bo", a)
    diffs = world.repo.diff_commits([(base, a), (base, b), (a, same)])
    assert diffs[a] == world.repo.diff_tree(base, a) and len(diffs[b]) == 2 and diffs[same] == []


def test_prefetched_objects_read_as_the_object_reader_does(world):
    head = world.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    blob = world.repo.diff_tree(world.main, head)[0][2]
    wanted = [head, blob, world.repo.root_tree(head), "0" * 40]
    kinds = dict(zip(wanted[:3], ("commit", "blob", "tree"), strict=True))
    expected = {sha: world.repo.git("cat-file", kind, sha, input=b"").stdout for sha, kind in kinds.items()}
    world.repo.prefetch(wanted)  # a missing object is skipped, not an error
    assert sorted(world.repo._prefetched) == sorted(wanted[:3])
    assert {sha: world.repo.read_blob(sha) for sha in wanted[:3]} == expected
    assert world.repo._prefetched == {}  # each is handed out once; callers keep what they parse


def _hand_merge(world: World, head: str) -> str:
    """A merge commit onto main with plain git: no meta chain, whatever the head is."""
    from medperf_git.registry.commits import commit_tree, update_ref

    old = world.main
    tree = world.repo.out("merge-tree", "--write-tree", "--allow-unrelated-histories", old, head).splitlines()[0]
    new = commit_tree(world.repo, tree, [old, head], "Merge by hand", world["admin"].identity)
    update_ref(world.repo, "refs/heads/main", new, old)
    return new


def test_the_lineages_of_a_whole_first_parent_chain_match_each_merge_asked_alone(world):
    """The audit reads every merge's lineage from one walk of main's chain; each must be exactly what
    asking git about that merge alone gives, across the shapes history takes (a train of merges, a
    submission built on a later main, one that merged main in, a head already on main, an unrelated
    history, a commit straight onto main between merges)."""
    start = world.main
    early = world.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    stacked = world.submit("do", {"datasets/4.yaml": y(dataset(4, "do"))}, parent=early)
    world.merge(early)
    world.direct({"README.md": b"# moved on\n"}, "Main moves on")
    later = world.submit("eve", {"datasets/5.yaml": y(dataset(5, "eve"))})  # built on the newer main
    world.merge(stacked)
    world.merge(later)
    old_base = world.submit("eve", {"datasets/6.yaml": y(dataset(6, "eve"))}, parent=start)
    tree = world.repo.out("merge-tree", "--write-tree", world.main, old_base).splitlines()[0]
    from medperf_git.registry.commits import commit_tree

    merged_in = commit_tree(world.repo, tree, [old_base, world.main], "Merge main", world["eve"].identity)
    world.merge(merged_in)
    _hand_merge(world, early)  # its head is on main already
    unrelated = commit_changes(world.repo, None, {"x.yaml": b"a: 1\n"}, "Unrelated", world["eve"].identity)
    _hand_merge(world, unrelated)

    chain = [line.split() for line in world.repo.out(
        "rev-list", "--first-parent", "--reverse", "--parents", world.main, f"^{start}").splitlines()]
    found = merge_lineages(world.repo, start, chain)

    merges = [row for row in chain if len(row) == 3]
    assert set(found) == {sha for sha, *_ in merges} and len(merges) == 6
    for sha, first, second in merges:
        assert found[sha] == lineage(world.repo, first, second), sha
    assert found[merges[4][0]].commits == ()  # the head already on main
    assert found[merges[5][0]].fork is None  # the unrelated history
    assert found[merges[3][0]].paths == ["datasets/6.yaml"]
    whole = [line.split() for line in world.repo.out(
        "rev-list", "--first-parent", "--reverse", "--parents", world.main).splitlines()]
    from_root = merge_lineages(world.repo, None, whole)  # an audit of the whole history
    assert from_root == {sha: lineage(world.repo, first, second) for sha, *parents in whole if len(parents) == 2
                         for first, second in [parents]}
