"""A re-run publishes nothing twice: it finds the open submission that already carries the same records.

A command killed after its submission was opened but before it merged leaves that submission open;
when run again it picks the next free id (the first one is taken by the open submission) and would
publish the same dataset, result or request a second time. Records are compared by what makes them
the same thing, never by their id: a dataset by its generated UID, a result by its run, an
association or a person by their path and content, anything else by its content without the id.
An association requested by someone else in an open submission is another matter: it is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from medperf_git.forges.base import Submission
from medperf_git.records.layout import parse_path
from medperf_git.records.yamlio import YamlError, load_record
from medperf_git.registry.git import GitRepo


def natural_key(path: str, content: bytes) -> tuple | None:
    """What identifies the record at ``path`` whatever id it was given; None for files that are not records."""
    rp = parse_path(path)
    if rp is None:
        return None
    try:
        data = load_record(content, path)
    except YamlError:
        return None
    if not isinstance(data, dict):
        return None
    if rp.kind == "dataset" and isinstance(data.get("generated_uid"), str):
        return ("dataset", data["generated_uid"])
    if rp.kind == "result":
        return ("result", data.get("benchmark"), data.get("model"), data.get("dataset"), data.get("created_at"))
    if rp.kind in ("association", "person", "registry"):  # their path is their identity: same path, same content
        return (rp.kind, rp.key, json.dumps(data, sort_keys=True, default=str))
    rest = {k: v for k, v in data.items() if k != "id"}
    return (rp.kind, json.dumps(rest, sort_keys=True, default=str))


def carrying(repo: GitRepo, main: str, subs: Iterable[Submission], wanted: set[tuple]) -> dict[int, dict[tuple, str]]:
    """For each open submission that adds or changes some of the ``wanted`` records: which, at which path."""
    from medperf_git.policy.lineage import lineages

    subs = [sub for sub in subs if sub.state == "open" and sub.head]
    if not subs or not wanted:
        return {}
    lines = lineages(repo, main, [sub.head for sub in subs])
    found: dict[int, dict[tuple, str]] = {}
    for sub in subs:
        keys = {key: path for status, _, blob, path in lines[sub.head].changes if status != "D"
                and (key := natural_key(path, repo.read_blob(blob))) is not None and key in wanted}
        if keys:
            found[sub.number] = keys
    return found


def requested_elsewhere(repo: GitRepo, main: str, subs: Iterable[Submission], paths: Iterable[str],
                        author: str) -> tuple[str, Submission] | None:
    """(path, submission) when another person's open submission already requests one of these associations."""
    wanted = {p for p in paths if (rp := parse_path(p)) is not None and rp.kind == "association"}
    others = [sub for sub in subs if sub.state == "open" and sub.head and sub.author != author]
    if not wanted or not others:
        return None
    from medperf_git.policy.lineage import lineages

    lines = lineages(repo, main, [sub.head for sub in others])
    for sub in others:
        for status, _, _, path in lines[sub.head].changes:
            if status == "A" and path in wanted:
                return path, sub
    return None
