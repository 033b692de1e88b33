"""``registry lint`` on a checkout: the working tree of a folder, optionally against a base commit.

With a base, only the records changed since it are parsed: the changed paths come from
``git diff`` against the working tree plus untracked files, and everything else is known from the
base's facts: the SQLite index of the base commit (kept warm in the workspace between runs), or
the base commit's files when the index cannot be used.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from medperf_git.errors import GitError, MedperfGitError, UsageError
from medperf_git.lint.linter import LintReport, lint
from medperf_git.registry.git import GitRepo, run_git
from medperf_git.registry.tree import CommitTree, FolderTree

# The same index file as the registry's clone in the workspace: one index per registry, moved to
# whichever commit it is asked about (an incremental update from the diff).
INDEX_NAME = "index.sqlite"


def lint_path(path: str | os.PathLike = ".", base_ref: str | None = None, *, use_index: bool = True,
              progress: Callable[[int, int], None] | None = None) -> LintReport:
    """Lint the registry in ``path``; raise only for a bad path or a bad base (never for bad records).

    ``progress(done, total)`` follows the (rare) build of the base's index.
    """
    root = Path(path)
    if not root.exists():
        raise MedperfGitError(f"{path}: no such folder", hint="give the path of a registry checkout")
    if not root.is_dir():
        raise MedperfGitError(f"{path}: not a folder", hint="give the path of a registry checkout, not a file")
    if _is_bare(root):
        return _lint_bare(root, base_ref, use_index, progress)
    if base_ref is None:
        return lint(_checkout_tree(root))
    tree = FolderTree(root)
    repo = _repo_at(root)
    base = _resolve_base(repo, base_ref, path)
    changed = changed_since(repo, base)
    facts = index_facts(repo, base, progress) if use_index else None
    if facts is not None:
        try:
            return lint(tree, base_facts=facts, changed=changed, base_label=base_ref)
        finally:
            facts.close()
    try:
        return lint(tree, base=CommitTree(repo, base), changed=changed, base_label=base_ref)
    finally:
        repo.close()


def _resolve_base(repo: GitRepo, base_ref: str, path) -> str:
    base = repo.rev_parse(base_ref)
    if base is None:
        raise UsageError(f"--base {base_ref}: no such commit in {path}",
                         hint="give a branch, tag or commit of this repository, e.g. --base origin/main")
    return base


def _is_bare(root: Path) -> bool:
    proc = run_git("rev-parse", "--is-bare-repository", cwd=root, check=False)
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def _lint_bare(root: Path, base_ref: str | None, use_index: bool, progress) -> LintReport:
    """A bare registry (e.g. on a file share) has no working tree: lint its HEAD, as CI would."""
    repo = GitRepo(root)
    try:
        head = repo.rev_parse("HEAD")
        if head is None:
            raise MedperfGitError(f"{root} is an empty repository: there is nothing to lint yet")
        tree = CommitTree(repo, head)
        if base_ref is None:
            return lint(tree)
        base = _resolve_base(repo, base_ref, root)
        changed = {path for _, _, _, path in repo.diff_tree(base, head)}
        facts = index_facts(repo, base, progress) if use_index else None
        try:
            return lint(tree, base=None if facts else CommitTree(repo, base), base_facts=facts, changed=changed,
                        base_label=base_ref)
        finally:
            if facts is not None:
                facts.close()
    finally:
        repo.close()


class CheckoutTree(FolderTree):
    """A git checkout's working files as CI will see them: tracked and untracked, but not ignored ones.

    Editor backups, ``.venv`` and other ignored files never reach CI, so they must not fail lint locally.
    """

    def __init__(self, root: str | os.PathLike, listed: list[str]):
        super().__init__(root)
        self._listed = listed

    def paths(self):
        return (p for p in self._listed if os.path.isfile(os.path.join(self.root, p)))


def _checkout_tree(root: Path) -> FolderTree:
    """The files to lint: git's view of a checkout's root, or every file of a plain folder."""
    proc = run_git("rev-parse", "--show-toplevel", cwd=root, check=False)
    if proc.returncode != 0 or Path(proc.stdout.strip()).resolve() != root.resolve():
        return FolderTree(root)
    listed = run_git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=root).stdout
    return CheckoutTree(root, sorted({p for p in listed.split("\0") if p}))


def _repo_at(root: Path) -> GitRepo:
    try:
        top = run_git("rev-parse", "--show-toplevel", cwd=root).stdout.strip()
    except GitError:
        raise UsageError(f"--base needs a git checkout, and {root} is not one",
                         hint="run lint without --base to check every record") from None
    if Path(top).resolve() != root.resolve():
        raise UsageError(f"{root} is inside the repository {top}, not its root",
                         hint=f"run `medperf-git registry lint {top} --base ...`")
    return GitRepo(root)


def changed_since(repo: GitRepo, base: str) -> set[str]:
    """Paths that differ between ``base`` and the working tree, untracked files included."""
    diff = repo.git("diff", "--name-only", "-z", "--no-renames", base, "--").stdout
    untracked = repo.git("ls-files", "-z", "--others", "--exclude-standard").stdout
    return {p for p in (diff + untracked).split("\0") if p}


def index_facts(repo: GitRepo, base: str, progress: Callable[[int, int], None] | None = None, *,
                existing_only: bool = False, root: str | None = None):
    """Facts of ``base`` from its SQLite index in the workspace, brought up to date; None when unusable.

    CI and merges pass it as ``lint(..., base_facts=...)`` so a large registry is never parsed whole;
    the caller closes it.
    """
    from medperf_git.registry.index import Index, IndexUnavailable
    from medperf_git.workspace.workspace import home_dir

    path = home_dir() / "registries" / (root or repo.root_commits(base)[0]) / INDEX_NAME
    if existing_only and not path.exists():
        return None  # a cold build costs more than reading the few base records a merge needs
    try:
        index = Index.open(path)
    except (IndexUnavailable, OSError):
        return None  # the index is a cache: lint reads the base's files instead
    try:
        index.update(repo, base, progress)
    except (IndexUnavailable, GitError, OSError, sqlite3.Error):  # e.g. an index of another clone of the registry
        index.close()
        return None
    return index
