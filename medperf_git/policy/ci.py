"""What a registry's CI runs on a pull request: lint of the merged tree with history rules, plus
the policy verdict on the base. The same questions a client asks before it approves or merges."""

from __future__ import annotations

from dataclasses import dataclass

from medperf_git.errors import GitError
from medperf_git.lint.findings import Finding
from medperf_git.policy.review import SubmissionReview, review_submission
from medperf_git.registry.git import GitRepo


@dataclass
class CheckResult:
    base: str
    head: str
    merged_tree: str | None  # None when head does not merge cleanly into base
    findings: list[Finding]
    review: SubmissionReview

    @property
    def lint_errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def lint_valid(self) -> bool:
        return self.lint_errors == 0

    @property
    def verdict(self):
        return self.review.verdict

    def to_dict(self) -> dict:
        return {"base": self.base, "head": self.head, "merged_tree": self.merged_tree,
                "lint": {"valid": self.lint_valid, "errors": self.lint_errors,
                         "findings": [f.to_dict() for f in self.findings]},
                "policy": self.review.to_dict()}


def _resolve(repo: GitRepo, rev: str, what: str) -> str:
    sha = repo.rev_parse(rev)
    if sha is None:
        raise GitError(f"{what} {rev} is not a commit of {repo.path}",
                       hint="fetch it first, e.g. `git fetch origin main`")
    return sha


def merged_tree(repo: GitRepo, base: str, head: str) -> tuple[str | None, list[str]]:
    """The tree of merging ``head`` into ``base`` (git merge-tree), or None and the conflicting paths."""
    proc = repo.git("merge-tree", "--write-tree", "--name-only", base, head, check=False)
    lines = proc.stdout.splitlines()
    if proc.returncode == 0 and lines:
        return lines[0].strip(), []
    if proc.returncode == 1 and lines:
        conflicts = []
        for line in lines[1:]:
            if not line.strip():
                break
            conflicts.append(line.strip())
        return None, conflicts
    raise GitError(f"cannot merge {head[:12]} into {base[:12]}", stderr=proc.stderr)


def check(repo: GitRepo, base: str, head: str = "HEAD") -> CheckResult:
    from medperf_git.lint.linter import lint_tree
    from medperf_git.registry.tree import CommitTree

    base_sha = _resolve(repo, base, "base")
    head_sha = _resolve(repo, head, "head")
    tree, conflicts = merged_tree(repo, base_sha, head_sha)
    if tree is None:
        findings = [Finding(path, 1, 1, "MERGE-CONFLICT", "changed both on the base and in the submission",
                            "merge the base into your branch and resolve it") for path in conflicts]
    else:
        findings = lint_tree(CommitTree(repo, tree), base=CommitTree(repo, base_sha))
    return CheckResult(base_sha, head_sha, tree, findings, review_submission(repo, base_sha, head_sha))
