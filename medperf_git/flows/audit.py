"""Which repository ``registry audit`` reads: the profile's clone, a local path, or a URL."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from medperf_git.errors import UsageError
from medperf_git.flows.session import RegistrySession
from medperf_git.policy.audit import AuditFinding, AuditReport, audit, root_of
from medperf_git.registry.git import GitRepo, init_bare, run_git
from medperf_git.workspace.workspace import Workspace

_URL_PREFIXES = ("http://", "https://", "ssh://", "git://", "file://")


def _is_url(target: str) -> bool:
    return target.startswith(_URL_PREFIXES) or ("@" in target.split("/", 1)[0] and ":" in target)


def _main_ref(repo: GitRepo) -> str:
    for ref in ("refs/heads/main", "refs/remotes/origin/main"):
        if repo.rev_parse(ref):
            return ref
    raise UsageError(f"{repo.path} has no main branch; is it a medperf-git registry?")


def run_audit(s: RegistrySession, target: str | None = None, *, since: str | None = None,
              progress: Callable[[int], None] | None = None) -> AuditReport:
    """Audit ``target`` (default: the profile's registry clone), resuming from the cached verified commit.

    Verdicts depend only on commits (content-addressed), so one cache per registry root serves the
    clone, local paths and URLs alike; it lives in the workspace's folder for that registry.
    """
    from medperf_git.policy.trust import AuditRefused

    ws = s.ws
    if target is None:
        from medperf_git.registry.clone import MAIN

        try:
            s.fetch()
        except AuditRefused as exc:  # the new commits failed: report them all
            if exc.report is not None:
                return exc.report
            raise
        return _audit_repo(ws, s.repo, MAIN, since, progress)
    if _is_url(target):
        tmp = Path(tempfile.mkdtemp(prefix="medperf-git-audit-"))
        fetched = init_bare(tmp / "repo.git")
        try:
            run_git("fetch", "--quiet", "--no-tags", target, "+refs/heads/main:refs/heads/main",
                    "+refs/pull/*/meta:refs/pull/*/meta", cwd=fetched.path, timeout=600,
                    what=f"cannot fetch {target}")  # the meta chains record who merged what
            return _audit_repo(ws, fetched, "refs/heads/main", since, progress)
        finally:
            fetched.close()
            shutil.rmtree(tmp, ignore_errors=True)
    path = Path(target).expanduser()
    if not path.exists():
        raise UsageError(f"{target} is neither a folder nor a URL")
    repo = GitRepo(path.resolve())
    try:
        return _audit_repo(ws, repo, _main_ref(repo), since, progress)
    finally:
        repo.close()


def _audit_repo(ws: Workspace, repo: GitRepo, ref: str, since: str | None,
                progress: Callable[[int], None] | None) -> AuditReport:
    from medperf_git.policy.trust import audit_cache

    tip = repo.rev_parse(ref)
    if tip is None:
        raise UsageError(f"{repo.path} has no {ref}")
    cache = None if since else audit_cache(ws, root_of(repo, tip))
    report = audit(repo, tip, since=since, cache=cache, progress=progress)
    report.findings += meta_findings(repo, tip)
    return report


def meta_findings(repo: GitRepo, main: str) -> list[AuditFinding]:
    """Events of the git-native submissions (``refs/pull/N/meta``) that clients ignore, as findings.

    Only the author or an entitled approver may close a submission, and every event must be signed by
    the person it names; the forge's own judge decides, so clients and the audit agree.
    """
    if not repo.out("for-each-ref", "--count=1", "refs/pull/"):
        return []
    from medperf_git.forges.gitnative import GitNativeForge
    from medperf_git.policy.assess import MetaJudge
    from medperf_git.registry.commits import Identity

    forge = GitNativeForge(repo, "", Identity("audit", "audit@localhost"), "", judge=MetaJudge(repo, main))
    found = []
    for sub in forge.list():
        for event in sub.events:
            if not event.valid:
                found.append(AuditFinding(event.commit or "", "META", f"submission #{sub.number}: the "
                                          f"{event.type} event by '{event.by}' does not count: {event.problem}",
                                          f"refs/pull/{sub.number}/meta", None))
    return found
