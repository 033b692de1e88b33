"""The workspace's own bare clone of the profile's registry.

Users never see it: commands read records from Git objects and write submissions as new commits,
so there is no working tree to get into a bad state. The clone is keyed by the registry's root
commit, since ids and result names only mean something within one registry.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

from medperf_git.errors import ConfigError, GitError, RemoteUnavailable
from medperf_git.registry.git import GitRepo, init_bare, is_network_failure, run_git
from medperf_git.workspace.atomic import write_text
from medperf_git.workspace.workspace import Workspace

MAIN = "refs/remotes/origin/main"
FETCH_REFSPECS = ("+refs/heads/*:refs/remotes/origin/*", "+refs/pull/*:refs/pull/*")
DEFAULT_MAX_AGE = 300  # seconds: read commands fetch first when the clone is older than this


def _remote_key(remote: str) -> str:
    return hashlib.sha256(remote.encode()).hexdigest()[:32]


class RegistryClone:
    """A bare clone of one registry, with its refs mirrored: ``origin/main`` and ``refs/pull/*``."""

    def __init__(self, ws: Workspace, remote: str, root: str):
        self.ws = ws
        self.remote = remote
        self.root = root
        self.dir = ws.registry_dir(root)
        self.repo = GitRepo(self.dir / "repo.git")
        self.fetch_error: str | None = None  # why the last refresh could not fetch, if it could not
        self.audit_report = None  # policy.audit.AuditReport of the last fetch (see policy/trust.py)

    # Opening
    @classmethod
    def open(cls, ws: Workspace, *, refresh: bool = True, max_age: float = DEFAULT_MAX_AGE) -> RegistryClone:
        remote = ws.profile.registry
        if not remote:
            raise ConfigError(f"profile '{ws.profile.name}' has no registry",
                              hint="run `medperf-git profile set --registry PATH_OR_URL`")
        pointer = ws.home / "registries" / "remotes" / _remote_key(remote)
        root = pointer.read_text().strip() if pointer.exists() else None
        if root and (ws.registry_dir(root) / "repo.git").exists():
            clone = cls(ws, remote, root)
            if refresh and not ws.offline:
                clone.refresh(max_age)
            return clone
        if ws.offline:
            raise RemoteUnavailable(f"no local copy of the registry {remote} yet",
                                    hint="run the command once without --offline")
        return cls._first_clone(ws, remote, pointer)

    @classmethod
    def _first_clone(cls, ws: Workspace, remote: str, pointer: Path) -> RegistryClone:
        base = ws.home / "registries"
        base.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=base))
        repo = init_bare(staging / "repo.git")
        fetch_remote(repo, remote)
        main = repo.rev_parse(MAIN)
        if main is None:
            raise ConfigError(f"{remote} has no main branch; is it a medperf-git registry?",
                              hint="create one with `medperf-git registry init`")
        roots = repo.root_commits(main)
        root = roots[-1]
        final = ws.registry_dir(root)
        if (final / "repo.git").exists():
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                os.rename(staging / "repo.git", final / "repo.git")
                staging.rmdir()
            else:
                os.rename(staging, final)
        write_text(pointer, root + "\n")
        clone = cls(ws, remote, root)
        clone._verify(None)
        clone._stamp()
        return clone

    # Keeping it fresh
    @property
    def _stamp_path(self) -> Path:
        return self.dir / "fetched-at"

    def _stamp(self) -> None:
        write_text(self._stamp_path, f"{time.time():.0f}\n")

    def age(self) -> float:
        try:
            return time.time() - self._stamp_path.stat().st_mtime
        except FileNotFoundError:
            return float("inf")

    def refresh(self, max_age: float = DEFAULT_MAX_AGE) -> bool:
        """Fetch when older than ``max_age``; an unreachable remote keeps the local copy usable."""
        if self.age() < max_age:
            return False
        try:
            self.fetch()
        except RemoteUnavailable as exc:
            self.fetch_error = exc.message
            return False
        return True

    def fetch(self) -> None:
        old = self.repo.rev_parse(MAIN)
        fetch_remote(self.repo, self.remote)
        self._verify(old)
        self._stamp()

    def _verify(self, old_main: str | None) -> None:
        """The trust anchor: audit what the fetch brought; a rewritten or failing main is refused."""
        from medperf_git.policy.trust import check_fetch

        check_fetch(self, old_main, MAIN)

    # Reading
    @property
    def main(self) -> str:
        sha = self.repo.rev_parse(MAIN)
        if sha is None:
            raise GitError(f"the local copy of {self.remote} has no main branch")
        return sha

    def read(self, path: str, rev: str | None = None) -> bytes | None:
        return self.repo.read_path(rev or self.main, path)


def fetch_remote(repo: GitRepo, remote: str) -> None:
    """Mirror the registry's main and submission refs; an unreachable remote keeps local work."""
    try:
        run_git("fetch", "--quiet", "--prune", "--no-tags", remote, *FETCH_REFSPECS, cwd=repo.path,
                timeout=600, what=f"cannot fetch the registry {remote}")
    except GitError as exc:
        if is_network_failure(exc) and not isinstance(exc, RemoteUnavailable):
            raise RemoteUnavailable(exc.message, hint="check the registry address and your network; "
                                    "local work is kept: run the same command again") from None
        raise
