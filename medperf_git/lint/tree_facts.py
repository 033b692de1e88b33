"""Facts (see ``facts.py``) answered from a tree's files, and facts overlaid with a change.

``TreeFacts`` answers existence from paths alone and parses a record only when asked for it, so
it serves both full lint (pre-filled with the records lint has just parsed) and ``lint --base``
when no index of the base is at hand. ``OverlayFacts`` puts the changed records of a submission
on top of the base's facts, whichever implementation those come from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from medperf_git.lint.facts import Facts
from medperf_git.records.layout import normalize_name, parse_path
from medperf_git.records.yamlio import YamlError

_FOLDER = {"person": "people", "container": "containers", "benchmark": "benchmarks", "dataset": "datasets",
           "association": "associations", "result": "results"}


def key_path(kind: str, key: str) -> str:
    """The path of a record from its kind and Facts key."""
    return "registry.yaml" if kind == "registry" else f"{_FOLDER[kind]}/{key}.yaml"


def keys_named(facts: Facts, kind: str, norm: str) -> list[str]:
    """Keys of the records of ``kind`` whose normalised name is ``norm``, without building every name."""
    return _lookup(facts, "keys_named", (kind, norm), "norm_name", kind, norm, lambda: facts.names(kind).get(norm, []))


def keys_with_uid(facts: Facts, uid: str) -> list[str]:
    """Keys of the datasets whose generated_uid is ``uid``."""
    return _lookup(facts, "keys_with_uid", (uid,), "generated_uid", "dataset", uid,
                   lambda: facts.generated_uids().get(uid, []))


def _lookup(facts, method: str, args: tuple, column: str, kind: str, value: str, fallback) -> list[str]:
    fn = getattr(facts, method, None)
    if fn is not None:
        return fn(*args)
    query = getattr(facts, "query", None)  # the SQLite index: one indexed lookup instead of a whole table
    if query is not None:
        try:
            return [row[0] for row in query(f"SELECT key FROM records WHERE kind = ? AND {column} = ?", (kind, value))]
        except Exception:  # noqa: BLE001 - another index layout: ask the protocol instead
            pass
    return fallback()


def _sort_key(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (0, key)


class TreeFacts:
    """Facts from a TreeSource: paths say what exists; records are parsed on demand and cached."""

    def __init__(self, tree, parsed: dict[str, dict | None] | None = None, paths: Iterable[str] | None = None):
        self.tree = tree
        self._data: dict[str, dict | None] = dict(parsed or {})
        self._keys: dict[str, set[str]] | None = None
        self._paths = paths
        self._names: dict[str, dict[str, list[str]]] = {}
        self._uids: dict[str, list[str]] | None = None

    @property
    def keys(self) -> dict[str, set[str]]:
        if self._keys is None:
            keys: dict[str, set[str]] = {}
            for path in self._paths if self._paths is not None else self.tree.paths():
                rp = parse_path(path)
                if rp is not None:
                    keys.setdefault(rp.kind, set()).add(rp.key)
            self._keys = keys
        return self._keys

    def has(self, kind: str, key: str) -> bool:
        return str(key) in self.keys.get(kind, ())

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        path = key_path(kind, str(key))
        if path not in self._data:
            self._data[path] = self._load(path, kind) if self.has(kind, key) else None
        return self._data[path]

    def _prefetch(self, kind: str) -> None:
        """Parse every record of ``kind`` not parsed yet, reading a commit's blobs in one batch."""
        paths = [key_path(kind, key) for key in self.keys.get(kind, ())]
        paths = [p for p in paths if p not in self._data]
        entries, repo = getattr(self.tree, "entries", None), getattr(self.tree, "repo", None)
        if not paths or entries is None or repo is None:
            return
        try:
            from medperf_git.registry._index_rows import read_blobs

            for path, raw in zip(paths, read_blobs(repo, [entries[p] for p in paths]), strict=True):
                self._data[path] = self._load(path, kind, raw)
        except Exception:  # noqa: BLE001 - fall back to reading one blob at a time
            return

    def _load(self, path: str, kind: str, raw: bytes | None = None) -> dict | None:
        from medperf_git.lint._fastschema import is_valid
        from medperf_git.lint._parse import _load as load
        from medperf_git.records.schemas import validate

        raw = self.tree.read(path) if raw is None else raw
        if raw is None:
            return None
        try:
            data = load(raw, path)
            if not isinstance(data, dict):
                return None
            valid = is_valid(kind, data)
            return data if valid or (valid is None and not validate(kind, data)) else None
        except (YamlError, Exception):  # noqa: BLE001 - an unreadable record is simply not a fact
            return None

    def names(self, kind: str) -> dict[str, list[str]]:
        if kind not in self._names:
            self._prefetch(kind)
            out: dict[str, list[str]] = {}
            for key in sorted(self.keys.get(kind, ()), key=_sort_key):
                data = self.get(kind, key)
                if data and isinstance(data.get("name"), str):
                    out.setdefault(normalize_name(data["name"]), []).append(key)
            self._names[kind] = out
        return self._names[kind]

    def generated_uids(self) -> dict[str, list[str]]:
        if self._uids is None:
            self._prefetch("dataset")
            out: dict[str, list[str]] = {}
            for key in sorted(self.keys.get("dataset", ()), key=_sort_key):
                data = self.get("dataset", key)
                if data and isinstance(data.get("generated_uid"), str):
                    out.setdefault(data["generated_uid"], []).append(key)
            self._uids = out
        return self._uids


class OverlayFacts:
    """The base's facts with a change on top: ``changed`` maps (kind, key) to the new record (None when
    the record is gone or not valid) and ``present`` says which of them exist in the changed tree."""

    def __init__(self, base: Facts, changed: dict[tuple[str, str], dict | None], present: set[tuple[str, str]]):
        self.base = base
        self.changed = changed
        self.present = present

    def has(self, kind: str, key: str) -> bool:
        if (kind, str(key)) in self.changed:
            return (kind, str(key)) in self.present
        return self.base.has(kind, str(key))

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        if (kind, str(key)) in self.changed:
            return self.changed[(kind, str(key))]
        return self.base.get(kind, str(key))

    def _overlay(self, kind: str, base: dict[str, list[str]], field: str, norm) -> dict[str, list[str]]:
        mine = {key for k, key in self.changed if k == kind}
        out = {value: [k for k in keys if k not in mine] for value, keys in base.items()}
        for (k, key), data in self.changed.items():
            if k == kind and data and isinstance(data.get(field), str):
                out.setdefault(norm(data[field]), []).append(key)
        return {value: sorted(keys, key=_sort_key) for value, keys in out.items() if keys}

    def names(self, kind: str) -> dict[str, list[str]]:
        return self._overlay(kind, self.base.names(kind), "name", normalize_name)

    def _overlay_keys(self, kind: str, base_keys: list[str], field: str, value: str, norm) -> list[str]:
        keys = [k for k in base_keys if (kind, k) not in self.changed]
        keys += [key for (k, key), data in self.changed.items()
                 if k == kind and data and isinstance(data.get(field), str) and norm(data[field]) == value]
        return sorted(keys, key=_sort_key)

    def keys_named(self, kind: str, norm: str) -> list[str]:
        return self._overlay_keys(kind, keys_named(self.base, kind, norm), "name", norm, normalize_name)

    def keys_with_uid(self, uid: str) -> list[str]:
        return self._overlay_keys("dataset", keys_with_uid(self.base, uid), "generated_uid", uid, lambda v: v)

    def generated_uids(self) -> dict[str, list[str]]:
        return self._overlay("dataset", self.base.generated_uids(), "generated_uid", lambda v: v)


class ChainFacts:
    """Facts carried along history: a starting commit's facts (or none, from the root) with each later
    commit's changed records applied in turn.

    The audit lints every commit of main against its first parent; rebuilding that parent's facts for
    each commit would parse the registry once per commit, so the walk keeps this one state instead.
    ``mark``/``rewind`` return to an earlier commit's state (a recovery that restores it).
    """

    def __init__(self, base: Facts | None = None):
        self.base = base
        self._records: dict[tuple[str, str], dict | None] = {}  # changed since the start; None: gone or invalid
        self._present: set[tuple[str, str]] = set()
        self._by_name: dict[tuple[str, str], set[str]] = {}  # (kind, normalised name) -> keys, changed records
        self._by_uid: dict[str, set[str]] = {}
        self._journal: list[tuple[tuple[str, str], bool, dict | None, bool]] = []  # key, was changed, old, was there

    # Changing the state
    def apply(self, changes: dict[tuple[str, str], dict | None], present: set[tuple[str, str]]) -> None:
        """Records changed by one commit: ``changes`` maps each to its data (None when gone or invalid)."""
        for key, data in changes.items():
            self._journal.append((key, key in self._records, self._records.get(key), key in self._present))
            self._set(key, data, key in present)

    def mark(self) -> int:
        return len(self._journal)

    def settle(self) -> None:
        """The state is final up to here: no rewind will go further back (the journal is dropped)."""
        self._journal.clear()

    def rewind(self, mark: int) -> None:
        while len(self._journal) > mark:
            key, was_changed, old, was_there = self._journal.pop()
            if was_changed:
                self._set(key, old, was_there)
            else:
                self._unindex(key)
                self._records.pop(key, None)
                self._present.discard(key)

    def _set(self, key: tuple[str, str], data: dict | None, there: bool) -> None:
        self._unindex(key)
        self._records[key] = data
        if there:
            self._present.add(key)
        else:
            self._present.discard(key)
        kind, name = key
        if data and isinstance(data.get("name"), str):
            self._by_name.setdefault((kind, normalize_name(data["name"])), set()).add(name)
        if kind == "dataset" and data and isinstance(data.get("generated_uid"), str):
            self._by_uid.setdefault(data["generated_uid"], set()).add(name)

    def _unindex(self, key: tuple[str, str]) -> None:
        old = self._records.get(key)
        kind, name = key
        if old and isinstance(old.get("name"), str):
            self._by_name.get((kind, normalize_name(old["name"])), set()).discard(name)
        if kind == "dataset" and old and isinstance(old.get("generated_uid"), str):
            self._by_uid.get(old["generated_uid"], set()).discard(name)

    # Facts
    def has(self, kind: str, key: str) -> bool:
        if (kind, str(key)) in self._records:
            return (kind, str(key)) in self._present
        return self.base is not None and self.base.has(kind, str(key))

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        if (kind, str(key)) in self._records:
            return self._records[(kind, str(key))]
        return self.base.get(kind, str(key)) if self.base is not None else None

    def _merged(self, kind: str, base_keys: list[str], mine: set[str]) -> list[str]:
        keys = [k for k in base_keys if (kind, k) not in self._records]
        return sorted([*keys, *mine], key=_sort_key)

    def keys_named(self, kind: str, norm: str) -> list[str]:
        base = keys_named(self.base, kind, norm) if self.base is not None else []
        return self._merged(kind, base, self._by_name.get((kind, norm), set()))

    def keys_with_uid(self, uid: str) -> list[str]:
        base = keys_with_uid(self.base, uid) if self.base is not None else []
        return self._merged("dataset", base, self._by_uid.get(uid, set()))

    def names(self, kind: str) -> dict[str, list[str]]:
        found = dict(self.base.names(kind)) if self.base is not None else {}
        norms = set(found) | {norm for k, norm in self._by_name if k == kind}
        return {norm: keys for norm in norms if (keys := self.keys_named(kind, norm))}

    def generated_uids(self) -> dict[str, list[str]]:
        found = dict(self.base.generated_uids()) if self.base is not None else {}
        return {uid: keys for uid in set(found) | set(self._by_uid) if (keys := self.keys_with_uid(uid))}
