"""Opening, listing, showing, withdrawing and renumbering submissions.

:func:`open_submission` is what every publishing flow calls (dataset, result, association,
container and benchmark submit, person register): it builds one signed content commit on top of
main, checks it locally (policy on the base, lint on the merged tree), opens the submission and,
when policy says it is self-service, merges it at once, renumbering a colliding new record by
itself. Nothing is lost when the remote cannot be reached: the prepared submission waits in the
outbox and the same command resumes it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field

from medperf_git.errors import ForgeError, GitError, LintFailed, PolicyDenied, RemoteUnavailable, UsageError
from medperf_git.flows._outbox import OutboxEntry, entry_key
from medperf_git.flows._renumber import is_edit, next_id as _next_id, plan_renumber, queue_taken, taken_paths
from medperf_git.flows.session import RegistrySession
from medperf_git.forges.base import MergeConflict, Submission, SubmissionNotOpen
from medperf_git.lint.findings import Finding, has_errors
from medperf_git.policy.assess import Assessment, assess, lint_merge
from medperf_git.registry.commits import commit_changes


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class OpenResult:
    submission: Submission | None
    merged: bool = False
    renumbered: dict[str, str] = field(default_factory=dict)  # old path -> new path
    verdict: object | None = None  # policy Verdict
    findings: list[Finding] = field(default_factory=list)
    resumed: bool = False
    waiting: str | None = None  # why it is not merged yet, in words

    def to_dict(self) -> dict:
        return {"submission": self.submission.to_dict() if self.submission else None, "merged": self.merged,
                "renumbered": self.renumbered, "resumed": self.resumed, "waiting": self.waiting,
                "verdict": self.verdict.to_dict() if self.verdict is not None else None,
                "findings": [f.to_dict() for f in self.findings]}


def next_record_id(s: RegistrySession, kind: str) -> int:
    """One above the largest id of ``kind`` on main and in open submissions."""
    from medperf_git.flows._renumber import ID_KINDS

    s.fetch(tolerate=True)
    folder = ID_KINDS[kind]
    return _next_id(taken_paths(s.repo, s.main, s.forge.list("open") if s.online else [], folder), kind)


def open_submission(s: RegistrySession, changes: Mapping[str, bytes | None], title: str, kind: str, *,
                    merge: bool = True, renumber: bool = True) -> OpenResult:
    """Open a submission of ``changes`` (path -> bytes, None deletes) and merge it if self-service."""
    if not changes:
        raise UsageError("nothing to submit")
    s.fetch(tolerate=True)
    key = entry_key(title, kind, changes)
    outbox = s.outbox
    pending = outbox.get(key)
    if pending and s.online:
        existing = _already_opened(s, pending.head)
        if existing is not None:
            outbox.remove(key)
            return _after_open(s, existing, merge, renumber, resumed=True)
    main = s.main
    repo = s.repo
    if s.online and not pending:
        twin = _twin(s, changes)
        if twin is not None:  # a re-run after an interruption: finish that one, publish nothing twice
            sub, moves = twin
            result = _after_open(s, sub, merge, renumber, resumed=True)
            result.renumbered = chain_moves(moves, result.renumbered)
            return result
    if pending and repo.out("rev-parse", f"{pending.head}^") == main:
        head = pending.head
    else:
        head = commit_changes(repo, main, dict(changes), f"{title}\n\nKind: {kind}\n", s.identity)
    pre_moved: dict[str, str] = {}
    if renumber:
        new_records = [p for p, c in changes.items() if c is not None and not is_edit(repo, main, p, c)]
        open_subs = s.forge.list("open") if s.online else []
        moves = plan_renumber(repo, head, main, lambda folder: taken_paths(repo, main, open_subs, folder),
                              new_records, classified=True)
        if moves:  # the ids were taken meanwhile: publish the new records under free ids instead
            moved = {p: c for p, c in changes.items() if p not in moves} | {p: c for p, c in moves.items() if c}
            head = commit_changes(repo, main, moved, f"{title}\n\nKind: {kind}\n", s.identity)
            pre_moved = dict(_pairs(moves))
    _precheck(s, head, main)
    entry = OutboxEntry(key, title, kind, head, main, now(), sorted(changes))
    outbox.save(entry, changes)
    if not s.online:
        outbox.note_error(entry, s.offline_reason or "offline")
        raise RemoteUnavailable(f"the registry cannot be reached ({s.offline_reason}); the submission "
                                f"'{title}' is prepared and kept", hint="run the same command again to send it")
    first_free = s.forge.next_number()
    try:
        sub = s.forge.open(head, title=title, kind=kind, base=main)
    except (RemoteUnavailable, ForgeError) as exc:
        outbox.note_error(entry, exc.message)
        raise type(exc)(f"{exc.message}; the submission '{title}' is prepared and kept",
                        hint="run the same command again to send it") from None
    outbox.remove(key)
    if merge and renumber and sub.number > first_free:
        s.fetch(force=True)  # others opened the numbers below ours meanwhile: the queue needs their ids
    result = _after_open(s, sub, merge, renumber, resumed=pending is not None)
    result.renumbered = chain_moves(pre_moved, result.renumbered)
    return result


def _twin(s: RegistrySession, changes: Mapping[str, bytes | None]) -> tuple[Submission, dict[str, str]] | None:
    """My open submission that already carries every record of ``changes`` (ids aside), with where each
    record is in it; refuses an association someone else has already requested."""
    from medperf_git.flows._resume import carrying, natural_key, requested_elsewhere

    subs = s.forge.list("open")
    taken = requested_elsewhere(s.repo, s.main, subs, changes, s.handle)
    if taken is not None:
        path, sub = taken
        raise UsageError(f"{path} is already requested in submission #{sub.number} by {sub.author}",
                         hint=f"it waits for approval: see `medperf-git submission show {sub.number}`")
    ours = {natural_key(path, content): path for path, content in changes.items() if content is not None}
    ours.pop(None, None)
    mine = [sub for sub in subs if sub.author == s.handle]
    for number, theirs in carrying(s.repo, s.main, mine, set(ours)).items():
        if set(theirs) == set(ours):
            moves = {ours[key]: path for key, path in theirs.items() if ours[key] != path}
            return next(sub for sub in mine if sub.number == number), moves
    return None


def _already_opened(s: RegistrySession, head: str) -> Submission | None:
    for sub in s.forge.list():
        opened = sub.events[0] if sub.events else None
        if sub.author == s.handle and opened and opened.data.get("head") == head and sub.state != "invalid":
            return sub
    return None


def _precheck(s: RegistrySession, head: str, main: str) -> None:
    """Refuse before pushing what policy or lint would refuse anyway."""
    from medperf_git.policy.review import review_submission

    verdict = review_submission(s.repo, main, head).verdict
    if verdict.violations:
        raise PolicyDenied(verdict.summary(), hint="nothing was published")
    findings, conflict = lint_merge(s.repo, 0, main, head)
    if has_errors(findings):
        text = "\n".join(f.text() for f in findings if f.severity == "error")
        raise LintFailed(f"the registry would not accept this submission:\n{text}", hint="nothing was published")


def _after_open(s: RegistrySession, sub: Submission, merge: bool, renumber: bool, resumed: bool) -> OpenResult:
    try:
        return _settle(s, sub, merge, renumber, resumed)
    except SubmissionNotOpen:
        # Someone else (a registry's bot, another approver) merged or closed it meanwhile.
        s.fetch(force=True)
        latest = s.forge.get(sub.number)
        if latest.state != "merged":
            raise
        return OpenResult(latest, merged=True, resumed=resumed)


def _settle(s: RegistrySession, sub: Submission, merge: bool, renumber: bool, resumed: bool) -> OpenResult:
    result = OpenResult(sub, resumed=resumed)
    if sub.state == "merged":
        result.merged = True
        return result
    moved: dict[str, str] = {}
    if merge and renumber and sub.author == s.handle:
        moved = renumber_submission(s, sub.number, queue=True)  # others proposed the same ids meanwhile
        if moved:
            sub = result.submission = s.forge.get(sub.number)
    result.renumbered = moved
    review = assess(s.repo, sub, s.main, lint=False).review
    result.verdict = review.verdict if review is not None else None
    if not merge or result.verdict is None or not result.verdict.self_service or not result.verdict.allowed:
        result.waiting = result.verdict.summary() if result.verdict is not None else "not checked"
        return result
    try:
        merged, moved = merge_with_renumber(s, sub.number, renumber=renumber)
    except (LintFailed, PolicyDenied, MergeConflict) as exc:
        result.waiting = exc.message
        return result
    result.submission, result.merged = merged, merged.state == "merged"
    result.renumbered = chain_moves(result.renumbered, moved)
    return result


def chain_moves(first: Mapping[str, str], then: Mapping[str, str]) -> dict[str, str]:
    """``a -> b`` then ``b -> c`` is ``a -> c``."""
    result = dict(first)
    for old, new in then.items():
        sources = [k for k, v in result.items() if v == old]
        for source in sources:
            result[source] = new
        if not sources:
            result[old] = new
    return result


def merge_checked(s: RegistrySession, number: int):
    """Merge after lint of the merged tree and the policy verdict on the main it merges into pass.

    Another approver may stack an approval on the head meanwhile: the merge then starts again on
    the new head, whose approvals and content are judged afresh (content pushed later voids them).
    A new record whose id someone else's record took meanwhile is a conflict, for the caller to renumber.
    """
    from medperf_git.forges.base import Contention, RaceLost
    from medperf_git.policy.review import review_submission

    for _ in Contention():
        sub = s.forge.get(number)

        def check(merged: str, main: str, head: str = sub.head, rider: int | None = None) -> None:
            verdict = review_submission(s.repo, main, head).verdict
            taken = [v.path for v in verdict.violations if v.code == "ID-TAKEN"]
            if taken and len(taken) == len(verdict.violations):
                raise MergeConflict(rider or number, taken)
            if not verdict.mergeable or (rider is not None and not verdict.self_service):
                raise PolicyDenied(verdict.summary())  # others ride along only on their own self-service
            findings, _ = lint_merge(s.repo, rider or number, main, head, tree=f"{merged}^{{tree}}")
            if has_errors(findings):
                raise LintFailed("the merged tree does not pass lint:\n"
                                 + "\n".join(f.text() for f in findings if f.severity == "error"))

        trains = {"riders": lambda: _riders(s, number)} if s.forge.merges_trains else {}
        try:
            return s.forge.merge(number, expected_head=sub.head, check=check, **trains)
        except RaceLost:
            s.fetch(force=True)
    raise RaceLost(f"submission #{number} kept changing while it was being merged", hint="run the same command again")


TRAIN_RIDERS = 50  # other waiting submissions a merge may carry in the same push


def _riders(s: RegistrySession, number: int) -> list[int]:
    """The open submissions waiting longest, to merge along with ``number`` if they pass their checks."""
    return [sub.number for sub in s.forge.list("open") if sub.number != number][:TRAIN_RIDERS]


def merge_with_renumber(s: RegistrySession, number: int, *, renumber: bool = True) -> tuple[Submission, dict[str, str]]:
    """Merge; while others take the ids of its new records first, move them to free ids and try again."""
    from medperf_git.forges.base import Contention

    moved: dict[str, str] = {}
    for _ in Contention():
        try:
            return merge_checked(s, number), moved
        except MergeConflict as exc:
            if not renumber:
                raise
            step = renumber_submission(s, number, paths=exc.paths, queue=True)
            if not step:
                raise
            moved = chain_moves(moved, step)
    raise MergeConflict(number, list(moved))


def renumber_submission(s: RegistrySession, number: int, paths: list[str] | None = None, *,
                        queue: bool = False) -> dict[str, str]:
    """Move the submission's colliding new records to free ids with a new signed content commit.

    ``queue``: the ids the queue of open submissions assigns it (main and lower numbers hold theirs,
    see :mod:`medperf_git.flows._renumber`); flows that merge on their own use it, so that N racing
    submissions settle on N ids in one move each. Otherwise: clear of main and of every open submission.
    """
    sub = s.forge.get(number)
    if sub.state != "open":
        raise SubmissionNotOpen(f"submission #{number} is {sub.state}")
    if sub.author != s.handle:
        raise PolicyDenied(f"submission #{number} is by '{sub.author}'; only its author can renumber it")
    main = s.main
    fork = s.repo.merge_base(main, sub.head)
    if fork is None:
        raise GitError(f"submission #{number} shares no history with main", hint="open it again from main")
    added = [p for status, _, _, p in s.repo.diff_tree(fork, sub.head) if status == "A"]
    if paths is not None:
        added = [p for p in added if p in paths]
    open_subs = s.forge.list("open")
    taken = (queue_taken(s.repo, main, open_subs, number) if queue else
             lambda folder: taken_paths(s.repo, main, open_subs, folder, skip=number))
    moves = plan_renumber(s.repo, sub.head, main, taken, added)
    if not moves:
        return {}
    # A child of the head: the net change since the fork no longer touches the taken path.
    from medperf_git.registry.commits import build_tree, commit_tree

    pairs = dict(_pairs(moves))
    tree = build_tree(s.repo, sub.head, moves)
    message = f"Renumber {', '.join(f'{o} -> {n}' for o, n in pairs.items())}\n\nSubmission: {number}\n"
    new_head = commit_tree(s.repo, tree, [sub.head], message, s.identity)
    s.forge.update(number, new_head, expected_head=sub.head, reason=message.split("\n", 1)[0])
    return pairs


def _pairs(moves: Mapping[str, bytes | None]):
    olds = [p for p, c in moves.items() if c is None]
    news = [p for p, c in moves.items() if c is not None]
    return zip(olds, news, strict=False)


# Author's commands
def list_submissions(s: RegistrySession, *, mine: bool = False, state: str | None = None):
    s.fetch(tolerate=True)
    subs = s.forge.list(state)
    if mine:
        subs = [x for x in subs if x.author == s.handle]
    return subs, s.outbox.entries(), s.offline_reason


def show_submission(s: RegistrySession, number: int) -> Assessment:
    s.fetch(tolerate=True)
    return assess(s.repo, s.forge.get(number), s.main)


def withdraw(s: RegistrySession, number: int, reason: str | None = None) -> Submission:
    s.fetch()
    sub = s.forge.get(number)
    if sub.state != "open":
        raise SubmissionNotOpen(f"submission #{number} is already {sub.state}")
    if sub.author != s.handle:
        raise PolicyDenied(f"submission #{number} is by '{sub.author}'; only its author can withdraw it",
                           hint=f"an entitled approver rejects it: `medperf-git review reject {number} --reason ...`")
    return s.forge.close(number, reason or f"withdrawn by {s.handle}")


def renumber(s: RegistrySession, number: int) -> OpenResult:
    s.fetch()
    moved = renumber_submission(s, number)
    sub = s.forge.get(number)
    result = _after_open(s, sub, merge=True, renumber=True, resumed=False)
    result.renumbered = chain_moves(moved, result.renumbered)
    return result
