"""The records of one base commit, read lazily by path.

Policy is decided from the base commit only, and a decision needs a handful of records (the
author's person record, a benchmark, a dataset...). They are found by path through the trees on the
way (read in-process, each parsed once), so judging a thousand submissions on one base reads each
folder once; nothing here walks the whole tree except ``git grep`` looking for a key, which runs in
C inside git.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from medperf_git.errors import GitError
from medperf_git.records.layout import REGISTRY_FILE, fold, record_path
from medperf_git.registry.git import GitRepo
from medperf_git.registry.verify import normalize_key


def load_mapping(data: bytes | None, source: str) -> dict | None:
    """A record's fields, or None when missing, unreadable or not a mapping (policy then refuses)."""
    if data is None:
        return None
    from medperf_git.records.yamlio import YamlError, load_record

    try:
        value = load_record(data, source)
    except YamlError:
        return None
    return value if isinstance(value, dict) else None


class BaseRecords:
    """Records of commit ``rev``, each parsed at most once."""

    def __init__(self, repo: GitRepo, rev: str):
        self.repo = repo
        self.rev = rev
        self._blobs: dict[str, str | None] = {}
        self._records: dict[str, dict | None] = {}
        self._key_owners: dict[str, str | None] = {}
        self.people = BasePeople(self)

    @functools.cached_property
    def commit(self) -> str:
        sha = self.repo.rev_parse(self.rev)
        if sha is None:
            raise GitError(f"no commit {self.rev} in {self.repo.path}")
        return sha

    def blob(self, path: str) -> str | None:
        if path not in self._blobs:
            entry = self.repo.lookup(self.commit, path)
            self._blobs[path] = entry.sha if entry is not None and entry.type == "blob" else None
        return self._blobs[path]

    def exists(self, path: str) -> bool:
        return self.blob(path) is not None

    def case_twin(self, path: str) -> str | None:
        """A path in the same folder of the base that differs from ``path`` only in case, if any."""
        folder, _, name = path.rpartition("/")
        if folder:
            entry = self.repo.lookup(self.commit, folder)
            tree = entry.sha if entry is not None and entry.type == "tree" else None
        else:
            tree = self.repo.root_tree(self.commit)
        if tree is None:
            return None
        wanted = fold(name)
        for other in self.repo.tree_entries(tree):
            if other != name and fold(other) == wanted:
                return f"{folder}/{other}" if folder else other
        return None

    def get(self, path: str) -> dict | None:
        """The record at ``path`` as a mapping, or None when missing or unreadable."""
        if path not in self._records:
            sha = self.blob(path)
            self._records[path] = load_mapping(self.repo.read_blob(sha), f"{self.rev[:12]}:{path}") if sha else None
        return self._records[path]

    def record(self, kind: str, key: str | int, benchmark: int | None = None,
               component: str | None = None) -> dict | None:
        return self.get(record_path(kind, key, benchmark, component))

    # Registry-wide settings
    @property
    def registry(self) -> dict:
        return self.get(REGISTRY_FILE) or {}

    @property
    def admins(self) -> list[str]:
        return [a for a in self.registry.get("admins") or [] if isinstance(a, str)]

    @property
    def open_registration(self) -> bool:
        return bool(self.registry.get("open_registration", False))

    # People and keys
    def person_keys(self, handle: str) -> list[str]:
        person = self.record("person", handle) or {}
        keys = person.get("keys") or []
        return [normalize_key(k) for k in keys if isinstance(k, str)]

    def key_owners(self, key: str) -> list[str]:
        """Handles whose base record lists ``key``: a key index finds candidates, parsing confirms."""
        wanted = normalize_key(key)
        if len(wanted.split()) != 2:
            return []
        candidates = _key_index(self.repo, self.commit).get(wanted.split()[1], ())
        return [h for h in candidates if wanted in self.person_keys(h)]

    def key_owner(self, key: str | None) -> str | None:
        if not key:
            return None
        if key not in self._key_owners:
            owners = self.key_owners(key)
            self._key_owners[key] = owners[0] if len(owners) == 1 else None
        return self._key_owners[key]


_KEY_INDEXES: dict[tuple[str, str], dict[str, list[str]]] = {}
# An SSH public key blob in base64 always starts with "AAAA" (the length of its type name); matching
# the blob alone also finds keys whose type was folded onto another line of YAML.
_KEY_ERE = "AAAA[A-Za-z0-9+/]{40,}=*"  # for git grep -E
_KEY = re.compile(r"(AAAA[A-Za-z0-9+/]{40,}=*)")


def _key_index(repo: GitRepo, rev: str) -> dict[str, list[str]]:
    """base64 key -> handles whose file mentions it, for the ``people/`` tree of ``rev``.

    One ``git grep`` reads every person file in C; the index is kept per ``people/`` tree id, which
    most commits share, so an audit of a long history or an approval after a review pays it once.
    """
    entry = repo.lookup(rev, "people")
    if entry is None or entry.type != "tree":
        return {}
    tree = entry.sha
    cache_key = (str(repo.path), tree)
    if cache_key not in _KEY_INDEXES:
        if len(_KEY_INDEXES) > 64:
            _KEY_INDEXES.clear()
        index: dict[str, list[str]] = {}
        try:
            out = repo.git("grep", "-I", "--null", "-o", "-E", _KEY_ERE, tree, check=False).stdout
        except GitError:
            out = ""
        for line in out.splitlines():
            path, _, text = line.partition("\0")
            name = path.split(":", 1)[-1]  # "<tree>:<file>"
            match = _KEY.search(text)
            if match and name.endswith(".yaml") and "/" not in name:
                handles = index.setdefault(match.group(1), [])
                handle = name[:-len(".yaml")]
                if handle not in handles:
                    handles.append(handle)
        _KEY_INDEXES[cache_key] = index
    return _KEY_INDEXES[cache_key]


class BasePeople(Mapping[str, Sequence[str]]):
    """``handle -> keys`` of a base commit, read on demand (what ``verify.key_owner`` expects)."""

    def __init__(self, base: BaseRecords):
        self._base = base

    def __getitem__(self, handle: str) -> list[str]:
        if not isinstance(handle, str) or not self._base.exists(record_path("person", handle)):
            raise KeyError(handle)
        return self._base.person_keys(handle)

    def __contains__(self, handle: Any) -> bool:
        return isinstance(handle, str) and self._base.exists(record_path("person", handle))

    def __iter__(self) -> Iterator[str]:
        entry = self._base.repo.lookup(self._base.commit, "people")
        names = self._base.repo.tree_entries(entry.sha) if entry is not None and entry.type == "tree" else {}
        for name, (mode, _) in names.items():
            if name.endswith(".yaml") and mode != "40000":
                yield name[:-len(".yaml")]

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def owner_of(self, key: str) -> str | None:
        return self._base.key_owner(key)
