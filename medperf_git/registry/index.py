"""The SQLite index of a registry commit, so that reads never parse thousands of YAML files.

The index reflects exactly one commit (kept in its ``meta`` table). A cold build reads every
record blob once; later updates diff the old commit against the new one and touch only the
paths whose blob ids changed. A record that cannot be parsed is kept as *invalid* with the
reason, so reads never crash on it and lint can report it.

Atomicity: a cold build is written to a temporary file and renamed into place; an incremental
update is one transaction that also moves the recorded commit, so a crash leaves the old commit
recorded and the next run redoes the update.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_git.errors import MedperfGitError
from medperf_git.records.layout import RecordPath, parse_path
from medperf_git.registry import _index_rows
from medperf_git.registry._index_rows import Progress, extract, load_record, read_blobs
from medperf_git.registry.git import GitRepo

__all__ = ["FORMAT", "INDEX_FILE", "Index", "IndexUnavailable", "Progress", "UpdateStats", "extract", "load_record",
           "read_blobs"]

FORMAT = "1"  # bump when the table layout or the extracted columns change: the index is rebuilt
INDEX_FILE = "index.sqlite"

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    path TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    id INTEGER,
    benchmark INTEGER,
    component TEXT,
    blob TEXT NOT NULL,
    valid INTEGER NOT NULL,
    error TEXT,
    name TEXT,
    norm_name TEXT,
    owner TEXT,
    generated_uid TEXT,
    tasks TEXT,
    data TEXT
);
CREATE TABLE IF NOT EXISTS owners (path TEXT NOT NULL, handle TEXT NOT NULL);
"""
# Created after a cold build's bulk insert (faster than keeping them up to date row by row).
_INDEXES = """
CREATE INDEX IF NOT EXISTS records_kind_key ON records(kind, key);
CREATE INDEX IF NOT EXISTS records_kind_id ON records(kind, id);
CREATE INDEX IF NOT EXISTS records_kind_benchmark ON records(kind, benchmark);
CREATE INDEX IF NOT EXISTS records_kind_name ON records(kind, norm_name);
CREATE INDEX IF NOT EXISTS records_uid ON records(generated_uid) WHERE generated_uid IS NOT NULL;
CREATE INDEX IF NOT EXISTS owners_handle ON owners(handle, path);
CREATE INDEX IF NOT EXISTS owners_path ON owners(path);
"""
_SCHEMA = _TABLES + _INDEXES
_COLUMNS = ("path", "kind", "key", "id", "benchmark", "component", "blob", "valid", "error", "name", "norm_name",
            "owner", "generated_uid", "tasks", "data")
_INSERT = f"INSERT OR REPLACE INTO records ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


class IndexUnavailable(MedperfGitError):
    """The index file cannot be opened or written."""


@dataclass(frozen=True)
class UpdateStats:
    """What an update did: ``mode`` is "none", "incremental" or "cold"; counts are record paths."""

    mode: str
    commit: str
    added: int = 0
    changed: int = 0
    deleted: int = 0


class Index:
    """One registry commit's records, in SQLite. It implements the lint ``Facts`` protocol."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn

    # Opening and closing
    @classmethod
    def open(cls, path: str | os.PathLike) -> Index:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = _open_connection(path)
        except sqlite3.DatabaseError as exc:
            damaged = getattr(exc, "sqlite_errorname", None) in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or (
                "not a database" in str(exc) or "malformed" in str(exc))  # Python 3.10 has no error names
            if not damaged:
                raise IndexUnavailable(f"cannot open the registry index {path}: {exc}",
                                       hint="try again; another medperf-git command may be updating it") from exc
            # A damaged index is only a cache: start again from the commit.
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{path}{suffix}")
            try:
                conn = _open_connection(path)
            except sqlite3.DatabaseError:
                raise IndexUnavailable(f"cannot open the registry index {path}: {exc}",
                                       hint="remove the file; it is rebuilt on the next read") from exc
        return cls(path, conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # What it reflects
    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def commit(self) -> str | None:
        """The commit this index reflects, or None when it is empty or of an older format."""
        return self.meta("commit") if self.meta("format") == FORMAT else None

    # Updating
    def update(self, repo: GitRepo, commit: str, progress: Progress | None = None) -> UpdateStats:
        """Make the index reflect ``commit``: from the diff when it can, with a cold build otherwise."""
        old = self.commit
        if old == commit:
            return UpdateStats("none", commit)
        if old is None or repo.rev_parse(old) is None:
            return self.rebuild(repo, commit, progress)
        return self._incremental(repo, old, commit, progress)

    def rebuild(self, repo: GitRepo, commit: str, progress: Progress | None = None) -> UpdateStats:
        """A cold build of ``commit`` in a temporary file, renamed over the index when complete."""
        entries = []
        for entry in repo.ls_tree(commit):
            rp = parse_path(entry.path) if entry.type == "blob" else None
            if rp is not None:
                entries.append((rp, entry.sha))
        self._remove_abandoned_builds()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.building")
        conn = _connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.executescript(_TABLES)
            with conn:
                batch: list[tuple] = []
                for row in _index_rows.rows(repo, entries, progress):
                    batch.append(row)
                    if len(batch) >= 5000:
                        _insert(conn, batch)
                        batch = []
                _insert(conn, batch)
                _set_meta(conn, commit)
            conn.executescript(_INDEXES)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.close()
            _fsync(tmp)
            self._replace_with(tmp)
        except BaseException:
            conn.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return UpdateStats("cold", commit, added=len(entries))

    def _remove_abandoned_builds(self) -> None:
        """Delete the temporary files of builds whose process is gone (killed, or this one's earlier try)."""
        for leftover in self.path.parent.glob(f".{self.path.name}.*.building"):
            try:
                pid = int(leftover.name.rsplit(".", 2)[-2])
                if pid != os.getpid():
                    os.kill(pid, 0)
                    continue  # still building in another process
            except ProcessLookupError:
                pass
            except (ValueError, PermissionError):
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)

    def _replace_with(self, tmp: Path) -> None:
        # Empty our write-ahead log first, so no frame of the old file can be replayed onto the new one.
        with contextlib.suppress(sqlite3.DatabaseError):
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        os.replace(tmp, self.path)
        self.conn = _connect(self.path)
        self.conn.execute("PRAGMA journal_mode=WAL")

    def _incremental(self, repo: GitRepo, old: str, commit: str, progress: Progress | None) -> UpdateStats:
        changed: list[tuple[RecordPath, str]] = []
        deleted: list[str] = []
        added = 0
        for status, _old_sha, new_sha, path in repo.diff_tree(old, commit):
            rp = parse_path(path)
            if rp is None:
                continue
            if status == "D":
                deleted.append(path)
            else:
                changed.append((rp, new_sha))
                added += status == "A"
        rows = list(_index_rows.rows(repo, changed, progress))
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = self.commit
            if now != old:  # another process updated it meanwhile
                conn.execute("ROLLBACK")
                return self.update(repo, commit, progress) if now != commit else UpdateStats("none", commit)
            gone = deleted + [row[0] for row in rows]
            conn.executemany("DELETE FROM records WHERE path = ?", ((p,) for p in deleted))
            conn.executemany("DELETE FROM owners WHERE path = ?", ((p,) for p in gone))
            _insert(conn, rows)
            _set_meta(conn, commit)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return UpdateStats("incremental", commit, added=added, changed=len(changed) - added, deleted=len(deleted))

    # Facts protocol (lint --base reads the base commit through these)
    def has(self, kind: str, key: str) -> bool:
        return self.conn.execute("SELECT 1 FROM records WHERE kind = ? AND key = ?", (kind, str(key))).fetchone() \
            is not None

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT data FROM records WHERE kind = ? AND key = ?", (kind, str(key))).fetchone()
        return json.loads(row[0]) if row and row[0] is not None else None

    def names(self, kind: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for norm, key in self.conn.execute(
                "SELECT norm_name, key FROM records WHERE kind = ? AND norm_name IS NOT NULL", (kind,)):
            found.setdefault(norm, []).append(key)
        return found

    def generated_uids(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for uid, key in self.conn.execute(
                "SELECT generated_uid, key FROM records WHERE kind = 'dataset' AND generated_uid IS NOT NULL"):
            found.setdefault(uid, []).append(key)
        return found

    # Small helpers for queries and other consumers
    def blob_id(self, path: str) -> str | None:
        row = self.conn.execute("SELECT blob FROM records WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def max_id(self, kind: str) -> int:
        """The largest id of ``kind`` on this commit (0 when there is none); the next id is one above."""
        row = self.conn.execute("SELECT MAX(id) FROM records WHERE kind = ?", (kind,)).fetchone()
        return int(row[0] or 0)

    def invalid(self, kind: str | None = None) -> list[tuple[str, str]]:
        """(path, reason) of every record that could not be read."""
        sql = "SELECT path, error FROM records WHERE valid = 0"
        params: tuple = ()
        if kind:
            sql += " AND kind = ?"
            params = (kind,)
        return list(self.conn.execute(sql + " ORDER BY path", params))

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return self.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        return self.conn.execute("SELECT COUNT(*) FROM records WHERE kind = ?", (kind,)).fetchone()[0]

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query (queries.py builds them)."""
        return self.conn.execute(sql, tuple(params)).fetchall()


def _open_connection(path: Path) -> sqlite3.Connection:
    conn = _connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def _insert(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    if not rows:
        return
    if not conn.in_transaction:
        conn.execute("BEGIN")
    conn.executemany(_INSERT, rows)
    conn.executemany("INSERT INTO owners (path, handle) VALUES (?, ?)",
                     (pair for row in rows for pair in _index_rows.owners_of(row)))


def _set_meta(conn: sqlite3.Connection, commit: str) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     (("format", FORMAT), ("commit", commit)))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
