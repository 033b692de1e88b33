"""The audit: is main, commit by commit, exactly what medperf-git's own rules would have let through?

It walks main's first-parent chain in order and judges every commit against its first parent:

- **the object**: read as git reads it; a malformed commit object is a finding;
- **who**: the root commit is signed by an admin it lists, a commit straight on main by an admin of
  its parent, and a merge M brings commits ``M^1..M^2`` signed by the people policy names, with the
  approvals ``M^1`` required (the same ``review_submission`` the forge and CI use);
- **what**: the commit's tree passes lint against its first parent (only the records it changes
  are parsed; the rest of the registry's state is carried along the walk), and holds plain files;
- **how it merged**: a merge's tree is exactly the tool's own whole-file merge of its parents and,
  where submissions live in the repository (``host: git`` or ``ssh``), a ``merged`` event signed by
  a registered person records it, on a submission nobody entitled had closed first.

A **recovery** commit, signed by an admin of the last clean commit and restoring its tree, moves
the findings of the commits in between to ``quarantined``: the registry goes on without rewriting
history. Verified commits are cached, so each audit starts from the last one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medperf_git.errors import GitError, UsageError
from medperf_git.lint.tree_facts import ChainFacts
from medperf_git.policy._merge_records import MergeRecords
from medperf_git.policy.approvals import new_person_keys
from medperf_git.policy.base import BaseRecords
from medperf_git.policy.lineage import Lineage, lineage, merge_lineages
from medperf_git.policy.review import SubmissionReview, review_submission
from medperf_git.records.layout import parse_path
from medperf_git.registry.git import GitRepo
from medperf_git.registry.verify import CommitInfo, fingerprint, normalize_key, read_commit
from medperf_git.workspace.atomic import write_text

CACHE_TIPS = 20  # verified first-parent commits remembered per registry
RECOVERS_TRAILER = "Recovers"
PLAIN_FILE = "100644"
HOSTS_WITH_META = ("git", "ssh")  # where a merge must be recorded by a signed meta event
MERGES_READ_ONE_BY_ONE = 16  # auditing more merges than this reads every submission's meta chain at once


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
    quarantined: list[AuditFinding] = field(default_factory=list)  # undone by a recovery commit
    last_clean: str | None = None  # the newest commit up to which main is clean

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        scope = f"since {self.start[:12]}" if self.start else "from the root commit"
        kept = f"; {len({f.merge or f.commit for f in self.quarantined})} commit(s) quarantined by a recovery" \
            if self.quarantined else ""
        if self.clean:
            return f"Audit clean: {self.checked} commit(s) on main {scope} up to {self.tip[:12]}{kept}."
        commits = len({f.merge or f.commit for f in self.findings})
        return (f"Audit failed: {len(self.findings)} finding(s) in {commits} commit(s) "
                f"({self.checked} on main checked {scope} up to {self.tip[:12]}){kept}.")

    def to_dict(self) -> dict:
        return {"tip": self.tip, "root": self.root, "start": self.start, "checked": self.checked,
                "clean": self.clean, "summary": self.summary(), "last_clean": self.last_clean,
                "findings": [f.to_dict() for f in self.findings],
                "quarantined": [f.to_dict() for f in self.quarantined]}


class AuditCache:
    """Verified first-parent commits of one registry (keyed by its root), newest last."""

    def __init__(self, path: Path, root: str):
        self.path = path
        self.root = root
        self.tips: list[str] = []
        self.outdated = False  # verified under older rules: everything is audited again once
        try:
            data = json.loads(path.read_text())
            if data.get("root") == root:
                self.outdated = data.get("rules") != RULES
                if not self.outdated:
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
        write_text(self.path, json.dumps({"root": self.root, "rules": RULES, "verified": self.tips}, indent=1) + "\n")


# Commits verified under older, weaker rules are audited again once.
RULES = 2


def root_of(repo: GitRepo, tip: str) -> str:
    roots = repo.root_commits(tip)
    return roots[-1]


def audit(repo: GitRepo, tip: str = "refs/heads/main", *, since: str | None = None,
          cache: AuditCache | None = None, progress: Callable[[int], None] | None = None) -> AuditReport:
    """Audit main up to ``tip``: after ``since`` if given, else after the cache's last verified commit."""
    tip_sha = repo.rev_parse(tip)
    if tip_sha is None:
        raise GitError(f"{repo.path} has no {tip}", hint="is it a medperf-git registry?")
    start = None
    if since:
        start = repo.rev_parse(since)
        if start is None or not repo.is_ancestor(start, tip_sha):
            raise UsageError(f"--since {since} is not a commit on main's history")
    elif cache is not None:
        start = cache.latest_ancestor(repo, tip_sha)
    # A verified commit's root is the cache's; an unrelated history merged later is the policy's to refuse.
    root = cache.root if cache is not None and start is not None and not since else root_of(repo, tip_sha)
    report = AuditReport(tip_sha, root, start, last_clean=start)
    walk = _Walk(repo, report, start)
    try:
        walk.run(progress)
    finally:
        walk.close()
    if cache is not None and not since and report.last_clean and report.last_clean != start:
        cache.add(report.last_clean)
    return report


class _Walk:
    """One pass along main's first-parent chain, carrying the registry's state from commit to commit."""

    def __init__(self, repo: GitRepo, report: AuditReport, start: str | None):
        self.repo = repo
        self.report = report
        self.start = start
        self._index = None
        self.facts = ChainFacts(self._start_facts(start))
        self.merges = MergeRecords(repo)
        self.lineages: dict[str, Lineage] = {}  # merge -> its lineage, for every merge run() lists at once
        self.clean_mark = self.facts.mark()
        self.tainted: list[str] = []  # first-parent commits since the last clean one, when one had a finding
        self.first_bad = 0  # where the findings since the last clean commit start

    def _start_facts(self, start: str | None):
        """The records of the commit the walk starts after: its index when the workspace has one, else
        read from its files on demand (a walk from the root starts from nothing)."""
        if start is None:
            return None
        from medperf_git.lint.local import index_facts
        from medperf_git.lint.tree_facts import TreeFacts
        from medperf_git.registry.tree import CommitTree

        self._index = index_facts(self.repo, start, existing_only=True, root=self.report.root)
        return self._index if self._index is not None else TreeFacts(CommitTree(self.repo, start))

    def close(self) -> None:
        if self._index is not None:
            self._index.close()

    def run(self, progress: Callable[[int], None] | None) -> None:
        args = ["rev-list", "--first-parent", "--reverse", "--parents", self.report.tip]
        listed = [line.split() for line in self.repo.out(*args, *([f"^{self.start}"] if self.start else []))
                  .splitlines()]
        self.repo.prefetch([sha for sha, *_ in listed])
        diffs = self.repo.diff_modes([(parents[0], sha) for sha, *parents in listed if parents])
        if sum(len(parents) == 2 for _, *parents in listed) > MERGES_READ_ONE_BY_ONE:
            self.merges.load_all()
        self.lineages = merge_lineages(self.repo, self.start, listed)
        for sha, *_ in listed:
            self.judge(read_commit(self.repo, sha), diffs.get(sha, []))
            self.report.checked += 1
            if progress:
                progress(1)

    # ------------------------------------------------------------------ one commit
    def add(self, info: CommitInfo, code: str, message: str, commit: str | None = None,
            subject: str | None = None) -> None:
        self.report.findings.append(AuditFinding(commit or info.sha, code, message,
                                                 info.subject if subject is None else subject, info.sha))

    def judge(self, info: CommitInfo, changes: list[tuple[str, str, str, str, str]]) -> None:
        before = len(self.report.findings)
        if info.malformed:
            self.add(info, "MALFORMED", f"not a canonical commit object ({info.malformed}): git reads it by "
                                        "rules of its own, so it cannot carry a decision")
        if len(info.parents) == 1 and info.trailers.get(RECOVERS_TRAILER) and self.recovery(info):
            return  # a valid recovery: what came between is quarantined
        if not info.parents:
            self.root(info)
        elif len(info.parents) == 1:
            base = BaseRecords(self.repo, info.parents[0])
            who = self.signer(info, base, info.sha)
            if who is not None and who not in base.admins:
                self.add(info, "NOT-ADMIN", f"pushed straight onto main by '{who}', who is not an admin")
            self.contents(info, changes)
        elif len(info.parents) == 2:
            self.merge(info, changes)
        else:
            self.add(info, "OCTOPUS", "a merge of more than two parents")
            self.contents(info, changes)
        if len(self.report.findings) == before and not self.tainted:
            self.report.last_clean = info.sha
            self.facts.settle()
            self.clean_mark = self.facts.mark()
        elif not self.tainted:
            self.tainted, self.first_bad = [info.sha], before
        else:
            self.tainted.append(info.sha)

    def signer(self, info: CommitInfo, base: BaseRecords, merge: str, newcomer: tuple | None = None) -> str | None:
        """The handle that validly signed ``info`` (per ``base``), else a finding and None."""
        if info.signature_key is None:
            if not info.malformed:
                code = "UNSIGNED" if info.signature_error == "unsigned" else "BAD-SIGNATURE"
                self.report.findings.append(AuditFinding(info.sha, code, f"not validly signed "
                                                         f"({info.signature_error})", info.subject, merge))
            return None
        owner = base.key_owner(info.signature_key)
        if owner is None and newcomer and normalize_key(info.signature_key) in newcomer[1]:
            owner = newcomer[0]
        if owner is None:
            self.report.findings.append(AuditFinding(info.sha, "UNKNOWN-KEY", f"signed by a key no person lists "
                                                     f"({fingerprint(info.signature_key)})", info.subject, merge))
        return owner

    def root(self, info: CommitInfo) -> None:
        base = BaseRecords(self.repo, info.sha)
        who = self.signer(info, base, info.sha)
        if who is not None and who not in base.admins:
            self.add(info, "ROOT", f"the root commit is signed by '{who}', who is not an admin it lists")
        from medperf_git.lint.linter import lint
        from medperf_git.registry.tree import CommitTree

        self.lint_findings(info, lint(CommitTree(self.repo, info.sha)), set())

    def contents(self, info: CommitInfo, changes: list[tuple[str, str, str, str, str]]) -> None:
        """The commit's tree against its first parent: plain files only, and lint of what changed."""
        from medperf_git.lint.linter import lint
        from medperf_git.registry.tree import LazyTree

        for status, _, _, path, mode in changes:
            if status != "D" and mode != PLAIN_FILE:
                self.add(info, "FILE-MODE", f"{path}: mode {mode}; a registry holds only plain files")
        known = {path: (None if status == "D" else blob) for status, _, blob, path, _ in changes}
        gone = {(rp.kind, rp.key) for status, _, _, path, _ in changes
                if status == "D" and (rp := parse_path(path)) is not None}
        report = lint(LazyTree(self.repo, info.sha, known), base_facts=self.facts, changed=set(known),
                      base_label=info.parents[0][:12])
        self.lint_findings(info, report, gone)

    def lint_findings(self, info: CommitInfo, report, gone: set[tuple[str, str]]) -> None:
        """Lint's errors as findings; what it parsed becomes the state the next commit is judged on."""
        for f in report.findings:
            if f.severity == "error":
                self.add(info, "LINT", f"{f.path}:{f.line}:{f.col} {f.code} {f.message}")
        self.facts.apply(report.parsed, set(report.parsed) - gone)

    # ------------------------------------------------------------------ merges
    def merge(self, info: CommitInfo, changes: list[tuple[str, str, str, str, str]]) -> None:
        first, second = info.parents
        base = BaseRecords(self.repo, first)
        line = self.lineages.get(info.sha) or lineage(self.repo, first, second)
        newcomer = new_person_keys(self.repo, line, base.people)
        before = len(self.report.findings)
        for sha in line.commits:
            self.signer(read_commit(self.repo, sha), base, info.sha, newcomer)
        signatures_bad = len(self.report.findings) > before
        review = review_submission(self.repo, first, second, line=line, records=base)
        second_subject = read_commit(self.repo, second).subject
        for v in review.verdict.violations:
            if v.code == "SIGNATURE" and signatures_bad:
                continue
            self.add(info, "POLICY", f"{v.path}: {v.message}" if v.path != "." else v.message, second, second_subject)
        missing = [r for r in review.verdict.requirements if not r.satisfied]
        if review.verdict.allowed and missing:
            self.add(info, "APPROVALS", "merged without the approvals its base required: "
                                        + "; ".join(r.text() for r in missing))
        self.merge_tree(info, line, changes)
        if base.registry.get("host", "git") in HOSTS_WITH_META:
            self.merge_record(info, base, review)
        self.contents(info, changes)

    def merge_tree(self, info: CommitInfo, line: Lineage, changes: list[tuple[str, str, str, str, str]]) -> None:
        """The merge's tree must be the tool's own: main with the head's files since their fork, no file
        changed on both sides (records are whole files), every file plain."""
        if line.fork is None:
            self.add(info, "MERGE-TREE", "the merged head shares no history with main")
            return
        first = info.parents[0]
        expected: dict[str, str | None] = {}
        for status, old, new, path in line.changes:
            theirs = None if status == "D" else new
            entry = self.repo.lookup(first, path)
            ours = entry.sha if entry is not None and entry.type == "blob" else None
            if ours == theirs:
                continue
            if ours != (None if status == "A" else old):
                self.add(info, "MERGE-TREE", f"{path} changed on both sides since the fork: medperf-git refuses "
                                             "such a merge, this one was made by hand")
                return
            expected[path] = theirs
        actual = {path: (None if status == "D" else blob) for status, _, blob, path, _ in changes}
        if actual != expected:
            extra = sorted(set(actual) ^ set(expected) | {p for p in actual if actual[p] != expected.get(p)})
            self.add(info, "MERGE-TREE", "the merge's tree is not the clean merge of its parents (it differs on "
                                         f"{', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''})")

    def merge_record(self, info: CommitInfo, base: BaseRecords, review: SubmissionReview) -> None:
        """A signed ``merged`` event of a submission that was still open must record this merge."""
        named = info.trailers.get("Submission", [""])[-1]
        record = self.merges.get(info.sha, int(named) if named.isdigit() else None)
        if record is None:
            self.add(info, "UNRECORDED", "no submission records this merge (no refs/pull/N/meta has a merged event "
                                         "for it): it was not merged through medperf-git")
            return
        where = f"submission #{record.number}"
        if record.head != info.parents[1]:
            self.add(info, "MERGE-RECORD", f"{where}'s merged event names head {record.head[:12]}, but the merge "
                                           f"brings {info.parents[1][:12]}")
        merger = self.event_signer(record.merged_commit, base)
        if merger is None or merger != record.merged_by:
            self.add(info, "MERGE-RECORD", f"{where}'s merged event claims '{record.merged_by}' but is "
                                           + (f"signed by '{merger}'" if merger else
                                              "not signed by any person registered on the merge's base"))
        entitled = {record.author, review.author} | {c for r in review.verdict.requirements for c in r.candidates}
        for closed in record.closed_before:
            by = self.event_signer(closed.commit, base)
            if by is not None and by == closed.by and by in entitled:
                reason = f" ({closed.reason})" if closed.reason else ""
                self.add(info, "NOT-OPEN", f"{where} was closed by '{by}'{reason} before this merge: a closed "
                                           "submission is never merged")
                return

    def event_signer(self, commit: str, base: BaseRecords) -> str | None:
        event = read_commit(self.repo, commit)
        return base.key_owner(event.signature_key) if event.signature_key else None

    # ------------------------------------------------------------------ recovery
    def recovery(self, info: CommitInfo) -> bool:
        """An admin restores the last clean tree: what came between is quarantined, not a failure.

        False (with a finding) when the commit is not a valid recovery; it is then judged as any other.
        """
        target = info.trailers[RECOVERS_TRAILER][-1].strip()
        clean = self.report.last_clean
        problem = None
        if not self.tainted:
            problem = "there is nothing to recover from: every commit before it is clean"
        elif clean is None or target != clean:
            problem = (f"it names {target[:12]}, but the last clean commit is "
                       f"{clean[:12] if clean else 'none (the root itself failed)'}")
        elif info.tree != self.repo.root_tree(clean):
            problem = f"its tree is not the tree of {clean[:12]}"
        else:
            base = BaseRecords(self.repo, clean)
            key = info.signature_key
            who = base.key_owner(key) if key else None
            if who not in base.admins:
                problem = (f"it is signed by '{who}', who is not an admin of {clean[:12]}" if who else
                           f"it is not signed by an admin of {clean[:12]} ({info.signature_error or 'unknown key'})")
        if problem:
            self.add(info, "RECOVERY", f"not a valid recovery commit: {problem}")
            return False
        moved = self.report.findings[self.first_bad:]
        del self.report.findings[self.first_bad:]
        flagged = {f.merge or f.commit for f in moved}
        self.report.quarantined += moved + [
            AuditFinding(sha, "QUARANTINED", f"undone by the recovery commit {info.sha[:12]}", "", sha)
            for sha in self.tainted if sha not in flagged]
        self.facts.rewind(self.clean_mark)
        self.tainted = []
        self.report.last_clean = info.sha
        self.facts.settle()
        self.clean_mark = self.facts.mark()
        return True
