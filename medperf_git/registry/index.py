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
import functools
import json
import os
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_git.errors import GitError, MedperfGitError
from medperf_git.lint.facts import normalize_name
from medperf_git.records.layout import RecordPath, parse_path
from medperf_git.registry.git import GitRepo, git_env

FORMAT = "1"  # bump when the table layout or the extracted columns change: the index is rebuilt
INDEX_FILE = "index.sqlite"
Progress = Callable[[int, int], None]  # (done, total)
_POOL_MIN = 20_000  # below this many records one process is faster than starting a pool

_SCHEMA = """
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
CREATE INDEX IF NOT EXISTS records_kind_key ON records(kind, key);
CREATE INDEX IF NOT EXISTS records_kind_id ON records(kind, id);
CREATE INDEX IF NOT EXISTS records_kind_benchmark ON records(kind, benchmark);
CREATE INDEX IF NOT EXISTS records_kind_name ON records(kind, norm_name);
CREATE INDEX IF NOT EXISTS records_uid ON records(generated_uid) WHERE generated_uid IS NOT NULL;
CREATE INDEX IF NOT EXISTS owners_handle ON owners(handle, path);
CREATE INDEX IF NOT EXISTS owners_path ON owners(path);
"""
_COLUMNS = ("path", "kind", "key", "id", "benchmark", "component", "blob", "valid", "error", "name", "norm_name",
            "owner", "generated_uid", "tasks", "data")
_INSERT = f"INSERT OR REPLACE INTO records ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


class IndexError_(MedperfGitError):  # noqa: N801 - avoid shadowing the builtin IndexError
    """The index file cannot be opened or written."""


@dataclass(frozen=True)
class UpdateStats:
    """What an update did: ``mode`` is "none", "incremental" or "cold"; counts are record paths."""

    mode: str
    commit: str
    added: int = 0
    changed: int = 0
    deleted: int = 0


# Reading many blobs at once


def read_blobs(repo: GitRepo, shas: list[str]) -> Iterator[bytes | None]:
    """The contents of ``shas``, in order, through one ``git cat-file --batch`` (None for non-blobs)."""
    if not shas:
        return
    proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=repo.path, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=git_env())
    assert proc.stdin is not None and proc.stdout is not None

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError):
            for start in range(0, len(shas), 4096):
                proc.stdin.write(("\n".join(shas[start:start + 4096]) + "\n").encode())
            proc.stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    stdout = proc.stdout
    try:
        for _ in shas:
            header = stdout.readline().split()
            if len(header) < 3:  # "<sha> missing" or a broken pipe
                if not header:
                    raise GitError("git cat-file stopped early while reading the registry")
                yield None
                continue
            data = stdout.read(int(header[2]))
            stdout.read(1)
            yield data if header[1] == b"blob" else None
    finally:
        stdout.close()
        writer.join()
        proc.wait()


# Turning one record into one row

_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


class _Unusual(Exception):
    """The document needs the full loader (merge keys, duplicates, odd tags): let it decide."""


def load_record(raw: bytes, source: str) -> Any:
    """Exactly what ``load_yaml`` returns, about twice as fast for the plain YAML that records are.

    Strings, lists and mappings are built straight from libyaml's nodes; any other scalar goes
    through the safe constructor, and anything unusual (or any error) goes to ``load_yaml`` itself,
    which gives the same value or the same positioned error.
    """
    from medperf_git.records import yamlio

    text = yamlio._decode(raw, source)  # the same size, NUL and UTF-8 checks
    if "&" in text or "*" in text:
        return yamlio.load_yaml(raw, source)  # it refuses anchors and aliases with a position
    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(node, loader)
    except Exception:  # noqa: BLE001 - the full loader reports it properly
        return yamlio.load_yaml(raw, source)
    finally:
        loader.dispose()


_RESOLVED: dict[str, str] = {}  # plain scalar text -> tag: records repeat their keys and values


@functools.cache
def _loader_class() -> type:
    """The records' loader with a faster resolver; it resolves exactly as the original does.

    Without path resolvers (records have none) a tag depends only on the node kind and, for a
    plain scalar, its text; so plain scalars are remembered and the path bookkeeping is skipped.
    """
    import yaml

    from medperf_git.records import yamlio

    base = yamlio._Loader
    if base.yaml_path_resolvers:  # pragma: no cover - nobody adds them; then keep the original
        return base
    scalar, sequence = yaml.ScalarNode, yaml.SequenceNode

    class IndexLoader(base):
        def resolve(self, kind, value, implicit):
            if kind is scalar:
                if not implicit[0]:
                    return _STR
                tag = _RESOLVED.get(value)
                if tag is None:
                    tag = base.resolve(self, kind, value, implicit)
                    if len(_RESOLVED) < 100_000:
                        _RESOLVED[value] = tag
                return tag
            return _SEQ if kind is sequence else _MAP

        def descend_resolver(self, current_node, current_index):
            pass

        def ascend_resolver(self):
            pass

    return IndexLoader


def _build(node, loader) -> Any:
    tag = node.tag
    if node.id == "scalar":
        return node.value if tag == _STR else loader.construct_object(node, deep=True)
    if node.id == "sequence" and tag == _SEQ:
        return [_build(item, loader) for item in node.value]
    if node.id == "mapping" and tag == _MAP:
        mapping: dict = {}
        for key_node, value_node in node.value:
            if key_node.id != "scalar":
                raise _Unusual
            key = _build(key_node, loader)
            if key in mapping or key_node.tag == "tag:yaml.org,2002:merge":
                raise _Unusual
            mapping[key] = _build(value_node, loader)
        return mapping
    raise _Unusual



def extract(rp: RecordPath, blob: str, raw: bytes | None) -> tuple:
    """The row of one record; never raises, so a bad file is stored as invalid with its reason."""
    from medperf_git.records.yamlio import YamlError

    base = (rp.path, rp.kind, rp.key, rp.id, rp.benchmark, rp.component, blob)
    if raw is None:
        return (*base, 0, "not a file", None, None, None, None, None, None)
    try:
        data = load_record(raw, rp.path)
    except YamlError as exc:
        return (*base, 0, exc.reason, None, None, None, None, None, None)
    except Exception as exc:  # noqa: BLE001 - a read must never crash on one bad record
        return (*base, 0, f"cannot parse: {exc}", None, None, None, None, None, None)
    if not isinstance(data, dict):
        return (*base, 0, "the file is not a mapping of fields", None, None, None, None, None, None)
    error = None
    if data.get("kind") != rp.kind:
        error = f"kind is {data.get('kind')!r}, expected {rp.kind!r}"
    elif rp.kind in ("container", "benchmark", "dataset") and data.get("id") != rp.id:
        error = f"id is {data.get('id')!r}, but the file name says {rp.id}"
    name = data.get("name") if isinstance(data.get("name"), str) else None
    owner = data.get("owner") if isinstance(data.get("owner"), str) else None
    if rp.kind == "person":
        owner = rp.key
    uid = data.get("generated_uid") if rp.kind == "dataset" and isinstance(data.get("generated_uid"), str) else None
    tasks = None
    if rp.kind == "container":
        config = data.get("config")
        task_map = config.get("tasks") if isinstance(config, dict) else None
        if isinstance(task_map, dict):
            tasks = " " + " ".join(str(t) for t in task_map) + " "
    benchmark = rp.benchmark
    if rp.kind == "dataset" and isinstance(data.get("benchmark"), int):
        benchmark = data["benchmark"]
    try:
        text = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        return (*base, 0, f"cannot store: {exc}", name, None, owner, None, None, None)
    return (rp.path, rp.kind, rp.key, rp.id, benchmark, rp.component, blob, int(error is None), error, name,
            normalize_name(name) if name else None, owner, uid, tasks, text)


def _owners_of(row: tuple) -> list[tuple[str, str]]:
    """(path, handle) pairs: who owns a record, for ``--mine`` and ``--owner``."""
    path, kind, owner, text = row[0], row[1], row[11], row[14]
    handles: list[str] = []
    if kind == "benchmark" and text:
        owners = json.loads(text).get("owners")
        if isinstance(owners, list):
            handles = [h for h in owners if isinstance(h, str)]
    elif owner:
        handles = [owner]
    return [(path, h) for h in dict.fromkeys(handles)]


def _extract_chunk(job: tuple[str, list[tuple[RecordPath, str]]]) -> list[tuple]:
    """A worker's share: it reads its own blobs, so only ids and finished rows cross processes."""
    repo_path, items = job
    blobs = read_blobs(GitRepo(repo_path), [sha for _, sha in items])
    return [extract(rp, sha, raw) for (rp, sha), raw in zip(items, blobs, strict=True)]


def _rows(repo: GitRepo, entries: list[tuple[RecordPath, str]], progress: Progress | None,
          pool_min: int = _POOL_MIN) -> Iterator[tuple]:
    """Rows for ``(record path, blob id)`` pairs; large batches are parsed by two processes."""
    total = len(entries)
    processes = min(2, os.cpu_count() or 1)
    chunk = 2000
    done = 0
    if total >= pool_min and processes > 1:
        import multiprocessing

        ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
        with ctx.Pool(processes) as pool:
            jobs = ((str(repo.path), entries[i:i + chunk]) for i in range(0, total, chunk))
            for rows in pool.imap(_extract_chunk, jobs):
                yield from rows
                done += len(rows)
                if progress:
                    progress(done, total)
        return
    blobs = read_blobs(repo, [sha for _, sha in entries])
    try:
        for (rp, sha), raw in zip(entries, blobs, strict=True):
            yield extract(rp, sha, raw)
            done += 1
            if progress and (done % chunk == 0 or done == total):
                progress(done, total)
    finally:
        blobs.close()


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
            conn = _connect(path)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            # A damaged index is only a cache: start again from the commit.
            with contextlib.suppress(NameError):
                conn.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{path}{suffix}")
            try:
                conn = _connect(path)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
            except sqlite3.DatabaseError:
                raise IndexError_(f"cannot open the registry index {path}: {exc}",
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
        try:
            conn = _connect(tmp)
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.executescript(_SCHEMA)
            with conn:
                rows = _rows(repo, entries, progress)
                batch: list[tuple] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) >= 5000:
                        _insert(conn, batch)
                        batch = []
                _insert(conn, batch)
                _set_meta(conn, commit)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.close()
            _fsync(tmp)
            self._replace_with(tmp)
        except BaseException:
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
        rows = list(_rows(repo, changed, progress))
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
                     (pair for row in rows for pair in _owners_of(row)))


def _set_meta(conn: sqlite3.Connection, commit: str) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     (("format", FORMAT), ("commit", commit)))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
