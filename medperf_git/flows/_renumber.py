"""Record ids: the next free one, and moving a new record to a free id after a collision.

"The next id is one above the largest on main and in open submissions." Two people can still
pick the same id at the same moment; the merge notices (the path exists on both sides) and the
author, or the self-service flow on their behalf, renumbers: a new signed content commit that moves
the record and changes its ``id`` (or its result name's re-run suffix).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from medperf_git.forges.base import Submission
from medperf_git.records.layout import parse_path, record_path
from medperf_git.records.yamlio import dump_yaml, load_yaml
from medperf_git.registry.git import GitRepo

ID_KINDS = {"container": "containers", "benchmark": "benchmarks", "dataset": "datasets"}
_RERUN = re.compile(r"^(?P<base>b\d+m\d+d\d+)(?:-(?P<n>\d+))?$")


def taken_paths(repo: GitRepo, main: str, open_subs: Iterable[Submission], folder: str,
                skip: int | None = None) -> set[str]:
    """Paths under ``folder`` on main or added by any open submission (but ``skip``)."""
    paths = {e.path for e in repo.ls_tree(main, [folder + "/"])}
    for sub in open_subs:
        if sub.number == skip or sub.state != "open" or not sub.head:
            continue
        fork = repo.out("merge-base", main, sub.head, check=False)
        if fork:
            paths |= {p for status, _, _, p in repo.diff_tree(fork, sub.head) if status == "A"
                      and p.startswith(folder + "/")}
    return paths


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


def plan_renumber(repo: GitRepo, head: str, main: str, open_subs: list[Submission], number: int | None,
                  paths: Iterable[str], *, classified: bool = False) -> dict[str, bytes | None]:
    """Changes that move each colliding new record among ``paths`` to a free id; {} when none collides.

    ``classified``: the caller already removed edits from ``paths`` (a submission not opened yet, built
    on main, cannot tell an edit from a collision by where it started).
    """
    changes: dict[str, bytes | None] = {}
    claimed: set[str] = set()
    fork = repo.out("merge-base", main, head, check=False) or main
    for path in sorted(paths):
        rp = parse_path(path)
        if rp is None:
            continue
        if not classified and any(True for _ in repo.ls_tree(fork, [path])):
            continue  # an edit of a record that existed where the submission started: never moved
        folder = path.rsplit("/", 1)[0] if rp.kind == "result" else ID_KINDS.get(rp.kind)
        if folder is None:
            continue
        taken = taken_paths(repo, main, open_subs, folder, skip=number) | claimed
        if path not in taken:
            continue
        new = free_path(path, taken)
        data = repo.read_path(head, path)
        if new is None or data is None:
            continue
        claimed.add(new)
        changes[path] = None
        changes[new] = moved_record(data, path, new)
    return changes
