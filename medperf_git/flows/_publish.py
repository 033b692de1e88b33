"""Publishing records: every flow's last step, through a submission on the registry's forge.

Self-service records merge as soon as checks pass; the others wait for the people the base
commit's records entitle to approve. Ids are one above the largest on main and in open
submissions; a collision found at merge time renumbers the record by itself.
"""

from __future__ import annotations

import copy
from typing import Any

from medperf_git.errors import RecordInvalid
from medperf_git.flows.dataset import PublishOutcome
from medperf_git.flows.session import RegistrySession
from medperf_git.records.layout import parse_path, record_path
from medperf_git.records.yamlio import dump_yaml


def path_of(record: dict[str, Any]) -> str:
    kind = record["kind"]
    if kind == "association":
        component = "dataset" if "dataset" in record else "model"
        return record_path(kind, record[component], record["benchmark"], component)
    if kind == "result":
        return record_path(kind, record["name"], record["benchmark"])
    if kind == "person":
        return record_path(kind, record["handle"])
    return record_path(kind, record["id"])


def _encode(record: dict[str, Any]) -> bytes:
    text = dump_yaml(record)
    if not text.strip():
        raise RecordInvalid("refusing to publish an empty record")
    return text.encode()


def publish(s: RegistrySession, records: dict[str, dict[str, Any]], *, title: str, kind: str,
            renumber: bool = True) -> PublishOutcome:
    """Open one submission with these records; the first one is the outcome's record. ``renumber=False``
    for edits of records whose path is their identity (a result re-encrypted in place)."""
    from medperf_git.flows.submission import open_submission

    changes = {path_of(r): _encode(r) for r in records.values()}
    result = open_submission(s, changes, title, kind, renumber=renumber)
    primary = copy.deepcopy(next(iter(records.values())))
    path = path_of(primary)
    moved = result.renumbered.get(path)
    if moved:
        new = parse_path(moved)
        if new is not None and new.id is not None and "id" in primary:
            primary["id"] = new.id
        path = moved
    waiting: list[str] = []
    verdict = result.verdict
    if verdict is not None and not result.merged:
        for requirement in getattr(verdict, "requirements", []):
            if not requirement.satisfied:
                waiting += [c for c in requirement.candidates if c not in waiting]
    number = result.submission.number if result.submission else None
    return PublishOutcome(number, result.merged, primary, path, waiting)
