"""Merge commits computed in-process.

Records are whole files: a path changed on both sides since the merge base is a conflict, never a
line-by-line merge. The result is always a true merge commit (first parent = main, second = the
submission's head), so main's first-parent chain stays linear and every author's signature stays.
"""

from __future__ import annotations

import os
import tempfile

from medperf_git.forges.base import MergeConflict
from medperf_git.registry.commits import Identity, commit_tree
from medperf_git.registry.git import GitRepo


def _changes(repo: GitRepo, old: str, new: str) -> dict[str, str | None]:
    return {path: (None if status == "D" else new_blob) for status, _, new_blob, path in repo.diff_tree(old, new)}


def merged_tree(repo: GitRepo, number: int, main: str, head: str) -> str:
    """The tree of main with the head's changes since their merge base; refuses on a conflict."""
    base = repo.out("merge-base", main, head, check=False) or None
    theirs = _changes(repo, base, head) if base else {e.path: e.sha for e in repo.ls_tree(head)}
    ours = _changes(repo, base, main) if base else {}
    conflicts = sorted(p for p, blob in theirs.items() if p in ours and ours[p] != blob)
    if conflicts:
        raise MergeConflict(number, conflicts)
    with tempfile.TemporaryDirectory(prefix="medperf-git-merge-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        repo.git("read-tree", main, env=env)
        lines = [f"0 {'0' * 40}\t{p}" if blob is None else f"100644 {blob}\t{p}" for p, blob in sorted(theirs.items())]
        if lines:
            repo.git("update-index", "--index-info", input="\n".join(lines) + "\n", env=env)
        return repo.out("write-tree", env=env)


def merge_commit(repo: GitRepo, number: int, title: str, main: str, head: str, identity: Identity) -> str:
    tree = merged_tree(repo, number, main, head)
    message = f"Merge submission #{number}: {title}\n\nSubmission: {number}\nHead: {head}\n"
    return commit_tree(repo, tree, [main, head], message, identity)
