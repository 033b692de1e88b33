"""A read-only view of a registry's files: a working folder, or a commit in a repository.

Lint, the index and the policy engine read records through this one interface, so the same
checks run on a user's checkout, on a pull request's merged tree and in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from medperf_git.registry.git import GitRepo, is_object_id


class TreeSource(Protocol):
    name: str  # shown in messages: a folder or "<commit>"

    def paths(self) -> Iterator[str]:
        """Every file, as a '/'-separated path relative to the registry root."""

    def read(self, path: str) -> bytes | None:
        """A file's bytes, or None when it does not exist."""

    def blob_id(self, path: str) -> str | None:
        """A stable content id (a Git blob id where there is one), or None."""


class FolderTree:
    """Files of a working folder (``.git`` is skipped)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.name = str(root)

    def paths(self) -> Iterator[str]:
        root = str(self.root)
        for dirpath, dirnames, filenames in os.walk(root):
            if dirpath == root and ".git" in dirnames:
                dirnames.remove(".git")
            rel = os.path.relpath(dirpath, root)
            for name in filenames:
                yield name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}"

    def read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def blob_id(self, path: str) -> str | None:
        return None

    def is_file(self, path: str) -> bool:
        return (self.root / path).is_file()


class CommitTree:
    """Files of one commit, read from Git objects without a checkout."""

    def __init__(self, repo: GitRepo, rev: str):
        self.repo = repo
        self.rev = rev
        self.name = rev[:12]
        self._entries: dict[str, str] | None = None

    @property
    def entries(self) -> dict[str, str]:
        if self._entries is None:
            self._entries = {e.path: e.sha for e in self.repo.ls_tree(self.rev) if e.type == "blob"}
        return self._entries

    def paths(self) -> Iterator[str]:
        return iter(self.entries)

    def read(self, path: str) -> bytes | None:
        sha = self.entries.get(path)
        return None if sha is None else self.repo.read_blob(sha)

    def blob_id(self, path: str) -> str | None:
        return self.entries.get(path)

    def prefetch(self, paths: Iterable[str]) -> None:
        _prefetch(self, paths)


class LazyTree:
    """A commit's or tree's files as lint reads them: given paths known up front, others looked up on
    demand. Lint of a merge touches a handful of paths, so a 100,000-file tree is never listed."""

    def __init__(self, repo: GitRepo, rev: str, known: dict[str, str | None] | None = None):
        self.repo, self.rev, self.name = repo, rev, rev[:12]
        self._known: dict[str, str | None] = dict(known or {})
        self._tree: str | None = None

    @property
    def tree(self) -> str:
        """The root tree (``rev`` may name a commit or a tree)."""
        if self._tree is None:
            kind = self.repo.object_type(self.rev) if is_object_id(self.rev) else None
            if kind == "tree":
                self._tree = self.rev
            elif kind == "commit":
                self._tree = self.repo.root_tree(self.rev)  # read in-process: the audit asks this of every commit
            else:
                self._tree = self.repo.out("rev-parse", "--verify", f"{self.rev}^{{tree}}")
        return self._tree

    def blob_id(self, path: str) -> str | None:
        if path not in self._known:
            entry = self.repo.lookup_in_tree(self.tree, path)  # in-process: no git per path
            self._known[path] = entry.sha if entry is not None and entry.type == "blob" else None
        return self._known[path]

    def is_file(self, path: str) -> bool:
        return self.blob_id(path) is not None

    def prefetch(self, paths: Iterable[str]) -> None:
        _prefetch(self, paths)

    def read(self, path: str) -> bytes | None:
        sha = self.blob_id(path)
        return None if sha is None else self.repo.read_blob(sha)

    def paths(self):
        return (e.path for e in self.repo.ls_tree(self.rev) if e.type == "blob")


def _prefetch(tree: CommitTree | LazyTree, paths: Iterable[str]) -> None:
    """Read the files at ``paths`` with one ``cat-file --batch`` before they are read one by one (a
    submission that changes a thousand records would otherwise wait on a thousand round trips)."""
    tree.repo.prefetch([sha for path in paths if (sha := tree.blob_id(path))])
