"""The ``Forge`` interface: where submissions (pull requests) live, whatever hosts the registry.

Flows talk only to this Protocol, so the same publishing and review logic runs on any Git remote
(``gitnative``) and on GitHub (``github``). Every forge passes the same contract tests
(``tests/forges/contract.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from medperf_git.errors import ForgeError
from medperf_git.registry.git import GitRepo

STATES = ("open", "merged", "closed")
EVENT_TYPES = ("opened", "updated", "approved", "closed", "merged")

# Called with (merged commit, main commit it was computed on) before a merge is published; raises to refuse.
MergeCheck = Callable[..., None]  # (merged commit, main it lands on[, head, submission number])


class SubmissionNotFound(ForgeError, LookupError):
    def __init__(self, number: int):
        super().__init__(f"there is no submission #{number}", hint="see `medperf-git submission ls`")
        self.number = number


class SubmissionNotOpen(ForgeError):
    """Approving, merging or closing a submission that is already merged or closed."""


class MergeConflict(ForgeError):
    def __init__(self, number: int, paths: list[str]):
        shown = ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else "")
        super().__init__(f"submission #{number} conflicts with main on {shown}",
                         hint="records are whole files: bring the submission up to date "
                              "(`medperf-git submission renumber N` for an id collision) and try again")
        self.paths = paths


class RaceLost(ForgeError):
    """Someone else moved a ref we meant to move, more times than we were willing to retry."""


class Contention:
    """The retries of a compare-and-swap that other people are racing for, until ``deadline`` seconds.

    Each lost race waits a random time up to ``cap`` seconds (short at first, then up to the cap, never
    longer): the herd spreads out, and since a client that lost many times waits no longer than one that
    just arrived, every client keeps the same chance at each round and none starves. Iterating yields the
    attempt number; the first attempt does not wait.
    """

    def __init__(self, deadline: float = 300.0, cap: float = 1.0, first: float = 0.05,
                 sleep: Callable[[float], Any] | None = None, random: Callable[[float, float], float] | None = None):
        import random as _random
        import time

        self.deadline, self.cap, self.first = deadline, cap, first
        self._sleep = sleep or time.sleep
        self._random = random or _random.uniform
        self._clock = time.monotonic
        self.attempts = 0

    def __iter__(self):
        start = self._clock()
        while True:
            yield self.attempts
            self.attempts += 1
            if self._clock() - start > self.deadline:
                return
            self._sleep(self._random(0, min(self.cap, self.first * 2 ** self.attempts)))


@dataclass(frozen=True)
class Event:
    """One action in a submission's history, as its signer recorded it."""

    seq: int
    type: str
    by: str
    at: str
    data: dict[str, Any] = field(default_factory=dict)
    commit: str | None = None  # the meta commit that added it (git-native)
    problem: str | None = None  # why clients ignore it; None when it counts

    @property
    def valid(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        d = {"seq": self.seq, "type": self.type, "by": self.by, "at": self.at, **self.data}
        if self.problem:
            d["ignored"] = self.problem
        return d


@dataclass
class Submission:
    number: int
    title: str
    author: str
    kind: str
    base: str  # main's commit when it was opened
    head: str  # the tip of the proposed commits (approvals included)
    state: str = "open"  # open | merged | closed
    events: list[Event] = field(default_factory=list)
    close_reason: str | None = None
    closed_by: str | None = None
    merged_commit: str | None = None
    merged_by: str | None = None

    @property
    def ignored_events(self) -> list[Event]:
        return [e for e in self.events if not e.valid]

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "title": self.title, "author": self.author, "kind": self.kind,
                "state": self.state, "base": self.base, "head": self.head, "close_reason": self.close_reason,
                "closed_by": self.closed_by, "merged_commit": self.merged_commit, "merged_by": self.merged_by,
                "events": [e.to_dict() for e in self.events]}


class EventJudge(Protocol):
    """Decides whether an event counts: its signer is who it claims, and that person may do it."""

    def __call__(self, submission: Submission, event: Event, signer: str | None) -> str | None:
        """None when the event counts, else why it is ignored."""


class Forge(Protocol):
    name: str

    def refresh(self) -> None:
        """Bring the local view of submissions up to date with the remote."""

    def open(self, head: str, *, title: str, kind: str, base: str) -> Submission:
        """Publish ``head`` (a commit on top of ``base``) as a new submission with a fresh number."""

    def list(self, state: str | None = None) -> list[Submission]:
        """Every submission, oldest first, optionally only those in ``state``."""

    def get(self, number: int) -> Submission:
        """One submission; raises :class:`SubmissionNotFound`."""

    def update(self, number: int, new_head: str, *, expected_head: str, reason: str) -> Submission:
        """Move the head forward to ``new_head`` (a descendant), if it still is ``expected_head``."""

    def add_approval(self, number: int, approval: str, *, expected_head: str) -> Submission:
        """Put a signed approval commit (child of ``expected_head``) on top of the head."""

    def merge(self, number: int, *, expected_head: str | None = None, check: MergeCheck | None = None) -> Submission:
        """Merge into main by compare-and-swap, after ``check`` accepted the merged commit."""

    def close(self, number: int, reason: str) -> Submission:
        """Close without merging, recording who did it and why."""


MAIN = "refs/remotes/origin/main"  # the clone's copy of the registry's main branch


class ClonedForge:
    """What every forge reads from the workspace clone (``self.repo``) rather than from its host."""

    repo: GitRepo
    merges_trains = False  # does merge() take riders (other submissions merged in the same push)?

    @property
    def main(self) -> str:
        from medperf_git.errors import GitError

        sha = self.repo.rev_parse(MAIN)
        if sha is None:
            raise GitError("the local copy of the registry has no main branch", hint="fetch it again")
        return sha

    def get(self, number: int) -> Submission:
        raise NotImplementedError

    def _open_sub(self, number: int) -> Submission:
        """The submission, if it is still open; SubmissionNotOpen otherwise."""
        return self._ensure_open(self.get(number))

    @staticmethod
    def _ensure_open(sub: Submission) -> Submission:
        if sub.state != "open":
            raise SubmissionNotOpen(f"submission #{sub.number} is {sub.state}"
                                    + (f" ({sub.close_reason})" if sub.close_reason else ""))
        return sub
