"""What the policy engine answers: what is refused, and whose approvals a submission still needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from medperf_git.lint.findings import Finding


@dataclass
class Requirement:
    """``count`` distinct approvals from ``candidates`` (the initiator is never one of them)."""

    description: str  # e.g. "the committee of benchmark 1"
    candidates: list[str]
    count: int = 1
    approved_by: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # the changes that need it

    @property
    def satisfied(self) -> bool:
        return len(set(self.approved_by)) >= self.count

    @property
    def missing(self) -> int:
        return max(0, self.count - len(set(self.approved_by)))

    def text(self) -> str:
        who = ", ".join(self.candidates) if self.candidates else "nobody is entitled"
        got = f"approved by {', '.join(self.approved_by)}" if self.approved_by else "no approval yet"
        need = f"{self.count} approval{'s' if self.count != 1 else ''} from {self.description} ({who})"
        if self.satisfied:
            return f"{need}: {got}"
        impossible = " (cannot be met: too few entitled approvers)" if self.count > len(self.candidates) else ""
        return f"{need}: {got}, {self.missing} missing{impossible}"

    def to_dict(self) -> dict:
        return {"description": self.description, "candidates": self.candidates, "count": self.count,
                "approved_by": self.approved_by, "satisfied": self.satisfied, "paths": self.paths}


@dataclass
class Verdict:
    violations: list[Finding]
    requirements: list[Requirement]
    author: str | None
    base: str = ""
    head: str = ""

    @property
    def allowed(self) -> bool:
        return not self.violations

    @property
    def self_service(self) -> bool:
        return not self.requirements

    @property
    def mergeable(self) -> bool:
        return self.allowed and all(r.satisfied for r in self.requirements)

    def summary(self) -> str:
        """One paragraph for humans: refused and why, or who must approve and what is missing."""
        by = f" (author: {self.author})" if self.author else ""
        if self.violations:
            reasons = "; ".join(f"{v.path}: {v.message}" for v in self.violations[:5])
            more = f"; and {len(self.violations) - 5} more" if len(self.violations) > 5 else ""
            return f"Refused by policy{by}: {reasons}{more}."
        if self.self_service:
            return f"Allowed{by}: self-service, it merges once checks pass."
        parts = "; ".join(r.text() for r in self.requirements)
        if self.mergeable:
            return f"Approved{by}: {parts}. Ready to merge once checks pass."
        return f"Valid, awaiting approvals{by}: needs {parts}."

    def to_dict(self) -> dict:
        return {"author": self.author, "base": self.base, "head": self.head, "allowed": self.allowed,
                "self_service": self.self_service, "mergeable": self.mergeable, "summary": self.summary(),
                "violations": [v.to_dict() for v in self.violations],
                "requirements": [r.to_dict() for r in self.requirements]}
