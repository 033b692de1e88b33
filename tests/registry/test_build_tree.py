"""Trees built from many changed files at once hold exactly what git itself would write for each file."""

from __future__ import annotations

import subprocess

from medperf_git.registry.commits import build_tree
from medperf_git.registry.git import init_bare


def _ls(repo, tree: str) -> dict[str, str]:
    return {e.path: e.sha for e in repo.ls_tree(tree)}


def test_many_files_written_at_once_match_git_one_by_one(tmp_path):
    repo = init_bare(tmp_path / "r.git")
    files = {f"results/b1m{i}d1.yaml": f"id: {i}\r\nvalue: {'x' * i}\n".encode() for i in range(30)}
    files["datasets/1.yaml"] = b""  # empty, and bytes git's filters would touch in a work tree
    tree = build_tree(repo, None, files)
    for path, content in files.items():
        one = subprocess.run(["git", "hash-object", "--stdin"], input=content, capture_output=True,
                             cwd=repo.path, check=True).stdout.decode().strip()
        assert _ls(repo, tree)[path] == one
    smaller = build_tree(repo, tree, {"results/b1m3d1.yaml": None, "results/b1m4d1.yaml": b"changed\n"})
    listed = _ls(repo, smaller)
    assert "results/b1m3d1.yaml" not in listed and len(listed) == len(files) - 1
    assert repo.read_blob(listed["results/b1m4d1.yaml"]) == b"changed\n"
