"""Submissions on any Git remote: ``refs/pull/N/head`` plus a signed ``refs/pull/N/meta`` event chain.

Every change to the remote is one ``git push --atomic`` guarded by leases, so two people racing
can never both win: the loser re-fetches and retries from a clean state. N is allocated by creating
``refs/pull/N/head`` with a lease that says it must not exist (then the signed ``opened`` event on
``refs/pull/N/meta``); main and the ``merged`` event move together, so a crash or a race cannot merge
one submission twice.

Whose turn it is to merge: when dozens wait at once (the day a benchmark opens), every one racing
for main would build and sign a merge train and all but one would throw theirs away, so the work
grows with the square of the waiting. A merger therefore first takes ``refs/merging/lease``, an advisory
lease created only where it does not exist (pointing at its own meta tip, an object the remote already
has); the others watch it and their own meta ref with ``ls-remote``, since the holder's train carries
every waiting self-service submission, and the holder drops it in the same atomic push that moves
main. The lease is advice, never trust: main moves only by compare-and-swap, nothing reads the lease
to judge anything, and a lease that stalls (its holder died, or someone keeps re-creating it) is
ignored once main has not moved for ``LEASE_PATIENCE`` seconds.
"""

from __future__ import annotations

import contextlib
import random
import re
import time
from collections.abc import Callable, Sequence

from medperf_git.errors import ForgeError, GitError, MedperfGitError, RemoteUnavailable
from medperf_git.forges._merge import merge_commit
from medperf_git.forges.base import (
    MAIN,
    ClonedForge,
    Contention,
    Event,
    EventJudge,
    MergeCheck,
    RaceLost,
    Submission,
    SubmissionNotFound,
)
from medperf_git.registry import submissions
from medperf_git.registry.commits import Identity
from medperf_git.registry.git import GitRepo, is_network_failure, push

CONTENTION_DEADLINE = 300.0  # seconds a client keeps retrying a lost race before it gives up
# Rejections that mean "someone else moved it first": re-fetch and retry.
_RACE = re.compile(r"stale info|fetch first|non-fast-forward|atomic push failed|failed to update ref|"
                   r"cannot lock ref|incorrect old value|already exists|failed to lock", re.I)


READ_MAIN_AFTER = 32  # merged submissions in one listing past which main's commits are listed at once
MERGE_LEASE = "refs/merging/lease"  # who is merging now (advice only: see the module's docstring)
LEASE_PATIENCE = 30.0  # seconds without main moving after which a waiter merges despite the lease


class GitNativeForge(ClonedForge):
    """A forge over a registry remote and the workspace's bare clone of it."""

    name = "git"
    merges_trains = True  # merge() takes riders: see there

    def __init__(self, repo: GitRepo, remote: str, identity: Identity, handle: str,
                 judge: EventJudge | None = None, fetch: Callable[[], None] | None = None):
        self.repo = repo
        self.remote = remote
        self.identity = identity
        self.handle = handle
        self.judge = judge
        self._fetch = fetch  # the workspace's fetch, which also audits what it brings
        self.contention = CONTENTION_DEADLINE

    # Remote
    def refresh(self) -> None:
        if self._fetch is not None:
            self._fetch()
            return
        from medperf_git.registry.clone import fetch_remote

        fetch_remote(self.repo, self.remote)

    def _push(self, updates: dict[str, tuple[str, str | None]]) -> bool:
        """Push ``{remote ref: (new, expected or None = must not exist)}`` atomically; False if we lost a race."""
        refspecs = [f"{new}:{ref}" for ref, (new, _) in updates.items()]
        leases = [f"{ref}:{old or ''}" for ref, (_, old) in updates.items()]
        try:
            proc = push(self.repo, self.remote, refspecs, atomic=True, leases=leases, check=False)
        except RemoteUnavailable as exc:
            raise RemoteUnavailable(exc.message, hint="local work is kept: run the same command again") from None
        if proc.returncode == 0:
            mirrored = "".join(f"update {self._local(ref)} {new}\n" for ref, (new, _) in updates.items()
                               if ref != MERGE_LEASE)
            if mirrored:
                with self.repo.locked():
                    self.repo.git("update-ref", "--stdin", input=mirrored)
            return True
        text = proc.stdout + proc.stderr
        if "[rejected]" in text or "[remote rejected]" in text:
            if _RACE.search(text):
                return False
            reasons = re.findall(r"\[remote rejected\] \((.*?)\)", text) or re.findall(r"\[rejected\] \((.*?)\)", text)
            raise ForgeError(f"the registry refused the push: {'; '.join(sorted(set(reasons))) or 'rejected'}",
                             hint="local work is kept; ask the registry's admins")
        exc = GitError(f"cannot push to the registry {self.remote}", stderr=proc.stderr, returncode=proc.returncode)
        if is_network_failure(exc):
            raise RemoteUnavailable(exc.message + f": {_last(proc.stderr)}",
                                    hint="check the registry address and your network; local work is kept: "
                                         "run the same command again") from None
        raise ForgeError(f"cannot push to the registry {self.remote}: {_last(proc.stderr)}")

    @staticmethod
    def _local(ref: str) -> str:
        return MAIN if ref == "refs/heads/main" else ref

    # Reading
    def list(self, state: str | None = None, numbers: set[int] | None = None) -> list[Submission]:
        main = self.repo.rev_parse(MAIN)
        raws = [r for r in submissions.load_raw(self.repo, main, numbers) if r.meta]
        blobs = sorted({b for r in raws for b in submissions.blobs(r)})
        from medperf_git.registry.index import read_blobs

        contents = dict(zip(blobs, read_blobs(self.repo, blobs), strict=True))
        warm = getattr(self.judge, "warm", None)
        if warm is not None:
            warm([commit.sha for r in raws for commit in r.chain])
        in_main = self._in_main(main, sum(1 for r in raws if r.head_merged))
        subs = [self._build(r, contents, main, in_main) for r in raws]
        flush = getattr(self.judge, "flush", None)
        if flush is not None:
            flush()
        return [s for s in subs if s is not None and (state is None or s.state == state)]

    def get(self, number: int) -> Submission:
        for sub in self.list(numbers={number}):  # its own refs and chain only, however many others there are
            if sub.number == number:
                return sub
        raise SubmissionNotFound(number)

    def _in_main(self, main: str | None, merged: int) -> Callable[[str], bool]:
        """Is a commit in main? Asked of every merged submission's merge commit: past a few dozen of them,
        one ``rev-list`` of main (kept for that commit of main) answers all, instead of a git each."""
        if main and merged > READ_MAIN_AFTER:
            reachable = self.repo.ancestors(main)
            return reachable.__contains__
        return lambda commit: bool(main) and self.repo.is_ancestor(commit, main)

    def _build(self, raw: submissions.RawSubmission, contents: dict[str, bytes | None],
               main: str | None, in_main: Callable[[str], bool]) -> Submission | None:
        summary = submissions.load(contents.get(raw.summary_blob or "")) or {}
        sub = Submission(number=raw.number, title=str(summary.get("title", "")), author=str(summary.get("author", "")),
                         kind=str(summary.get("kind", "")), base=str(summary.get("base", "")), head=raw.head or "")
        seq = 0
        for commit in raw.chain:
            for number, kind, blob in submissions.event_files(commit):
                data = submissions.load(contents.get(blob)) or {}
                extra = {k: v for k, v in data.items() if k not in ("type", "by", "at")}
                problem = None
                seq += 1
                if number != seq or data.get("type") != kind:
                    problem = "event file out of sequence or mislabelled"
                event = Event(number, kind, str(data.get("by", "")), str(data.get("at", "")), extra, commit.sha,
                              problem)
                sub.events.append(event)
        if sub.events and sub.events[0].type == "opened" and sub.events[0].by != sub.author:
            sub.events[0] = _ignore(sub.events[0], "the opened event is not by the submission's author")
        if self.judge is not None:
            sub.events = [e if not e.valid else _ignore(e, self.judge(sub, e)) for e in sub.events]
        if not sub.events or sub.events[0].type != "opened" or not sub.events[0].valid:
            sub.state = "invalid"
            return sub
        for event in sub.events:
            if not event.valid:
                continue
            if event.type == "closed" and sub.state == "open":
                sub.state, sub.close_reason, sub.closed_by = "closed", str(event.data.get("reason", "")), event.by
            elif event.type == "merged":
                commit = str(event.data.get("commit", ""))
                if main and commit and in_main(commit):
                    sub.state, sub.merged_commit, sub.merged_by = "merged", commit, event.by
        if raw.head_merged and sub.state != "merged":
            sub.state = "merged"
        return sub

    # Writing
    def _meta_commit(self, sub: Submission | None, parent: str | None, summary: dict, kind: str, **data) -> str:
        seq = (len(sub.events) if sub else 0) + 1
        return submissions.event_commit(self.repo, self.identity, self.handle, parent, summary, seq, kind, **data)

    def _meta_tip(self, number: int) -> str | None:
        return self.repo.rev_parse(f"refs/pull/{number}/meta")

    def _summary(self, sub: Submission, state: str) -> dict:
        return {"number": sub.number, "title": sub.title, "author": sub.author, "kind": sub.kind, "base": sub.base,
                "state": state}

    def next_number(self) -> int:
        numbers = submissions.pull_refs(self.repo)
        return max(numbers, default=0) + 1

    def _free_number(self, first: int, choices: int) -> int:
        """One of the ``choices`` lowest numbers from ``first`` up that the remote has not given out, at
        random: one ``ls-remote``, no fetch.

        A herd that lost the same number together spreads over several instead of racing for the next
        one again, which would hand out one number per round trip. The price is that a busy moment can
        leave a few numbers unused, as a forge whose issues and pull requests share numbers does.
        """
        taken = set(submissions.pull_refs(self.repo)) | submissions.numbers_in(self._remote_refs("refs/pull/*"))
        free: list[int] = []
        number = first
        while len(free) < choices:
            if number not in taken:
                free.append(number)
            number += 1
        return random.choice(free)

    def open(self, head: str, *, title: str, kind: str, base: str) -> Submission:
        """Allocate N by claiming ``refs/pull/N/head`` where it does not exist, then record the signed
        ``opened`` event on ``refs/pull/N/meta``.

        The claim is a push of the head alone, with nothing to sign or build, so a herd's lost races
        cost little; a lost one looks at the remote's numbers again, after a short random wait, until
        the contention deadline. Numbers whose head has no meta are no submission: a claim cut short
        leaves one unused number, nothing else.
        """
        first = number = self.next_number()
        tries = Contention(self.contention)
        for attempt in tries:
            if self._push({f"refs/pull/{number}/head": (head, None)}):
                break
            number = self._free_number(first, choices=attempt + 1)  # the next free, then ever more spread
        else:
            raise RaceLost(f"could not allocate a submission number in {self.contention:.0f} s "
                           f"({tries.attempts} tries)", hint="the registry is very busy; run the same command again")
        summary = {"number": number, "title": title, "author": self.handle, "kind": kind, "base": base,
                   "state": "open"}
        meta = self._meta_commit(None, None, summary, "opened", head=head)
        if not self._push({f"refs/pull/{number}/meta": (meta, None)}):
            raise RaceLost(f"someone else wrote submission #{number}'s events before its author could",
                           hint="run the same command again")
        return self.get(number)

    def update(self, number: int, new_head: str, *, expected_head: str, reason: str) -> Submission:
        sub = self._open_sub(number)
        if sub.head != expected_head:
            raise RaceLost(f"submission #{number} changed meanwhile", hint="run the same command again")
        old_meta = self._meta_tip(number)
        meta = self._meta_commit(sub, old_meta, self._summary(sub, "open"), "updated", head=new_head, reason=reason)
        if not self._push({f"refs/pull/{number}/head": (new_head, expected_head),
                           f"refs/pull/{number}/meta": (meta, old_meta)}):
            self.refresh()
            raise RaceLost(f"submission #{number} changed meanwhile", hint="run the same command again")
        return self.get(number)

    def add_approval(self, number: int, approval: str, *, expected_head: str) -> Submission:
        sub = self._open_sub(number)
        old_meta = self._meta_tip(number)
        meta = self._meta_commit(sub, old_meta, self._summary(sub, "open"), "approved", commit=approval)
        if not self._push({f"refs/pull/{number}/head": (approval, expected_head),
                           f"refs/pull/{number}/meta": (meta, old_meta)}):
            self.refresh()
            raise RaceLost(f"submission #{number} changed while approving it", hint="run the same command again")
        return self.get(number)

    def merge(self, number: int, *, expected_head: str | None = None, check: MergeCheck | None = None,
              riders: Callable[[], Sequence[int]] | None = None) -> Submission:
        """Merge by compare-and-swap on main; ``riders`` names other submissions to merge in the same push.

        A train: when many wait to be merged at once, the holder of the merge lease merges every rider
        that ``check`` accepts (each judged on the main it lands on, as the audit will judge it), so N
        waiting submissions need a few rounds, not N. A rider that fails its check is left for later.
        """
        for _ in Contention(self.contention):
            carried, lease = self._await_turn(number)
            if carried is not None:
                return carried
            try:
                done = self._merge_train(number, expected_head, check, riders, lease)
            except BaseException:
                self._drop_lease(lease)
                raise
            if done is not None:
                return done  # the push that merged dropped the lease
            self._drop_lease(lease)
            self.refresh()
        raise RaceLost(f"main kept moving; submission #{number} is not merged yet",
                       hint=f"run `medperf-git review approve {number}` again")

    def _merge_train(self, number: int, expected_head: str | None, check: MergeCheck | None,
                     riders: Callable[[], Sequence[int]] | None, lease: str | None) -> Submission | None:
        """One try: the merged submission, or None when main moved first."""
        sub = self._open_sub(number)
        if expected_head and sub.head != expected_head:
            raise RaceLost(f"submission #{number} changed meanwhile", hint="review it again")
        main = self.main
        merged = merge_commit(self.repo, number, sub.title, main, sub.head, self.identity)
        if check is not None:
            check(merged, main)
        updates = {f"refs/pull/{number}/meta": self._merged_event(sub, merged)}
        tip = merged
        for rider in riders() if riders is not None else ():
            try:
                other = self._open_sub(rider)
                carried = merge_commit(self.repo, rider, other.title, tip, other.head, self.identity)
                if check is not None:
                    check(carried, tip, other.head, rider)
            except MedperfGitError:
                continue  # not mergeable now: its author's own command tells them why
            updates[f"refs/pull/{rider}/meta"] = self._merged_event(other, carried)
            tip = carried
        if lease is not None:
            updates[MERGE_LEASE] = ("", lease)  # dropped by the push that merges
        if not self._push({"refs/heads/main": (tip, main), **updates}):
            return None
        done = self.get(number)
        done.state, done.merged_commit, done.merged_by = "merged", merged, self.handle  # we just did it
        return done

    def _await_turn(self, number: int) -> tuple[Submission | None, str | None]:
        """Wait while someone else holds the merge lease: (the submission, when a train merged or someone
        closed it meanwhile; the lease we now hold, or None when we go ahead without one)."""
        meta_ref = f"refs/pull/{number}/meta"
        token = self._meta_tip(number)
        if token is None:
            return None, None
        main_seen, since = None, time.monotonic()
        while True:
            refs = self._remote_refs(MERGE_LEASE, "refs/heads/main", meta_ref)
            if refs.get(meta_ref) != token:  # an event was added to it: a train merged it, or it changed
                self.refresh()
                sub = self.get(number)
                if sub.state == "merged":
                    return sub, None
                self._ensure_open(sub)
                seen = self._meta_tip(number)
                if seen is None or seen == token:
                    return None, None  # the fetch did not bring it (refused, or gone): no waiting on it
                token = seen
                continue
            lease = refs.get(MERGE_LEASE)
            if lease is None or lease == token:  # free, or ours from a run of ours that was cut short
                try:
                    taken = self._push({MERGE_LEASE: (token, lease)})
                except ForgeError:
                    return None, None  # a host that refuses the lease ref: merge by compare-and-swap alone
                if taken:
                    if refs.get("refs/heads/main") != self.repo.rev_parse(MAIN):
                        self.refresh()  # the train before ours moved main
                    return None, token
                continue
            if refs.get("refs/heads/main") != main_seen:
                main_seen, since = refs.get("refs/heads/main"), time.monotonic()
            elif time.monotonic() - since > LEASE_PATIENCE:
                return None, None  # nothing moves: merge by compare-and-swap alone
            time.sleep(random.uniform(0.3, 1.0))

    def _drop_lease(self, lease: str | None) -> None:
        if lease is not None:  # if we cannot, waiters go ahead once main stands still for LEASE_PATIENCE
            with contextlib.suppress(MedperfGitError):
                self._push({MERGE_LEASE: ("", lease)})

    def _remote_refs(self, *patterns: str) -> dict[str, str]:
        from medperf_git.registry.clone import remote_refs

        return remote_refs(self.repo, self.remote, None, *patterns)

    def _merged_event(self, sub: Submission, merged: str) -> tuple[str, str | None]:
        """(new meta tip, old meta tip): the signed event that records ``merged`` as the submission's merge."""
        old_meta = self._meta_tip(sub.number)
        return self._meta_commit(sub, old_meta, self._summary(sub, "merged"), "merged", commit=merged,
                                 head=sub.head), old_meta

    def close(self, number: int, reason: str) -> Submission:
        for _ in Contention(self.contention):
            sub = self._open_sub(number)
            old_meta = self._meta_tip(number)
            meta = self._meta_commit(sub, old_meta, self._summary(sub, "closed"), "closed", reason=reason)
            if self._push({f"refs/pull/{number}/meta": (meta, old_meta)}):
                return self.get(number)
            self.refresh()
        raise RaceLost(f"submission #{number} kept changing; it is not closed", hint="run the same command again")


def _ignore(event: Event, problem: str | None) -> Event:
    if problem is None:
        return event
    from dataclasses import replace

    return replace(event, problem=problem)


def _last(stderr: str) -> str:
    from medperf_git.registry.git import last_line

    return last_line(stderr) or "rejected"
