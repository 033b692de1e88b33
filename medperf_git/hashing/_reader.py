"""The parallel file reader behind tree-v1 and the MedPerf-compatible hash.

Measured on 2 cores (reference §4.2-4.4): sha256 releases the GIL for large updates, so two threads double the
throughput on big files; for small files the per-file Python overhead dominates, so they are read in one call into
a buffer that each thread keeps, and submitted in batches rather than one future per file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Callable, Sequence
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


def _batches(entries: Sequence[Entry], workers: int) -> list[list[Entry]]:
    """Work for the threads. With sizes known: large files alone, biggest first (so threads finish together),
    small ones grouped. With sizes unknown (a scan without stat): groups small enough that every thread keeps
    busy whatever the sizes turn out to be."""
    if any(e.size < 0 for e in entries):
        per = max(1, min(BATCH_FILES, len(entries) // (workers * 8)))
        return [list(entries[i:i + per]) for i in range(0, len(entries), per)]
    large = sorted((e for e in entries if e.size >= LARGE_FILE), key=lambda e: -e.size)
    batches = [[e] for e in large]
    batch: list[Entry] = []
    size = 0
    for e in entries:
        if e.size >= LARGE_FILE:
            continue
        batch.append(e)
        size += e.size
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            batches.append(batch)
            batch, size = [], 0
    if batch:
        batches.append(batch)
    return batches


def hash_entries(entries: Sequence[Entry], result: Callable[[Entry, str, int], T], *,
                 workers: int | None = None, flags: int = NOFOLLOW,
                 progress: Callable[[int], None] | None = None) -> list[T]:
    """``result(entry, hexdigest, size)`` for every entry, in no particular order.

    Plain threads taking batches from a queue (no executor: importing concurrent.futures costs more than a
    small tree takes to hash); the first error stops the others at their next file.
    """
    if workers is None:
        known = [e.size for e in entries if e.size >= 0]
        mean = sum(known) / len(known) if known else 0
        workers = default_workers() if mean >= PARALLEL_MEAN_SIZE or len(known) < len(entries) else 1
    workers = max(1, workers)
    batches = _batches(entries, workers)
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

    reported = 0

    def report() -> None:
        nonlocal reported
        done = sum(list(counts.values()))
        if progress is not None and done > reported:
            progress(done - reported)
            reported = done

    if workers == 1 or len(batches) <= 1:
        results: list[T] = []
        for batch in batches:
            results.extend(run(batch))
            report()
        return results

    todo: queue.SimpleQueue[list[Entry]] = queue.SimpleQueue()
    for batch in batches:
        todo.put(batch)
    done: list[list[T]] = []
    errors: list[BaseException] = []

    def work() -> None:
        while not cancel.is_set():
            try:
                batch = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done.append(run(batch))  # list.append is atomic
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
                errors.append(exc)
                cancel.set()
                return

    threads = [threading.Thread(target=work, name="hash", daemon=True) for _ in range(min(workers, len(batches)))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2 if progress is not None else None)
                report()
    except BaseException:
        cancel.set()  # running batches stop at their next read; queued ones never start
        raise
    report()
    if errors:
        raise next((e for e in errors if not isinstance(e, Cancelled)), errors[0])
    return [item for chunk in done for item in chunk]
