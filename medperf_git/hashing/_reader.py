"""The parallel file reader behind tree-v1 and the MedPerf-compatible hash.

Measured on 2 cores (reference §4.2-4.4): sha256 releases the GIL for large updates, so two threads double the
throughput on big files; for small files the per-file Python overhead dominates, so they are read in one call into
a buffer that each thread keeps, and submitted in batches rather than one future per file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import NamedTuple, TypeVar

BUFFER_SIZE = 1 << 20
LARGE_FILE = 4 << 20  # files at least this big are a task of their own
BATCH_FILES = 256
BATCH_BYTES = 8 << 20
PARALLEL_MEAN_SIZE = 128 << 10  # below this mean file size, threads fight over the GIL more than they help
NOFOLLOW = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
FOLLOW = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)

T = TypeVar("T")


class Entry(NamedTuple):
    path: bytes  # what to open
    rel: bytes  # the manifest path, "<label>/<relative path>"
    size: int  # from the scan; -1 when unknown


class Cancelled(Exception):
    """Internal: another batch failed or the user interrupted; stop reading."""


class FileChanged(Exception):
    """Internal: a file moved, vanished or changed size under us (callers turn it into their own error)."""

    def __init__(self, path: bytes, reason: str):
        super().__init__(reason)
        self.path = path
        self.reason = reason


_local = threading.local()


def _buffer() -> memoryview:
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = memoryview(bytearray(BUFFER_SIZE))
    return buf


def hash_file(path: bytes, expected_size: int, flags: int = NOFOLLOW,
              advance: Callable[[int], None] | None = None,
              cancel: threading.Event | None = None) -> tuple[str, int]:
    """sha256 hex and size of one regular file; FileChanged if it is not one or its size moves while read."""
    mv = _buffer()
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        reason = "became a symbolic link" if exc.errno == errno.ELOOP else f"cannot be read ({exc.strerror})"
        raise FileChanged(path, reason) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileChanged(path, "is not a regular file")
        size = st.st_size
        if expected_size >= 0 and size != expected_size:
            raise FileChanged(path, "changed size while hashing")
        total = 0
        if size < BUFFER_SIZE:
            # One read call; asking for one byte more tells EOF (a short read) from a file that grew.
            n = os.readv(fd, [mv[:size + 1]])
            if n == size:
                if advance is not None:
                    advance(n)
                return hashlib.sha256(mv[:n]).hexdigest(), size
            h = hashlib.sha256(mv[:n])
            total = n
        else:
            h = hashlib.sha256()
        while True:
            n = os.readv(fd, [mv])
            if not n:
                break
            h.update(mv[:n])
            total += n
            if advance is not None:
                advance(n)
            if cancel is not None and cancel.is_set():
                raise Cancelled()
        if total != size:
            raise FileChanged(path, "changed size while hashing")
        return h.hexdigest(), size
    finally:
        os.close(fd)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _batches(entries: Sequence[Entry]) -> list[list[Entry]]:
    """Large files alone, biggest first (so threads finish together); small ones grouped."""
    large = sorted((e for e in entries if e.size >= LARGE_FILE), key=lambda e: -e.size)
    batches = [[e] for e in large]
    batch: list[Entry] = []
    size = 0
    for e in entries:
        if e.size >= LARGE_FILE:
            continue
        batch.append(e)
        size += max(e.size, 0)
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            batches.append(batch)
            batch, size = [], 0
    if batch:
        batches.append(batch)
    return batches


def hash_entries(entries: Sequence[Entry], result: Callable[[Entry, str, int], T], *,
                 workers: int | None = None, flags: int = NOFOLLOW,
                 progress: Callable[[int], None] | None = None) -> list[T]:
    """``result(entry, hexdigest, size)`` for every entry, in no particular order."""
    if workers is None:
        known = [e.size for e in entries if e.size >= 0]
        mean = sum(known) / len(known) if known else 0
        workers = default_workers() if mean >= PARALLEL_MEAN_SIZE or len(known) < len(entries) else 1
    workers = max(1, workers)
    batches = _batches(entries)
    counts: dict[int, int] = {}

    def advance(n: int) -> None:
        ident = threading.get_ident()
        counts[ident] = counts.get(ident, 0) + n  # one writer per key; the main thread only reads

    step = advance if progress is not None else None
    cancel = threading.Event()

    def run(batch: list[Entry]) -> list[T]:
        out = []
        for e in batch:
            if cancel.is_set():
                raise Cancelled()
            hexdigest, size = hash_file(e.path, e.size, flags, step, cancel)
            out.append(result(e, hexdigest, size))
        return out

    if workers == 1 or len(batches) <= 1:
        results: list[T] = []
        reported = 0
        for batch in batches:
            results.extend(run(batch))
            if progress is not None:
                done = sum(counts.values())
                progress(done - reported)
                reported = done
        return results

    results = []
    reported = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hash") as pool:
        pending: set[Future] = {pool.submit(run, b) for b in batches}
        try:
            while pending:
                done_set, pending = wait(pending, timeout=0.2 if progress else None, return_when=FIRST_COMPLETED)
                for fut in done_set:
                    results.extend(fut.result())
                if progress is not None:
                    done = sum(list(counts.values()))
                    if done > reported:
                        progress(done - reported)
                        reported = done
        except BaseException:
            cancel.set()  # running batches stop at their next read; queued ones never start
            for fut in pending:
                fut.cancel()
            raise
    return results
