"""Record ids: the next free one, and moving a new record to a free id after a collision.

"The next id is one above the largest on main and in open submissions." Two people can still
pick the same id at the same moment (on the day a benchmark opens, dozens do). Open submissions then
settle their ids in the order of their numbers: each keeps its proposal unless main or a lower-numbered
open submission holds it, and otherwise takes the next free id after theirs. Every client computes the
same answer from the same refs, so N people who all proposed id 1 move once each, to N different ids,
instead of colliding again at every merge. A move is a new signed content commit by the author (or
the self-service flow on their behalf) that moves the record and changes its ``id`` (or its result
name's re-run suffix).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from medperf_git.errors import GitError
from medperf_git.forges.base import Submission
from medperf_git.records.layout import parse_path, record_path
from medperf_git.records.yamlio import dump_yaml, load_yaml
from medperf_git.registry.git import GitRepo, is_object_id

ID_KINDS = {"container": "containers", "benchmark": "benchmarks", "dataset": "datasets"}
_RERUN = re.compile(r"^(?P<base>b\d+m\d+d\d+)(?:-(?P<n>\d+))?$")


def added_paths(repo: GitRepo, main: str, open_subs: Iterable[Submission]) -> dict[int, list[str]]:
    """number -> the paths each open submission adds, from one git process however many are open.

    A submission's fork is the main it was opened on (its summary's ``base``); one whose base this
    clone cannot diff against falls back to its merge-base with main.
    """
    subs = [sub for sub in open_subs if sub.state == "open" and sub.head]
    if not subs:
        return {}
    try:
        diffs = repo.diff_commits([(sub.base if is_object_id(sub.base) else main, sub.head) for sub in subs])
    except GitError:
        diffs = {}
    found: dict[int, list[str]] = {}
    for sub in subs:
        changes = diffs.get(sub.head)
        if changes is None:
            fork = repo.merge_base(main, sub.head)
            changes = repo.diff_tree(fork, sub.head) if fork else []
        found[sub.number] = sorted(p for status, _, _, p in changes if status == "A")
    return found


def taken_paths(repo: GitRepo, main: str, open_subs: Iterable[Submission], folder: str,
                skip: int | None = None) -> set[str]:
    """Paths under ``folder`` on main or added by any open submission (but ``skip``)."""
    paths = {e.path for e in repo.ls_tree(main, [folder + "/"])}
    for number, added in added_paths(repo, main, open_subs).items():
        if number != skip:
            paths.update(p for p in added if p.startswith(folder + "/"))
    return paths


def queue_taken(repo: GitRepo, main: str, open_subs: Iterable[Submission], number: int) -> Callable[[str], set[str]]:
    """``folder -> taken paths`` for submission ``number``: main's, then each lower-numbered open
    submission's new records where the queue settles them (its proposal if free, else the next free id).

    Only lower numbers count, so the lowest keeps its proposal and two submissions never move for each
    other. Numbers are mostly handed out in order, so once ``number`` exists the lower ones are visible;
    a herd that lost a number together spreads over several, and a lower one it opens later may settle
    on an id a higher one took: the merge check then finds the id taken and that one moves again.
    """
    lower = [sub for sub in open_subs if sub.number < number]
    added = added_paths(repo, main, lower)
    cache: dict[str, set[str]] = {}

    def taken(folder: str) -> set[str]:
        if folder not in cache:
            paths = {e.path for e in repo.ls_tree(main, [folder + "/"])}
            for n in sorted(added):
                for path in added[n]:
                    if not path.startswith(folder + "/"):
                        continue
                    settled = free_path(path, paths) if path in paths else path
                    paths.add(settled or path)
            cache[folder] = paths
        return cache[folder]

    return taken


def next_id(taken: Iterable[str], kind: str) -> int:
    ids = [rp.id for rp in map(parse_path, taken) if rp is not None and rp.kind == kind and rp.id is not None]
    return max(ids, default=0) + 1


def free_path(path: str, taken: set[str]) -> str | None:
    """A free path for the new record at ``path``, or None when its kind cannot be renumbered."""
    rp = parse_path(path)
    if rp is None:
        return None
    if rp.kind in ID_KINDS:
        return record_path(rp.kind, next_id(taken, rp.kind))
    if rp.kind == "result":
        match = _RERUN.match(rp.key.split("/", 1)[1])
        if not match:
            return None
        n = int(match.group("n") or 1) + 1
        while f"results/{rp.benchmark}/{match.group('base')}-{n}.yaml" in taken:
            n += 1
        return f"results/{rp.benchmark}/{match.group('base')}-{n}.yaml"
    return None


def moved_record(data: bytes, old: str, new: str) -> bytes:
    """The record's bytes with its identity changed to match ``new``."""
    record = load_yaml(data, old)
    rp = parse_path(new)
    if isinstance(record, dict) and rp is not None:
        if rp.kind in ID_KINDS:
            record["id"] = rp.id
        elif rp.kind == "result":
            record["name"] = rp.key.split("/", 1)[1]
    return dump_yaml(record).encode()


def _identity(data: bytes | None, path: str) -> tuple | None:
    """What an edit never changes: the owner(s) and the name (results are never edited at all)."""
    try:
        record = load_yaml(data, path) if data else None
    except Exception:  # noqa: BLE001 - unreadable: treat as a different record
        return None
    if not isinstance(record, dict):
        return None
    owners = record.get("owners")
    return (record.get("kind"), record.get("owner"), tuple(owners) if isinstance(owners, list) else owners,
            record.get("name"))


def is_edit(repo: GitRepo, main: str, path: str, data: bytes | None) -> bool:
    """Is ``data`` for ``path`` an edit of the record already there on main (same owner and name)?

    Anything else at a taken path is a new record that collided with someone else's.
    """
    rp = parse_path(path)
    if rp is None or rp.kind == "result":
        return False
    old = repo.read_path(main, path)
    return old is not None and _identity(old, path) == _identity(data, path) is not None


def plan_renumber(repo: GitRepo, head: str, main: str, taken_in: Callable[[str], set[str]],
                  paths: Iterable[str], *, classified: bool = False) -> dict[str, bytes | None]:
    """Changes that move each new record among ``paths`` whose path ``taken_in(folder)`` holds to a free
    id; {} when none collides.

    ``classified``: the caller already removed edits from ``paths`` (a submission not opened yet, built
    on main, cannot tell an edit from a collision by where it started).
    """
    changes: dict[str, bytes | None] = {}
    paths = sorted(paths)
    claimed: set[str] = set()
    fork = repo.merge_base(main, head) or main
    for path in paths:
        rp = parse_path(path)
        if rp is None:
            continue
        if not classified and any(True for _ in repo.ls_tree(fork, [path])):
            continue  # an edit of a record that existed where the submission started: never moved
        folder = path.rsplit("/", 1)[0] if rp.kind == "result" else ID_KINDS.get(rp.kind)
        if folder is None:
            continue
        taken = taken_in(folder) | claimed
        if path not in taken:
            continue
        new = free_path(path, taken | set(paths))  # never onto another of its own new records
        data = repo.read_path(head, path)
        if new is None or data is None:
            continue
        claimed.add(new)
        changes[path] = None
        changes[new] = moved_record(data, path, new)
    return changes
