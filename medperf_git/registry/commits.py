"""Commits made in-process, without a working tree.

Submissions, approvals and merges are built from Git objects: a temporary index holds the tree,
``commit-tree`` writes the commit, and refs move only by compare-and-swap. Nothing a user has
checked out can get in the way, and nothing half-done is ever visible.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from medperf_git.errors import GitError
from medperf_git.registry.git import GitRepo
from medperf_git.registry.signing import signing_config

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass(frozen=True)
class Identity:
    name: str
    email: str
    signing_key: str | None = None  # path to the SSH private key that signs

    def env(self, date: str | None = None) -> dict[str, str]:
        env = {"GIT_AUTHOR_NAME": self.name, "GIT_AUTHOR_EMAIL": self.email,
               "GIT_COMMITTER_NAME": self.name, "GIT_COMMITTER_EMAIL": self.email}
        if date:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
        return env


def build_tree(repo: GitRepo, base: str | None, changes: Mapping[str, bytes | None]) -> str:
    """The tree of ``base`` (a commit or tree, or empty) with files written (bytes) or removed (None)."""
    with tempfile.TemporaryDirectory(prefix="medperf-git-index-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        repo.git("read-tree", base or EMPTY_TREE, env=env)
        written = sorted((path, content) for path, content in changes.items() if content is not None)
        shas = _write_blobs(repo, [content for _, content in written], tmp)
        lines = [f"0 {'0' * 40}\t{path}" for path, content in sorted(changes.items()) if content is None]
        lines += [f"100644 {sha}\t{path}" for (path, _), sha in zip(written, shas, strict=True)]
        if lines:
            repo.git("update-index", "--index-info", input="\n".join(lines) + "\n", env=env)
        return repo.out("write-tree", env=env)


def _write_blobs(repo: GitRepo, contents: list[bytes], tmp: str) -> list[str]:
    """Many files are written with one ``hash-object`` (a re-encryption changes a thousand records)."""
    if len(contents) <= 1:
        return [repo.hash_object(content) for content in contents]
    paths = []
    for i, content in enumerate(contents):
        path = os.path.join(tmp, f"blob-{i}")
        with open(path, "wb") as out:
            out.write(content)
        paths.append(path)
    shas = repo.out("hash-object", "-w", "--no-filters", "--stdin-paths", input="\n".join(paths) + "\n").split()
    if len(shas) != len(contents):
        raise GitError(f"git wrote {len(shas)} of {len(contents)} files")
    return shas


def commit_tree(repo: GitRepo, tree: str, parents: Sequence[str], message: str, identity: Identity,
                *, date: str | None = None) -> str:
    """Write a commit, signed with the identity's SSH key when it has one."""
    args: list[str] = []
    if identity.signing_key:
        args += signing_config(identity.signing_key)
    args += ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    if identity.signing_key:
        args.append("-S")
    args += ["-F", "-"]
    return repo.out(*args, input=message if message.endswith("\n") else message + "\n",
                    env=identity.env(date), what="cannot write the commit")


def commit_changes(repo: GitRepo, parent: str | None, changes: Mapping[str, bytes | None], message: str,
                   identity: Identity) -> str:
    tree = build_tree(repo, parent, changes)
    return commit_tree(repo, tree, [parent] if parent else [], message, identity)


def update_ref(repo: GitRepo, ref: str, new: str, expected: str | None) -> None:
    """Move ``ref`` to ``new`` only if it still points at ``expected`` (None: must not exist)."""
    repo.git("update-ref", ref, new, expected or "0" * 40, what=f"{ref} moved meanwhile")
