"""Merge commits computed in-process.

Records are whole files: a path changed on both sides since the merge base is a conflict, never a
line-by-line merge. The result is always a true merge commit (first parent = main, second = the
submission's head), so main's first-parent chain stays linear and every author's signature stays.
"""

from __future__ import annotations

from medperf_git.forges.base import MergeConflict
from medperf_git.registry.commits import EMPTY_TREE, Identity, commit_tree
from medperf_git.registry.git import GitRepo


def _changes(repo: GitRepo, old: str, new: str) -> dict[str, str | None]:
    return {path: (None if status == "D" else new_blob) for status, _, new_blob, path in repo.diff_tree(old, new)}


def merged_tree(repo: GitRepo, number: int, main: str, head: str) -> str:
    """The tree of main with the head's changes since their merge base; refuses on a conflict."""
    base = repo.merge_base(main, head)
    theirs = _changes(repo, base, head) if base else {e.path: e.sha for e in repo.ls_tree(head)}
    ours = _changes(repo, base, main) if base else {}
    conflicts = sorted(p for p, blob in theirs.items() if p in ours and ours[p] != blob)
    if conflicts:
        raise MergeConflict(number, conflicts)
    return edit_tree(repo, repo.out("rev-parse", f"{main}^{{tree}}"), theirs)


def edit_tree(repo: GitRepo, tree: str, changes: dict[str, str | None]) -> str:
    """``tree`` with files set to blobs (None removes them), rebuilding only the folders on their paths.

    A registry of 100,000 records is never read into an index: each changed folder is listed with
    ``ls-tree`` and written back with ``mktree``.
    """
    here: dict[str, str | None] = {}
    below: dict[str, dict[str, str | None]] = {}
    for path, blob in changes.items():
        head, sep, rest = path.partition("/")
        if sep:
            below.setdefault(head, {})[rest] = blob
        else:
            here[head] = blob
    entries: dict[str, tuple[str, str, str]] = {}
    out = repo.git("ls-tree", "-z", tree).stdout if tree else ""
    for item in out.split("\0"):
        if item:
            meta, name = item.split("\t", 1)
            mode, kind, sha = meta.split()
            entries[name] = (mode, kind, sha)
    for name, blob in here.items():
        if blob is None:
            entries.pop(name, None)
        else:
            entries[name] = ("100644", "blob", blob)
    for name, sub in below.items():
        old = entries.get(name)
        new = edit_tree(repo, old[2] if old and old[1] == "tree" else "", sub)
        if new == EMPTY_TREE:
            entries.pop(name, None)
        else:
            entries[name] = ("040000", "tree", new)
    listing = "".join(f"{mode} {kind} {sha}\t{name}\0" for name, (mode, kind, sha) in sorted(entries.items()))
    return repo.out("mktree", "-z", input=listing)


def merge_commit(repo: GitRepo, number: int, title: str, main: str, head: str, identity: Identity) -> str:
    tree = merged_tree(repo, number, main, head)
    message = f"Merge submission #{number}: {title}\n\nSubmission: {number}\nHead: {head}\n"
    return commit_tree(repo, tree, [main, head], message, identity)


def taken_new_paths(repo: GitRepo, main: str, head: str) -> list[str]:
    """Paths the head adds since its fork that main now holds with other contents: new records whose ids
    someone else took meanwhile (their author renumbers them)."""
    base = repo.merge_base(main, head)
    if not base:
        return []
    added = {path: blob for status, _, blob, path in repo.diff_tree(base, head) if status == "A"}
    taken = []
    for path, blob in sorted(added.items()):
        entry = repo.lookup(main, path)
        if entry is not None and entry.sha != blob:
            taken.append(path)
    return taken
