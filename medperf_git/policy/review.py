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
from medperf_git.policy.verdict import Verdict
from medperf_git.registry.git import GitRepo


@dataclass
class SubmissionReview:
    verdict: Verdict
    approvals: list[Approval] = field(default_factory=list)

    @property
    def author(self) -> str | None:
        return self.verdict.author

    def to_dict(self) -> dict:
        return {**self.verdict.to_dict(), "approvals": [a.to_dict() for a in self.approvals]}


def review_submission(repo: GitRepo, base: str, head: str) -> SubmissionReview:
    """Author from the content commits' signatures, approvals from the tip, verdict from the base."""
    base_sha = repo.rev_parse(base) or base
    head_sha = repo.rev_parse(head) or head
    records = BaseRecords(repo, base_sha)
    people = records.people
    try:
        author = content_author(repo, head_sha, base_sha, people)
    except PolicyDenied as exc:
        finding = Finding(".", 1, 1, "SIGNATURE", exc.message, exc.hint)
        return SubmissionReview(Verdict([finding], [], None, base_sha, head_sha))
    found = approvals(repo, head_sha, base_sha, people, initiator=author)
    verdict = evaluate(repo, base_sha, head_sha, author=author, approvals=valid_approvers(found), records=records)
    return SubmissionReview(verdict, found)
