"""The trust anchor: what a client pinned at first use, and the audit that guards every fetch.

A profile pins the registry's root commit and its admins' key fingerprints the first time it
fetches. Each later fetch audits the new commits since the last verified one; a main that is not a
descendant of that commit (history rewritten behind the client's back) or whose new commits fail
the audit is refused loudly, and the local copy keeps the last verified main.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from medperf_git.errors import AuditFailed, ConfigError
from medperf_git.policy.audit import AuditCache, AuditReport, audit, root_of
from medperf_git.policy.base import BaseRecords
from medperf_git.registry.git import GitRepo, is_object_id
from medperf_git.registry.verify import fingerprint
from medperf_git.workspace.atomic import write_text

if TYPE_CHECKING:
    from medperf_git.registry.clone import RegistryClone
    from medperf_git.workspace.workspace import Workspace

RESET_HINT = ("if the registry's admins announced a history rewrite, accept it with "
              "`medperf-git profile trust --reset` (or pin out of band with `--root-commit SHA`)")


class AuditRefused(AuditFailed):
    """A fetch brought commits that fail the audit; carries the report."""

    def __init__(self, message: str, report: AuditReport | None = None, hint: str | None = None):
        super().__init__(message, hint)
        self.report = report


def audit_cache(ws: Workspace, root: str) -> AuditCache:
    return AuditCache(ws.registry_dir(root) / "audit-verified.json", root)


def _trusted_file(ws: Workspace, root: str) -> Path:
    return ws.registry_dir(root) / "trusted-main"


def trusted_main(ws: Workspace, root: str) -> str | None:
    try:
        return _trusted_file(ws, root).read_text().strip() or None
    except OSError:
        return None


def admin_fingerprints(repo: GitRepo, rev: str) -> list[str]:
    base = BaseRecords(repo, rev)
    return sorted({fingerprint(k) for handle in base.admins for k in base.person_keys(handle)})


def pin(ws: Workspace, repo: GitRepo, main: str, root: str) -> dict:
    """Record the root commit and the admins' key fingerprints in the active profile.

    Only a history that passes the audit is pinned: a registry whose root commit is not signed by an
    admin it lists (not made by ``registry init``) is refused like any other finding.
    """
    ws.profile.trust = {"root_commit": root, "admin_keys": admin_fingerprints(repo, main)}
    ws.config.save()
    return ws.profile.trust


def _restore(repo: GitRepo, ref: str, sha: str | None) -> None:
    if sha and repo.rev_parse(sha):
        repo.git("update-ref", ref, sha)
    else:
        repo.git("update-ref", "-d", ref, check=False)


def check_fetch(clone: RegistryClone, old_main: str | None, ref: str) -> AuditReport:
    """Audit what a fetch brought to ``ref``; on refusal put ``ref`` back and raise AuditRefused."""
    ws, repo = clone.ws, clone.repo
    new = repo.rev_parse(ref)
    if new is None:
        return AuditReport("", clone.root, None)
    trust = ws.profile.trust or {}
    root = root_of(repo, new)
    trusted = trusted_main(ws, root)
    fallback = trusted if trusted and repo.rev_parse(trusted) else old_main
    pinned = trust.get("root_commit")
    if pinned and pinned != root:
        _restore(repo, ref, fallback)
        raise AuditRefused(f"the registry {clone.remote} has root commit {root[:12]}, but this profile pinned "
                           f"{pinned[:12]}: it is another registry, or its history was rewritten",
                           hint=RESET_HINT)
    if trusted and repo.rev_parse(trusted) is None:
        _restore(repo, ref, old_main)
        raise AuditRefused(f"the last verified commit {trusted[:12]} of {clone.remote} is gone: main was "
                           "rewritten by force", hint=RESET_HINT)
    if trusted and not repo.is_ancestor(trusted, new):
        _restore(repo, ref, trusted)
        raise AuditRefused(f"main of {clone.remote} ({new[:12]}) is not a descendant of the last verified commit "
                           f"{trusted[:12]}: its history was rewritten; the local copy stays at {trusted[:12]}",
                           hint=RESET_HINT)
    cache = audit_cache(ws, root)
    if trusted and trusted not in cache.tips and not cache.outdated:
        cache.add(trusted)  # verified on an earlier run (under today's rules) though the cache forgot it
    report = audit(repo, new, cache=cache)
    clone.audit_report = report
    if not report.clean:
        _restore(repo, ref, fallback)
        lines = "\n".join(f"  {f.text()}" for f in report.findings[:10])
        raise AuditRefused(f"{report.summary()} The registry {clone.remote} was not updated locally:\n{lines}",
                           report, hint="tell the registry's admins; `medperf-git registry audit` shows every "
                                        "finding")
    ws.registry_dir(root).mkdir(parents=True, exist_ok=True)
    write_text(_trusted_file(ws, root), new + "\n")
    if not pinned or "admin_keys" not in trust:
        pin(ws, repo, new, root)
    return report


def reset(ws: Workspace, root_commit: str | None = None, known_roots: tuple[str, ...] = ()) -> None:
    """Forget what was verified (after an announced rewrite); ``root_commit`` pins out of band."""
    if root_commit is not None and not is_object_id(root_commit):
        raise ConfigError(f"'{root_commit}' is not a full commit id (40 lowercase hex digits)")
    old_root = (ws.profile.trust or {}).get("root_commit")
    for root in {r for r in (old_root, root_commit, *known_roots) if r}:
        for path in (_trusted_file(ws, root), ws.registry_dir(root) / "audit-verified.json"):
            path.unlink(missing_ok=True)
    ws.profile.trust = {"root_commit": root_commit} if root_commit else {}
    ws.config.save()
