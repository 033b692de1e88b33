"""Turning record blobs into index rows, fast: batch blob reads, a quicker YAML loader, two processes.

Kept apart from :mod:`medperf_git.registry.index` (the tables and their updates) because this is
the part that a cold build of 100,000 records spends its time in.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Iterator

from medperf_git.records.layout import RecordPath, normalize_name
from medperf_git.records.yamlio import load_record
from medperf_git.registry.git import GitRepo, read_objects

Progress = Callable[[int, int], None]  # (done, total)
POOL_MIN = 20_000  # below this many records one process is faster than starting a pool
CHUNK = 2000


# Reading many blobs at once


def read_blobs(repo: GitRepo, shas: list[str]) -> Iterator[bytes | None]:
    """The contents of ``shas``, in order, through one ``git cat-file --batch`` (None for non-blobs)."""
    for found in read_objects(repo, shas):
        yield found[1] if found is not None and found[0] == "blob" else None


# Turning one record into one row

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


def owners_of(row: tuple) -> list[tuple[str, str]]:
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


def _quiet_worker() -> None:
    """Ctrl-C is the parent's to handle, and a worker whose parent died must not print a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the worker's whole life


def rows(repo: GitRepo, entries: list[tuple[RecordPath, str]], progress: Progress | None = None,
         pool_min: int | None = None) -> Iterator[tuple]:
    """Rows for ``(record path, blob id)`` pairs; large batches are parsed by two processes."""
    total = len(entries)
    processes = min(2, os.cpu_count() or 1)
    chunk = CHUNK
    done = 0
    if total >= (POOL_MIN if pool_min is None else pool_min) and processes > 1:
        import multiprocessing

        ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
        with ctx.Pool(processes, initializer=_quiet_worker) as pool:
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
