"""Which submission each merge of main closes, as the signed meta chains (``refs/pull/N/meta``) tell.

The audit asks this of every merge, so every chain is read once, with the few git processes that
``registry.submissions`` uses for listing submissions; what an event is worth (who signed it) is judged by
the audit against the merge's own base.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medperf_git.registry.git import GitRepo


@dataclass(frozen=True)
class ClosedEvent:
    commit: str  # the meta commit that added it
    by: str
    reason: str


@dataclass
class MergeRecord:
    number: int
    author: str  # as the submission's summary says
    head: str  # the head the merged event says was merged
    merged_by: str
    merged_commit: str  # the meta commit of the merged event
    closed_before: list[ClosedEvent] = field(default_factory=list)  # closed events earlier in the chain


class MergeRecords:
    """``merge commit -> MergeRecord`` over the submissions of a repository.

    The merge commits medperf-git makes name their submission (``Submission: N``), so an audit of a
    few merges reads a few chains; anything else (a merge that names none, or the wrong one) makes it
    read them all, once.
    """

    def __init__(self, repo: GitRepo):
        self.repo = repo
        self._by_merge: dict[str, MergeRecord] = {}
        self._read: set[int] = set()
        self._all = False

    def get(self, merge: str, hint: int | None = None) -> MergeRecord | None:
        if merge not in self._by_merge and hint is not None and hint not in self._read and not self._all:
            self._load({hint})
        if merge not in self._by_merge and not self._all:
            self._load(None)
        return self._by_merge.get(merge)

    def load_all(self) -> None:
        if not self._all:
            self._load(None)

    def _load(self, numbers: set[int] | None) -> None:
        from medperf_git.registry import submissions
        from medperf_git.registry._index_rows import read_blobs

        if numbers is None:
            self._all = True
        else:
            self._read |= numbers
        raws = [raw for raw in submissions.load_raw(self.repo, None, numbers) if raw.meta and not raw.problem]
        blobs = sorted({blob for raw in raws for blob in submissions.blobs(raw)})
        contents = dict(zip(blobs, read_blobs(self.repo, blobs), strict=True))
        found = self._by_merge
        for raw in raws:
            summary = submissions.load(contents.get(raw.summary_blob or "")) or {}
            closed: list[ClosedEvent] = []
            seq = 0
            for commit in raw.chain:
                for number, kind, blob in submissions.event_files(commit):
                    seq += 1
                    data = submissions.load(contents.get(blob)) or {}
                    if number != seq or data.get("type") != kind:
                        continue  # out of sequence or mislabelled: it counts for nothing
                    if kind == "closed":
                        closed.append(ClosedEvent(commit.sha, str(data.get("by", "")), str(data.get("reason", ""))))
                    elif kind == "merged":
                        found.setdefault(str(data.get("commit", "")), MergeRecord(
                            raw.number, str(summary.get("author", "")), str(data.get("head", "")),
                            str(data.get("by", "")), commit.sha, list(closed)))
