"""Approvers' side: what awaits me, approving (a signed commit on the head) and rejecting.

An approval is a commit with the head's tree, the head as its only parent and an
``Approved-by: <handle>`` trailer, signed by the approver and pushed onto ``refs/pull/N/head`` by
compare-and-swap. When the policy is then satisfied and the merged tree passes lint, the approver's
client merges at once. Approving twice at once is safe: the loser's lease fails, it re-reads the
head and stacks its approval on top, and whoever merges second finds the submission merged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from medperf_git.errors import LintFailed, PolicyDenied
from medperf_git.flows.session import RegistrySession
from medperf_git.flows.submission import merge_checked
from medperf_git.forges.base import MergeConflict, RaceLost, Submission, SubmissionNotOpen
from medperf_git.policy.assess import Assessment, assess
from medperf_git.workspace.atomic import write_text

CACHE = "review-cache.json"
MAX_TRIES = 6


@dataclass
class Awaiting:
    number: int
    title: str
    author: str
    kind: str
    opened: str
    needs: list[str]
    mergeable: bool

    def to_dict(self) -> dict:
        return {"number": self.number, "title": self.title, "author": self.author, "kind": self.kind,
                "opened": self.opened, "needs": self.needs, "mergeable": self.mergeable}


def _load_cache(s: RegistrySession) -> dict:
    try:
        return json.loads((s.clone.dir / CACHE).read_text())
    except (OSError, ValueError):
        return {}


def _policy_rows(s: RegistrySession, main: str, heads: list[str]) -> dict[str, dict]:
    """The policy verdict of each head on ``main``: their lineages in one pass, the base's records read once."""
    from medperf_git.policy.base import BaseRecords
    from medperf_git.policy.lineage import lineages
    from medperf_git.policy.review import review_submission

    records = BaseRecords(s.repo, main)
    lines = lineages(s.repo, main, heads)
    s.repo.prefetch([sha for line in lines.values() for sha in line.commits]
                    + [blob for line in lines.values() for status, _, blob, _ in line.changes if status != "D"])
    rows = {}
    for head, line in lines.items():
        verdict = review_submission(s.repo, main, head, line=line, records=records).verdict
        rows[head] = {"author": verdict.author, "allowed": verdict.allowed, "mergeable": verdict.mergeable,
                      "candidates": sorted({c for r in verdict.requirements for c in r.candidates}),
                      "needs": [r.text() for r in verdict.requirements if not r.satisfied], "paths": line.paths}
    return rows


# New records in these folders cannot change who must approve another submission.
_NEUTRAL = ("results/", "datasets/", "containers/", "associations/")


class _Moves:
    """What changed on main since a verdict was cached, to tell whether it still holds."""

    def __init__(self, s: RegistrySession, main: str):
        self.s, self.main, self._seen = s, main, {}

    def neutral_for(self, old: str, paths: list[str]) -> bool:
        """True when main moved from ``old`` only by adding records that cannot affect this verdict."""
        if old not in self._seen:
            try:
                changes = self.s.repo.diff_tree(old, self.main)
            except Exception:  # noqa: BLE001 - an unknown old main: compute afresh
                changes = None
            self._seen[old] = None if changes is None or any(
                status != "A" or not path.startswith(_NEUTRAL) for status, _, _, path in changes) \
                else {path for _, _, _, path in changes}
        added = self._seen[old]
        return added is not None and not added.intersection(paths)


def awaiting_me(s: RegistrySession) -> tuple[list[Awaiting], str | None]:
    """Open submissions whose requirements list me as an approver, and that I did not initiate.

    Verdicts are cached per head: one computed on an older main is reused while main has only gained
    new datasets, containers, associations or results that the submission does not touch (nothing
    that decides who approves it). ``review approve`` always recomputes everything.
    """
    s.fetch(tolerate=True)
    main = s.main
    cache = _load_cache(s)
    moves = _Moves(s, main)
    subs = [sub for sub in s.forge.list("open") if sub.author != s.handle]
    rows: dict[str, dict] = {}
    for sub in subs:
        entry = cache.get(sub.head)
        if entry and (entry.get("main") == main or moves.neutral_for(entry.get("main", ""), entry["row"]["paths"])):
            rows[sub.head] = entry["row"]
    stale = [sub.head for sub in subs if sub.head not in rows]
    if stale:
        rows.update(_policy_rows(s, main, stale))
        getattr(s.forge.judge, "flush", lambda: None)()  # keeps the signatures the verdicts verified
    fresh = {head: {"main": main, "row": row} for head, row in rows.items()}
    found = []
    for sub in subs:
        row = rows[sub.head]
        if row["author"] == s.handle or s.handle not in row["candidates"] or not row["allowed"]:
            continue
        opened = sub.events[0].at if sub.events else ""
        found.append(Awaiting(sub.number, sub.title, row["author"] or sub.author, sub.kind, opened, row["needs"],
                              row["mergeable"]))
    if fresh != cache:
        write_text(s.clone.dir / CACHE, json.dumps(fresh))
    return found, s.offline_reason


SHOWN = "reviewed-heads.json"  # submission number -> the head `review show` displayed last


def _shown_heads(s: RegistrySession) -> dict[str, str]:
    try:
        data = json.loads((s.clone.dir / SHOWN).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def _remember_shown(s: RegistrySession, sub: Submission) -> None:
    """What the approver saw is what ``review approve`` will approve: a head changed since is refused."""
    shown = _shown_heads(s)
    if shown.get(str(sub.number)) != sub.head:
        shown[str(sub.number)] = sub.head
        write_text(s.clone.dir / SHOWN, json.dumps(shown))


def show(s: RegistrySession, number: int) -> Assessment:
    s.fetch(tolerate=True)
    a = assess(s.repo, s.forge.get(number), s.main)
    if a.submission.state == "open":
        _remember_shown(s, a.submission)
    return a


@dataclass
class ApproveResult:
    submission: Submission
    approval: str | None
    merged: bool = False
    already_merged_by: str | None = None
    waiting: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"number": self.submission.number, "approval": self.approval, "merged": self.merged,
                "merged_commit": self.submission.merged_commit, "already_merged_by": self.already_merged_by,
                "waiting": self.waiting}


def _entitled(s: RegistrySession, a: Assessment, action: str) -> None:
    sub = a.submission
    if a.verdict is None:
        raise PolicyDenied(f"submission #{sub.number} cannot be judged")
    if a.author == s.handle or sub.author == s.handle:
        raise PolicyDenied(f"you opened submission #{sub.number}; the initiator never {action}s their own request",
                           hint="someone entitled must do it" if action == "approve"
                           else f"withdraw it with `medperf-git submission withdraw {sub.number}`")
    if a.verdict.violations:
        raise PolicyDenied(a.verdict.summary())
    if s.handle not in a.candidates():
        who = "; ".join(r.text() for r in a.verdict.requirements) or "nobody: it is self-service"
        raise PolicyDenied(f"you are not entitled to {action} submission #{sub.number} (it needs {who})")


def prepare_approval(s: RegistrySession, number: int, head: str | None = None) -> Assessment:
    """What the approver is about to approve (shown before asking); refuses early when they may not.

    The approval binds to what the approver saw: ``head`` when given (scripts), else the head that
    ``review show`` displayed last, else the head shown now by the command itself. A submission whose
    head moved since is refused, so an author cannot swap content between the look and the approval.
    """
    s.fetch()
    sub = _open(s, number)
    expected = _full_head(s, head) if head else _shown_heads(s).get(str(number))
    if expected and expected != sub.head:
        how = f"--head {head}" if head else f"`medperf-git review show {number}` showed"
        raise RaceLost(f"submission #{number} changed since you reviewed it: {how} {expected[:12]}, its head is now "
                       f"{sub.head[:12]}; nothing was approved",
                       hint=f"review it again: `medperf-git review show {number}`")
    a = assess(s.repo, sub, s.main)
    _entitled(s, a, "approve")
    _remember_shown(s, sub)
    return a


def _full_head(s: RegistrySession, head: str) -> str:
    """A commit id given on the command line, in full (a unique prefix of at least 7 digits is accepted)."""
    from medperf_git.errors import UsageError

    text = head.strip().lower()
    found = s.repo.rev_parse(text) if len(text) >= 7 and all(c in "0123456789abcdef" for c in text) else None
    if found is None or not found.startswith(text):
        raise UsageError(f"--head {head}: not a commit id of this registry",
                         hint="give the head that `medperf-git review show N --json` prints")
    return found


def _open(s: RegistrySession, number: int) -> Submission:
    sub = s.forge.get(number)
    if sub.state == "merged":
        raise SubmissionNotOpen(f"submission #{number} is already merged"
                                + (f" (by {sub.merged_by})" if sub.merged_by else ""))
    if sub.state != "open":
        raise SubmissionNotOpen(f"submission #{number} is {sub.state}"
                                + (f": {sub.close_reason}" if sub.close_reason else ""))
    return sub


def _approval_commit(s: RegistrySession, sub: Submission) -> str:
    from medperf_git.policy.approvals import APPROVAL_TRAILER
    from medperf_git.registry.commits import commit_tree

    tree = s.repo.out("rev-parse", f"{sub.head}^{{tree}}")
    message = f"Approve submission #{sub.number}: {sub.title}\n\n{APPROVAL_TRAILER}: {s.handle}\n"
    return commit_tree(s.repo, tree, [sub.head], message, s.identity)


def _same_content(s: RegistrySession, approved: str, head: str) -> bool:
    """Did the head only gain approvals since ``approved``? (then our approval still means the same)"""
    if approved == head:
        return True
    from medperf_git.policy.approvals import is_approval_commit
    from medperf_git.registry.verify import read_commit

    if not s.repo.is_ancestor(approved, head):
        return False
    for sha in s.repo.out("rev-list", head, f"^{approved}").split():
        if not is_approval_commit(read_commit(s.repo, sha)):
            return False
    return True


def approve(s: RegistrySession, number: int, *, expected_head: str | None = None,
            shown: Assessment | None = None) -> ApproveResult:
    """Sign and push the approval (retrying on a race), then merge if policy and lint allow.

    ``shown`` is what ``prepare_approval`` showed in this command: it is the assessment approved, unless
    the submission or main moved since (then it is made again).
    """
    s.fetch()  # nothing to do when prepare_approval fetched in this command
    sub = _open(s, number)
    approved = expected_head or sub.head
    same = shown is not None and shown.submission.head == sub.head and shown.main == s.main
    a = shown if same else assess(s.repo, sub, s.main, lint=False)
    if a.verdict is not None and a.verdict.allowed and a.verdict.self_service:
        return _merge_if_ready(s, sub, None)  # the rules changed since it was opened: nobody needs to approve
    _entitled(s, a, "approve")
    approval = None
    if not any(s.handle in r.approved_by for r in a.verdict.requirements):  # else: approved already, merge
        for _ in range(MAX_TRIES):
            if not _same_content(s, approved, sub.head):
                raise RaceLost(f"submission #{number} has new content since you reviewed it",
                               hint=f"review it again: `medperf-git review show {number}`")
            approval = _approval_commit(s, sub)
            try:
                sub = s.forge.add_approval(number, approval, expected_head=sub.head)
                break
            except RaceLost:  # the forge fetched again
                sub = s.forge.get(number)
                if sub.state == "merged":
                    return ApproveResult(sub, None, False, already_merged_by=sub.merged_by)
                if sub.state != "open":
                    raise SubmissionNotOpen(f"submission #{number} was {sub.state} meanwhile") from None
        else:
            raise RaceLost(f"submission #{number} kept changing; your approval was not recorded",
                           hint=f"run `medperf-git review approve {number}` again")
    return _merge_if_ready(s, sub, approval)


def _merge_if_ready(s: RegistrySession, sub: Submission, approval: str | None) -> ApproveResult:
    a = assess(s.repo, sub, s.main, lint=False)  # the merge lints the merged tree it makes
    result = ApproveResult(sub, approval)
    if not a.verdict.mergeable:
        result.waiting = a.missing()
        return result
    try:
        result.submission = merge_checked(s, sub.number)
        result.merged = True
    except (LintFailed, PolicyDenied, MergeConflict) as exc:
        result.waiting = [f"not merged: {exc.message}"]  # the approval stands; the author fixes the rest
    except SubmissionNotOpen:
        s.fetch(force=True)
        latest = s.forge.get(sub.number)
        if latest.state != "merged":
            raise
        result.submission, result.already_merged_by = latest, latest.merged_by
    return result


def reject(s: RegistrySession, number: int, reason: str) -> Submission:
    if not reason.strip():
        from medperf_git.errors import UsageError

        raise UsageError("--reason is needed: it tells the author why")
    s.fetch()
    sub = _open(s, number)
    _entitled(s, assess(s.repo, sub, s.main, lint=False), "reject")
    return s.forge.close(number, reason.strip())
