"""When each SSH key joined each person's record on main, so a signature is judged by the keys its
signer had when it was made.

A person who rotates a key (a new ``people/<handle>.yaml`` on main) keeps their earlier submission
events valid: those were signed when the old key was theirs. A key counts for an event only while
the person's record on main's first-parent chain listed it at the event's time, so a key added later
cannot sign an event dated before it (a key cannot be back-dated), and a key rotated away cannot sign
new ones. The times are the committer times of main's own commits, which the audit judges.

One ``git log`` over ``people/`` builds the table; it is saved with the commit it reflects and
brought forward from the diff of later commits, never rebuilt for each command.
"""

from __future__ import annotations

import datetime
from typing import Any

from medperf_git.registry.git import GitRepo
from medperf_git.registry.verify import normalize_key

PEOPLE = "people/"


def event_time(at: Any) -> int | None:
    """Seconds since the epoch of an event's ``at`` (``YYYY-MM-DDTHH:MM:SSZ``), else None."""
    try:
        when = datetime.datetime.strptime(str(at), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return int(when.replace(tzinfo=datetime.timezone.utc).timestamp())


def stamp(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class KeyHistory:
    """``handle -> [(time, keys)]``: every version of each person's keys on main, oldest first."""

    def __init__(self, repo: GitRepo, main: str, saved: dict | None = None):
        self.repo = repo
        self.main = main
        self.versions: dict[str, list[tuple[int, list[str]]]] = {}
        start = None
        usable = isinstance(saved, dict) and isinstance(saved.get("versions"), dict) \
            and isinstance(saved.get("main"), str)
        if usable and (saved["main"] == main or repo.is_ancestor(saved["main"], main)):
            self.versions = {h: [(int(t), list(k)) for t, k in v] for h, v in saved["versions"].items()}
            start = saved["main"]
        if start != main:
            self._walk(start)

    def to_dict(self) -> dict:
        return {"main": self.main, "versions": self.versions}

    def _walk(self, start: str | None) -> None:
        rng = f"{start}..{self.main}" if start else self.main
        out = self.repo.out("log", "--first-parent", "--diff-merges=first-parent", "--reverse", "--no-abbrev",
                            "--no-renames", "--format=%x00%ct", "--raw", rng, "--", PEOPLE)
        changes: list[tuple[int, str, str | None]] = []  # (time, handle, blob; None when deleted)
        for chunk in out.split("\0")[1:]:
            lines = chunk.splitlines()
            if not lines or not lines[0].strip().isdigit():
                continue
            when = int(lines[0].strip())
            for line in lines[1:]:
                meta, _, path = line.partition("\t")
                fields = meta.split()
                name = path[len(PEOPLE):] if path.startswith(PEOPLE) else ""
                if len(fields) >= 5 and name.endswith(".yaml") and "/" not in name:
                    changes.append((when, name[:-len(".yaml")], None if fields[4] == "D" else fields[3]))
        self.repo.prefetch([blob for _, _, blob in changes if blob])
        for when, handle, blob in changes:
            keys = _keys(self.repo.read_blob(blob), f"{PEOPLE}{handle}.yaml") if blob else []
            self.versions.setdefault(handle, []).append((when, keys))

    def listed(self, handle: str, key: str, when: int) -> bool:
        """Whether ``handle``'s record on main listed ``key`` at time ``when``.

        Commits and events made within the same second are not ordered, so the version in force just
        before that second and every version made during it count.
        """
        key = normalize_key(key)
        before: list[str] = []
        for t, keys in self.versions.get(handle, ()):
            if t < when:
                before = keys
            elif t == when and key in keys:
                return True
        return key in before

    def owners_at(self, key: str, when: int) -> list[str]:
        """Everyone whose record on main listed ``key`` at time ``when``."""
        return sorted(h for h in self.versions if self.listed(h, key, when))

    def first_listed(self, handle: str, key: str) -> int | None:
        """When ``key`` first joined ``handle``'s record on main, or None if it never did."""
        key = normalize_key(key)
        return next((t for t, keys in self.versions.get(handle, ()) if key in keys), None)


def _keys(data: bytes, source: str) -> list[str]:
    from medperf_git.policy.base import load_mapping

    record = load_mapping(data, source) or {}
    keys = record.get("keys")
    return [normalize_key(k) for k in keys if isinstance(k, str)] if isinstance(keys, list) else []
