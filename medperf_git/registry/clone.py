"""The workspace's own bare clone of the profile's registry.

Users never see it: commands read records from Git objects and write submissions as new commits,
so there is no working tree to get into a bad state. The clone is keyed by the registry's root
commit, since ids and result names only mean something within one registry.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medperf_git.errors import ConfigError, GitError, RemoteUnavailable
from medperf_git.registry.git import GitRepo, init_bare, is_local_remote, is_network_failure
from medperf_git.workspace.atomic import write_text
from medperf_git.workspace.workspace import Workspace

MAIN = "refs/remotes/origin/main"
DEFAULT_MAX_AGE = 2  # seconds: older than this, a read asks the remote (one ls-remote) whether anything moved


def _remote_key(remote: str) -> str:
    return hashlib.sha256(remote.encode()).hexdigest()[:32]


def known_root(ws: Workspace) -> str | None:
    """The root commit the profile's registry was cloned under, if it was."""
    if not ws.profile.registry:
        return None
    try:
        return (ws.home / "registries" / "remotes" / _remote_key(ws.profile.registry)).read_text().strip() or None
    except OSError:
        return None


# Audits what a fetch brought to the ref, and refuses it (putting the ref back) when it must: the trust
# anchor, given by the layer that knows the rules (policy.trust.check_fetch).
Verifier = Callable[["RegistryClone", "str | None", str], object]


class RegistryClone:
    """A bare clone of one registry, with its refs mirrored: ``origin/main`` and ``refs/pull/*``.

    Every fetch is checked by the ``verify`` it was opened with before anything reads what it brought.
    """

    def __init__(self, ws: Workspace, remote: str, root: str, verify: Verifier):
        self.ws = ws
        self.remote = remote
        self.root = root
        self.verify = verify
        self.dir = ws.registry_dir(root)
        self.repo = GitRepo(self.dir / "repo.git")
        self.fetch_error: str | None = None  # why the last refresh could not fetch, if it could not
        self.refused: dict[int, str] = {}  # submissions the last fetch would not store, and why
        self.refused_main: str | None = None  # why the registry's new main was refused, when it was
        self.audit_report = None  # policy.audit.AuditReport of the last fetch (see policy/trust.py)

    # Opening
    @classmethod
    def open(cls, ws: Workspace, *, verify: Verifier) -> RegistryClone:
        """The profile's registry clone, made (and verified) on first use; fetching is the caller's to decide."""
        remote = ws.profile.registry
        if not remote:
            raise ConfigError(f"profile '{ws.profile.name}' has no registry",
                              hint="run `medperf-git profile set --registry PATH_OR_URL`")
        pointer = ws.home / "registries" / "remotes" / _remote_key(remote)
        root = pointer.read_text().strip() if pointer.exists() else None
        if root and (ws.registry_dir(root) / "repo.git").exists():
            return cls(ws, remote, root, verify)
        if ws.offline:
            raise RemoteUnavailable(f"no local copy of the registry {remote} yet",
                                    hint="run the command once without --offline")
        return cls._first_clone(ws, remote, pointer, verify)

    @classmethod
    def _first_clone(cls, ws: Workspace, remote: str, pointer: Path, verify: Verifier) -> RegistryClone:
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
        clone = cls(ws, remote, root, verify)
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

    def refuse_main(self, exc: Exception) -> None:
        """Go on from the last verified copy; say why the registry's new main was refused."""
        report = getattr(exc, "report", None)
        first = report.findings[0].text() if report is not None and report.findings else str(exc)
        self.refused_main = f"main of the registry fails the audit ({first.splitlines()[0]})"

    def fetch(self) -> None:
        """Fetch what moved and verify it; one command at a time per clone (the others wait their turn)."""
        with self.repo.locked():
            old = self.repo.rev_parse(MAIN)
            report = fetch_remote(self.repo, self.remote, max_object_bytes=lambda: self.max_record_bytes(old))
            self.refused = report.refused
            if report.changed:
                self._verify(old)
            self._stamp()

    def max_record_bytes(self, main: str | None) -> int:
        """The cap registry.yaml of the verified main sets on record files (what a submission may bring)."""
        from medperf_git.records.yamlio import load_yaml

        proc = self.repo.git("cat-file", "blob", f"{main}:registry.yaml", check=False, input=b"") if main else None
        data = proc.stdout if proc is not None and proc.returncode == 0 else None  # one git: no object database opened
        try:
            value = (load_yaml(data, "registry.yaml") or {}).get("max_record_bytes") if data else None
        except Exception:  # noqa: BLE001 - an unreadable setting leaves the default
            value = None
        return value if isinstance(value, int) and 1024 <= value <= DEFAULT_MAX_RECORD_BYTES \
            else DEFAULT_MAX_RECORD_BYTES

    def _verify(self, old_main: str | None) -> None:
        """The trust anchor: audit what the fetch brought; a rewritten or failing main is refused."""
        self.verify(self, old_main, MAIN)

    # Reading
    @property
    def main(self) -> str:
        sha = self.repo.rev_parse(MAIN)
        if sha is None:
            raise GitError(f"the local copy of {self.remote} has no main branch")
        return sha

    def read(self, path: str, rev: str | None = None) -> bytes | None:
        return self.repo.read_path(rev or self.main, path)


DEFAULT_MAX_RECORD_BYTES = 1024 * 1024  # registry.yaml's max_record_bytes when it sets none
SUBMISSION_BYTES_FACTOR = 64  # a submission brings at most this many record files' worth of new objects
_PULL_REF = re.compile(r"refs/pull/(\d+)/")
_ALL_PULLS = "+refs/pull/*:refs/pull/*"
_EXPLICIT_REFSPECS = 50
# A partial fetch from a repository on disk needs its upload-pack to allow filters; a server decides for itself.
_FILTERING_UPLOAD_PACK = "git -c uploadpack.allowFilter=true upload-pack"


@dataclass
class FetchReport:
    """What a fetch brought: whether anything changed, and the submissions it refused to store."""

    changed: bool = False
    refused: dict[int, str] = field(default_factory=dict)  # submission number -> why


def fetch_remote(repo: GitRepo, remote: str, *, max_object_bytes: int | Callable[[], int] = DEFAULT_MAX_RECORD_BYTES,
                 env: dict[str, str] | None = None) -> FetchReport:
    """Mirror the registry's branches and submissions; an unreachable remote keeps local work.

    One ``ls-remote`` says what moved; nothing is fetched when nothing did. Branches are fetched as
    they are (the audit judges main). Submissions are anyone's, so they are fetched into a staging
    repository first, asking the server to leave out blobs over ``max_object_bytes``; a submission
    that needs such an object, or brings more than its share of new bytes, is refused and its objects
    never reach this clone.
    """
    theirs = remote_refs(repo, remote, env)
    mine = _local_refs(repo)
    report = FetchReport()
    if theirs == mine:
        return report
    report.changed = True
    heads = {ref: sha for ref, sha in theirs.items() if not ref.startswith("refs/pull/")}
    if heads != {ref: sha for ref, sha in mine.items() if not ref.startswith("refs/pull/")}:
        _git_fetch(repo, remote, ["+refs/heads/*:refs/remotes/origin/*"], env, options=["--prune"])
        # Main may have moved again since the listing, together with the merged events of its new merges:
        # list the submissions afresh, so that none is older than the main just fetched.
        theirs = remote_refs(repo, remote, env, "refs/pull/*")
    pulls = {ref: sha for ref, sha in theirs.items() if ref.startswith("refs/pull/")}
    moved = {ref: sha for ref, sha in pulls.items() if mine.get(ref) != sha}
    if moved:
        cap = max_object_bytes() if callable(max_object_bytes) else max_object_bytes
        report.refused = _fetch_checked(repo, remote, moved, cap, env)
    gone = [ref for ref in mine if ref.startswith("refs/pull/") and ref not in pulls]
    if gone:
        repo.git("update-ref", "--stdin", input="".join(f"delete {ref}\n" for ref in gone))
    return report


def remote_refs(repo: GitRepo, remote: str, env: dict[str, str] | None, *patterns: str) -> dict[str, str]:
    """``{ref: id}`` the remote advertises for ``patterns`` (its branches and submissions by default): one
    ``ls-remote``, nothing fetched."""
    out = _git(repo, ["ls-remote", remote, *(patterns or ("refs/heads/*", "refs/pull/*"))], env,
               f"cannot reach the registry {remote}")
    refs = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        refs[ref] = sha
    return refs


def _local_refs(repo: GitRepo) -> dict[str, str]:
    out = repo.out("for-each-ref", "--format=%(objectname) %(refname)", "refs/remotes/origin/", "refs/pull/")
    refs = {}
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        if ref.startswith("refs/remotes/origin/"):
            if ref == "refs/remotes/origin/HEAD":
                continue
            ref = "refs/heads/" + ref[len("refs/remotes/origin/"):]
        refs[ref] = sha
    return refs


def _fetch_checked(repo: GitRepo, remote: str, moved: dict[str, str], cap: int,
                   env: dict[str, str] | None) -> dict[int, str]:
    """Fetch ``moved`` refs into a staging repository that borrows this one's objects, check every new
    object, then bring only the accepted refs here; return the refused submissions and why."""
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=repo.path.parent))
    try:
        stage = init_bare(staging / "repo.git")
        (stage.path / "objects" / "info" / "alternates").write_text(str((repo.path / "objects").resolve()) + "\n")
        for key, value in (("core.repositoryformatversion", "1"), ("extensions.partialClone", "origin"),
                           ("remote.origin.url", remote), ("remote.origin.promisor", "true")):
            stage.git("config", key, value)
        args = [f"--filter=blob:limit={cap}"]
        if is_local_remote(remote):
            args.append(f"--upload-pack={_FILTERING_UPLOAD_PACK}")
        # git matches explicit refspecs one by one against what the remote advertises: with many, a wildcard
        # (which may bring a few unchanged refs along) is far cheaper.
        many = len(moved) > _EXPLICIT_REFSPECS
        _git_fetch(stage, "origin", [_ALL_PULLS] if many else [], env, options=args,
                   stdin=None if many else "".join(f"+{ref}:{ref}\n" for ref in moved))
        fetched = _local_refs(stage)
        refused = _oversized(stage, fetched, cap)
        accepted = [ref for ref in fetched if _number(ref) not in refused]
        if accepted and not refused:
            _adopt(stage, repo, fetched)
        elif accepted:
            _git_fetch(repo, str(stage.path), [], None, stdin="".join(f"+{ref}:{ref}\n" for ref in accepted))
        return refused
    finally:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)


def _adopt(stage: GitRepo, repo: GitRepo, refs: dict[str, str]) -> None:
    """Take every object the staging repository received (all checked, none left out) and its refs: files
    are moved, not copied, and a pack's index arrives only after its pack."""
    source, target = stage.path / "objects", repo.path / "objects"
    for pack in sorted((source / "pack").glob("*.pack")):
        os.replace(pack, target / "pack" / pack.name)
        os.replace(pack.with_suffix(".idx"), target / "pack" / pack.with_suffix(".idx").name)
    for loose in source.glob("[0-9a-f][0-9a-f]/*"):
        folder = target / loose.parent.name
        folder.mkdir(exist_ok=True)
        os.replace(loose, folder / loose.name)
    repo.git("update-ref", "--stdin", input="".join(f"update {ref} {sha}\n" for ref, sha in refs.items()))


def _number(ref: str) -> int | None:
    match = _PULL_REF.match(ref)
    return int(match.group(1)) if match else None


def _oversized(stage: GitRepo, refs: dict[str, str], cap: int) -> dict[int, str]:
    """Submissions whose new objects include one over ``cap`` (or left out by the server for its size), or
    that bring more than their share of new bytes."""
    by_number: dict[int, list[str]] = {}
    for ref, sha in refs.items():
        number = _number(ref)
        if number is not None:
            by_number.setdefault(number, []).append(sha)
    refused: dict[int, str] = {}
    problems = _new_object_problems(stage, [sha for shas in by_number.values() for sha in shas], cap)
    if problems is None:
        return refused
    for number, tips in by_number.items():  # something is wrong: find whose it is
        why = _new_object_problems(stage, tips, cap)
        if why:
            refused[number] = why
    return refused


def _new_object_problems(stage: GitRepo, tips: list[str], cap: int) -> str | None:
    """Why the objects reachable from ``tips`` and not from the clone cannot be stored, or None."""
    listed = stage.out("-c", "core.alternateRefsCommand=git for-each-ref --format=%(objectname)",
                       "rev-list", "--objects", "--missing=print", "--stdin", "--not", "--alternate-refs",
                       input="".join(f"{sha}\n" for sha in tips))
    present, missing = [], 0
    for line in listed.splitlines():
        sha = line.split(" ", 1)[0]
        if sha.startswith("?"):
            missing += 1
        elif sha:
            present.append(sha)
    if missing:
        return f"{missing} object(s) over the registry's limit of {cap:,} bytes per record file"
    if not present:
        return None
    sizes = stage.out("cat-file", "--batch-check=%(objectsize) %(objectname)", input="\n".join(present) + "\n")
    total = 0
    for line in sizes.splitlines():
        size = int(line.split(" ", 1)[0])
        total += size
        if size > cap:
            return f"an object of {size:,} bytes, over the registry's limit of {cap:,} bytes per record file"
    if total > cap * SUBMISSION_BYTES_FACTOR:
        return f"{total:,} bytes of new objects, over the limit of {cap * SUBMISSION_BYTES_FACTOR:,} per submission"
    return None


def _git_fetch(repo: GitRepo, remote: str, refspecs: list[str], env: dict[str, str] | None, *,
               options: list[str] | None = None, stdin: str | None = None) -> None:
    """``git fetch`` without tags, FETCH_HEAD or housekeeping; ``stdin`` carries many refspecs."""
    _git(repo, ["-c", "gc.auto=0", "-c", "maintenance.auto=false", "fetch", "--quiet", "--no-tags",
                "--no-write-fetch-head", *(options or []), *(["--stdin"] if stdin is not None else []), remote,
                *refspecs], env, f"cannot fetch the registry {remote}", stdin)


def _git(repo: GitRepo, args: list[str], env: dict[str, str] | None, what: str, stdin: str | None = None) -> str:
    try:
        return repo.git(*args, env=env, input=stdin, timeout=600, what=what).stdout
    except GitError as exc:
        if is_network_failure(exc) and not isinstance(exc, RemoteUnavailable):
            raise RemoteUnavailable(exc.message, hint="check the registry address and your network; "
                                    "local work is kept: run the same command again") from None
        raise
