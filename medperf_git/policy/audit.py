"""The audit: was every change on main made by someone allowed to make it?

It walks main's first-parent chain. For each merge M it judges the commits ``M^1..M^2``, approvals
included, against the records of ``M^1`` (keys, owners, policy), with the same ``review_submission``
the forge and CI use. A merge whose tree is exactly the clean merge of its parents needs no
particular signer. A commit straight on main must be signed by an admin, and the root commit by
an admin that it lists itself. Verified commits are cached, so each audit starts from the last one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medperf_git.policy.approvals import new_person_keys
from medperf_git.policy.base import BaseRecords
from medperf_git.policy.lineage import lineage
from medperf_git.policy.review import review_submission
from medperf_git.registry.git import GitRepo
from medperf_git.registry.verify import CommitInfo, fingerprint, normalize_key, read_commit
from medperf_git.workspace.atomic import write_text

CACHE_TIPS = 20  # verified first-parent commits remembered per registry


@dataclass(frozen=True)
class AuditFinding:
    commit: str
    code: str
    message: str
    subject: str = ""
    merge: str | None = None  # the merge of main that brought the commit in

    def text(self) -> str:
        via = f" (merged by {self.merge[:12]})" if self.merge and self.merge != self.commit else ""
        return f"{self.commit[:12]}{via} {self.code} {self.message}"

    def to_dict(self) -> dict:
        return {"commit": self.commit, "code": self.code, "message": self.message, "subject": self.subject,
                "merge": self.merge}


@dataclass
class AuditReport:
    tip: str
    root: str
    start: str | None  # the verified commit the walk started after (None: from the root)
    checked: int = 0  # first-parent commits judged
    findings: list[AuditFinding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        scope = f"since {self.start[:12]}" if self.start else "from the root commit"
        if self.clean:
            return f"Audit clean: {self.checked} commit(s) on main {scope} up to {self.tip[:12]}."
        commits = len({f.commit for f in self.findings})
        return (f"Audit failed: {len(self.findings)} finding(s) in {commits} commit(s) "
                f"({self.checked} on main checked {scope} up to {self.tip[:12]}).")

    def to_dict(self) -> dict:
        return {"tip": self.tip, "root": self.root, "start": self.start, "checked": self.checked,
                "clean": self.clean, "summary": self.summary(), "findings": [f.to_dict() for f in self.findings]}


class AuditCache:
    """Verified first-parent commits of one registry (keyed by its root), newest last."""

    def __init__(self, path: Path, root: str):
        self.path = path
        self.root = root
        self.tips: list[str] = []
        try:
            data = json.loads(path.read_text())
            if data.get("root") == root:
                self.tips = [t for t in data.get("verified", []) if isinstance(t, str)]
        except (OSError, ValueError, AttributeError):
            pass

    def latest_ancestor(self, repo: GitRepo, tip: str) -> str | None:
        for sha in reversed(self.tips):
            if repo.is_ancestor(sha, tip):
                return sha
        return None

    def add(self, sha: str) -> None:
        self.tips = [t for t in self.tips if t != sha][-(CACHE_TIPS - 1):] + [sha]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text(self.path, json.dumps({"root": self.root, "verified": self.tips}, indent=1) + "\n")


def root_of(repo: GitRepo, tip: str) -> str:
    roots = repo.root_commits(tip)
    return roots[-1]


def audit(repo: GitRepo, tip: str = "refs/heads/main", *, since: str | None = None,
          cache: AuditCache | None = None, progress: Callable[[int], None] | None = None) -> AuditReport:
    """Audit main up to ``tip``: after ``since`` if given, else after the cache's last verified commit."""
    tip_sha = repo.rev_parse(tip)
    if tip_sha is None:
        from medperf_git.errors import GitError

        raise GitError(f"{repo.path} has no {tip}", hint="is it a medperf-git registry?")
    report = AuditReport(tip_sha, root_of(repo, tip_sha), None)
    start = None
    if since:
        start = repo.rev_parse(since)
        if start is None or not repo.is_ancestor(start, tip_sha):
            from medperf_git.errors import UsageError

            raise UsageError(f"--since {since} is not a commit on main's history")
    elif cache is not None:
        start = cache.latest_ancestor(repo, tip_sha)
    report.start = start
    args = ["rev-list", "--first-parent", "--reverse", tip_sha] + ([f"^{start}"] if start else [])
    chain = repo.out(*args).split()
    for sha in chain:
        _judge_first_parent(repo, read_commit(repo, sha), report)
        report.checked += 1
        if progress:
            progress(1)
    if cache is not None and not since and chain:
        last_clean = _last_clean(chain, report)
        if last_clean:
            cache.add(last_clean)
    return report


def _last_clean(chain: list[str], report: AuditReport) -> str | None:
    bad = {f.merge or f.commit for f in report.findings}
    last = None
    for sha in chain:
        if sha in bad:
            break
        last = sha
    return last


def _judge_first_parent(repo: GitRepo, info: CommitInfo, report: AuditReport) -> None:
    add = report.findings.append
    if not info.parents:
        _judge_root(repo, info, report)
    elif len(info.parents) == 1:
        base = BaseRecords(repo, info.parents[0])
        who = _signer(info, base, add, info.sha)
        if who is not None and who not in base.admins:
            add(AuditFinding(info.sha, "NOT-ADMIN", f"pushed straight onto main by '{who}', who is not an admin",
                             info.subject, info.sha))
    elif len(info.parents) == 2:
        _judge_merge(repo, info, report)
    else:
        add(AuditFinding(info.sha, "OCTOPUS", "a merge of more than two parents", info.subject, info.sha))


def _signer(info: CommitInfo, base: BaseRecords, add, merge: str, newcomer: tuple | None = None) -> str | None:
    """The handle that validly signed ``info`` (per ``base``), else a finding and None."""
    if info.signature_key is None:
        code = "UNSIGNED" if info.signature_error == "unsigned" else "BAD-SIGNATURE"
        add(AuditFinding(info.sha, code, f"not validly signed ({info.signature_error})", info.subject, merge))
        return None
    owner = base.key_owner(info.signature_key)
    if owner is None and newcomer and normalize_key(info.signature_key) in newcomer[1]:
        owner = newcomer[0]
    if owner is None:
        add(AuditFinding(info.sha, "UNKNOWN-KEY", f"signed by a key no person lists "
                                                  f"({fingerprint(info.signature_key)})", info.subject, merge))
    return owner


def root_is_signed(repo: GitRepo, root: str) -> bool:
    """Is the root commit signed by an admin it lists (as ``registry init`` makes it)?"""
    report = AuditReport(root, root, None)
    _judge_root(repo, read_commit(repo, root), report)
    return report.clean


def _judge_root(repo: GitRepo, info: CommitInfo, report: AuditReport) -> None:
    base = BaseRecords(repo, info.sha)
    who = _signer(info, base, report.findings.append, info.sha)
    if who is not None and who not in base.admins:
        report.findings.append(AuditFinding(info.sha, "ROOT", f"the root commit is signed by '{who}', who is not "
                                                              "an admin it lists", info.subject, info.sha))


def _judge_merge(repo: GitRepo, merge: CommitInfo, report: AuditReport) -> None:
    add = report.findings.append
    first, second = merge.parents
    base = BaseRecords(repo, first)
    clean = repo.git("merge-tree", "--write-tree", first, second, check=False)
    clean_tree = clean.stdout.split("\n", 1)[0].strip() if clean.returncode == 0 else None
    if clean_tree != merge.tree:
        who = _signer(merge, base, add, merge.sha)
        if who is not None and who not in base.admins:
            add(AuditFinding(merge.sha, "MERGE-TREE", "the merge's tree is not the clean merge of its parents, and "
                                                      f"its signer '{who}' is not an admin", merge.subject, merge.sha))
    line = lineage(repo, first, second)
    newcomer = new_person_keys(repo, line, base.people)
    before = len(report.findings)
    for sha in line.commits:
        _signer(read_commit(repo, sha), base, add, merge.sha, newcomer)
    signatures_bad = len(report.findings) > before
    review = review_submission(repo, first, second, line=line, records=base)
    verdict = review.verdict
    for v in verdict.violations:
        if v.code == "SIGNATURE" and signatures_bad:
            continue
        add(AuditFinding(second, "POLICY", f"{v.path}: {v.message}" if v.path != "." else v.message,
                         read_commit(repo, second).subject, merge.sha))
    missing = [r for r in verdict.requirements if not r.satisfied]
    if verdict.allowed and missing:
        add(AuditFinding(merge.sha, "APPROVALS", "merged without the approvals its base required: "
                                                 + "; ".join(r.text() for r in missing), merge.subject, merge.sha))
