"""A command asks git the same questions many times; ``GitRepo`` remembers some answers. These tests move
refs behind its back, with plain git in another process, and check that no remembered answer is stale."""

from __future__ import annotations

import subprocess

from medperf_git.registry.git import GitRepo, init_bare

REF = "refs/remotes/origin/main"


def _commits(repo: GitRepo, n: int) -> list[str]:
    tree = repo.out("mktree", input="")
    shas, parent = [], []
    for i in range(n):
        sha = repo.out("-c", "user.name=t", "-c", "user.email=t@example.org", "commit-tree", tree, *parent,
                       "-m", f"c{i}")
        shas.append(sha)
        parent = ["-p", sha]
    return shas


def _plain_git(repo: GitRepo, *args: str) -> None:
    """Another process: nothing of ``repo``'s own is told."""
    subprocess.run(["git", *args], cwd=repo.path, check=True, capture_output=True)


def test_a_ref_moved_by_another_process_is_read_again(tmp_path):
    repo = init_bare(tmp_path / "r.git")
    a, b = _commits(repo, 2)
    for i in range(60):  # quick moves, so that a file's inode may be reused within one clock tick
        want = (a, b)[i % 2]
        _plain_git(repo, "update-ref", REF, want)
        assert repo.rev_parse(REF) == want
        assert repo.rev_parse(REF) == want  # the remembered answer


def test_packed_refs_and_deleted_refs_are_read_again(tmp_path):
    repo = init_bare(tmp_path / "r.git")
    a, b = _commits(repo, 2)
    _plain_git(repo, "update-ref", REF, a)
    assert repo.rev_parse(REF) == a
    _plain_git(repo, "pack-refs", "--all")  # the loose file goes, packed-refs holds it
    assert repo.rev_parse(REF) == a
    _plain_git(repo, "update-ref", REF, b)  # a loose file again, over the packed one
    assert repo.rev_parse(REF) == b
    _plain_git(repo, "update-ref", "-d", REF)
    assert repo.rev_parse(REF) is None


def test_this_process_moving_a_ref_forgets_what_it_knew(tmp_path):
    repo = init_bare(tmp_path / "r.git")
    a, b = _commits(repo, 2)
    repo.git("update-ref", REF, a)
    assert repo.rev_parse(REF) == a
    repo.git("-c", "core.logAllRefUpdates=false", "update-ref", REF, b)
    assert repo.rev_parse(REF) == b


def test_answers_about_object_ids_are_kept_and_names_are_not(tmp_path):
    repo = init_bare(tmp_path / "r.git")
    a, b, c = _commits(repo, 3)
    assert repo.merge_base(b, c) == b and repo.is_ancestor(a, c) and not repo.is_ancestor(c, a)
    _plain_git(repo, "update-ref", "refs/heads/x", a)
    assert repo.merge_base("refs/heads/x", c) == a
    _plain_git(repo, "update-ref", "refs/heads/x", b)
    assert repo.merge_base("refs/heads/x", c) == b  # a ref name is a question asked again


def test_kept_answers_are_bounded_and_stay_right(tmp_path, monkeypatch):
    import medperf_git.registry.git as git

    monkeypatch.setattr(git, "_KEPT_ANSWERS", 2)
    repo = init_bare(tmp_path / "r.git")
    a, b, c = _commits(repo, 3)
    for _ in range(2):
        assert [repo.merge_base(a, c), repo.merge_base(b, c), repo.merge_base(a, b)] == [a, b, a]
        assert len(repo.derived) <= 2
