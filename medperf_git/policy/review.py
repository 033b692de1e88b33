"""The whole policy question about one submission: who wrote it, who approved it, may it merge.

The forge, ``ci check`` and the audit all ask it this way, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medperf_git.errors import PolicyDenied
from medperf_git.lint.findings import Finding
from medperf_git.policy.approvals import Approval, approvals, content_author, valid_approvers
from medperf_git.policy.base import BaseRecords
from medperf_git.policy.engine import evaluate
from medperf_git.policy.lineage import Lineage, lineage
from medperf_git.policy.verdict import Verdict
from medperf_git.registry.git import GitRepo


@dataclass
class SubmissionReview:
    verdict: Verdict
    line: Lineage  # the head's commits and changes, as judged
    approvals: list[Approval] = field(default_factory=list)

    @property
    def author(self) -> str | None:
        return self.verdict.author

    def to_dict(self) -> dict:
        return {**self.verdict.to_dict(), "approvals": [a.to_dict() for a in self.approvals]}


def review_submission(repo: GitRepo, base: str, head: str, *, line: Lineage | None = None,
                      records: BaseRecords | None = None) -> SubmissionReview:
    """Author from the content commits' signatures, approvals from the tip, verdict from the base.

    A caller judging many heads on one base passes their lineages (``policy.lineage.lineages``) and
    one shared ``BaseRecords``, so nothing is read twice.
    """
    if line is None:
        line = lineage(repo, base, head)
    if records is None or records.rev != line.base:
        records = BaseRecords(repo, line.base)
    people = records.people
    try:
        author = content_author(repo, line, people)
    except PolicyDenied as exc:
        finding = Finding(".", 1, 1, "SIGNATURE", exc.message, exc.hint)
        return SubmissionReview(Verdict([finding], [], None, line.base, line.head), line)
    found = approvals(repo, line, people, initiator=author)
    verdict = evaluate(repo, line, author=author, approvals=valid_approvers(found), records=records)
    return SubmissionReview(verdict, line, found)
