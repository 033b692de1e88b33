"""The parallel file reader behind tree-v1 and the MedPerf-compatible hash.

Measured on 2 cores (reference §4.2-4.4): sha256 releases the GIL for large updates, so two threads double the
throughput on big files; for small files the per-file Python overhead dominates, so they are read in one call into
a buffer that each thread keeps, and submitted in batches rather than one future per file. Many files are shared
with forked processes instead of threads (no GIL between them), when forking is safe: see ``_forked``.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import mmap
import os
import stat
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

BUFFER_SIZE = 1 << 20
LARGE_FILE = 4 << 20  # files at least this big are a task of their own
BATCH_FILES = 256
BATCH_BYTES = 8 << 20
PARALLEL_MEAN_SIZE = 128 << 10  # below this mean file size, threads fight over the GIL more than they help
FORK_MIN_FILES = 1000  # from this many files, forked readers pay for their fork (a few ms) many times over
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
    """This thread's read buffer, page-aligned (an anonymous map): the kernel copies from the page cache into
    an aligned buffer about a third faster than into a bytearray's, whose data starts 16 bytes into a page.
    Private, not mmap's default of shared: a forked reader must not write into its parent's buffer."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = memoryview(mmap.mmap(-1, BUFFER_SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS))
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


def _batches(entries: Sequence[Entry], workers: int) -> list[list[int]]:
    """Work for the readers, as lists of indices into ``entries``. With sizes known: large files alone, biggest
    first (so readers finish together), small ones grouped. With sizes unknown (a scan without stat): groups small
    enough that every reader keeps busy whatever the sizes turn out to be."""
    if any(e.size < 0 for e in entries):
        per = max(1, min(BATCH_FILES, len(entries) // (workers * 8)))
        return [list(range(i, min(i + per, len(entries)))) for i in range(0, len(entries), per)]
    large = sorted((i for i, e in enumerate(entries) if e.size >= LARGE_FILE), key=lambda i: -entries[i].size)
    batches = [[i] for i in large]
    batch: list[int] = []
    size = 0
    for i, e in enumerate(entries):
        if e.size >= LARGE_FILE:
            continue
        batch.append(i)
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

    Many files go to forked readers when that is safe (``_forked``), else to plain threads taking batches from
    a queue (no executor: importing concurrent.futures costs more than a small tree takes to hash); the first
    error stops the others at their next file.
    """
    if workers is None:
        known = [e.size for e in entries if e.size >= 0]
        mean = sum(known) / len(known) if known else 0
        workers = default_workers() if mean >= PARALLEL_MEAN_SIZE or len(known) < len(entries) else 1
    workers = max(1, workers)
    batches = _batches(entries, workers)
    with paused_gc():
        if workers > 1 and len(entries) >= FORK_MIN_FILES and can_fork():
            forked = _forked(entries, batches, result, workers, flags, progress)
            if forked is not None:
                return forked
        return _threaded(entries, batches, result, workers, flags, progress)


class paused_gc:  # noqa: N801 - used as a context manager, like contextlib's
    """No cyclic garbage collection while a tree is listed and hashed: its many small objects hold no cycles,
    and each collection would only walk them again (a few percent of hashing 20,000 small files)."""

    def __enter__(self) -> None:
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            gc.enable()


def _threaded(entries: Sequence[Entry], batches: list[list[int]], result: Callable[[Entry, str, int], T],
              workers: int, flags: int, progress: Callable[[int], None] | None) -> list[T]:
    counts: dict[int, int] = {}

    def advance(n: int) -> None:
        ident = threading.get_ident()
        counts[ident] = counts.get(ident, 0) + n  # one writer per key; the main thread only reads

    step = advance if progress is not None else None
    cancel = threading.Event()

    def run(batch: list[int]) -> list[T]:
        out = []
        for i in batch:
            if cancel.is_set():
                raise Cancelled()
            e = entries[i]
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

    import queue  # here: a forked reader or a single thread needs none (heapq and _queue cost a start-up 5 ms)

    todo: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
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


# Forked readers. Each record a child sends: the entry's index (4 bytes), its sha256 hex (64), its size (8).
INDEX_BYTES, SIZE_BYTES = 4, 8
RECORD = INDEX_BYTES + 64 + SIZE_BYTES
PIPE_SIZE = 1 << 20  # Linux's default ceiling for an unprivileged F_SETPIPE_SZ


def can_fork() -> bool:
    """Whether a reader may be forked: only on Linux, and only from a process with no other thread, since a
    child gets the calling thread alone and a lock another thread held would stay held in it for ever."""
    return sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1


def _grow_pipe(fd: int) -> int:
    """Enlarge a pipe (fewer stalls for the writer); its capacity either way."""
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


def _child(todo: int, out: int, entries: Sequence[Entry], batches: list[list[int]], flags: int) -> None:
    """A forked reader: takes batch numbers from the shared pipe until it is empty, and sends a record per file.

    A pipe read of 4 bytes is atomic, so each batch goes to exactly one reader. On any error the child just
    stops: the parent reads what it did not send, and meets the error itself.
    """
    while number := os.read(todo, INDEX_BYTES):
        chunk = []
        for i in batches[int.from_bytes(number, "little")]:
            e = entries[i]
            hexdigest, size = hash_file(e.path, e.size, flags)
            chunk.append(i.to_bytes(INDEX_BYTES, "little") + hexdigest.encode("ascii")
                         + size.to_bytes(SIZE_BYTES, "little"))
        view = memoryview(b"".join(chunk))
        while view:
            view = view[os.write(out, view):]


def _fork_child(todo: int, entries: Sequence[Entry], batches: list[list[int]], flags: int,
                inherited: list[int]) -> tuple[int, int] | None:
    """(pid, read end of its records) of a new reader, or None when the system cannot fork now."""
    import signal

    read_end, write_end = os.pipe()
    _grow_pipe(write_end)
    # Ctrl-C between the fork and the child's own handler must not run the parent's code in the child.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:
        code = 1
        try:
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends a child at once; the parent reaps it
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(read_end)
            for fd in inherited:
                os.close(fd)
            _child(todo, write_end, entries, batches, flags)
            code = 0
        finally:
            os._exit(code)  # never the parent's exit handlers or buffered output
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    os.close(write_end)
    return pid, read_end


def _forked(entries: Sequence[Entry], batches: list[list[int]], result: Callable[[Entry, str, int], T],
            workers: int, flags: int, progress: Callable[[int], None] | None) -> list[T] | None:
    """Hash with ``workers - 1`` forked readers beside this process, all taking batches from one pipe; None when
    no reader could be forked (the caller uses threads).

    Processes share no GIL, so a tree of small files, whose per-file work is Python's, reads on every core.
    Whatever a reader took and did not send (it failed, or was killed) is read here afterwards, so a file's
    error is raised as if read in this process.
    """
    numbers = b"".join(n.to_bytes(INDEX_BYTES, "little") for n in range(len(batches)))
    todo_r, todo_w = os.pipe()
    try:
        if len(numbers) > _grow_pipe(todo_w):
            return None
        os.write(todo_w, numbers)  # fits: a write into a pipe with room is whole
    finally:
        os.close(todo_w)  # readers see the end once every number is taken
    children: list[tuple[int, int]] = []
    results: list[T] = []
    seen = bytearray(len(entries))
    pending: dict[int, bytearray] = {}

    def mine(i: int) -> None:
        e = entries[i]
        hexdigest, size = hash_file(e.path, e.size, flags, progress)
        results.append(result(e, hexdigest, size))
        seen[i] = 1

    def take(fd: int) -> bool:
        """Records a reader has sent so far; False at its end."""
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        buf = pending.setdefault(fd, bytearray())
        buf += data
        whole = len(buf) - len(buf) % RECORD
        for at in range(0, whole, RECORD):
            i = int.from_bytes(buf[at:at + INDEX_BYTES], "little")
            size = int.from_bytes(buf[at + INDEX_BYTES + 64:at + RECORD], "little")
            results.append(result(entries[i], buf[at + INDEX_BYTES:at + INDEX_BYTES + 64].decode("ascii"), size))
            seen[i] = 1
            if progress is not None:
                progress(size)
        del buf[:whole]
        return bool(data)

    try:
        for _ in range(workers - 1):
            child = _fork_child(todo_r, entries, batches, flags, [fd for _, fd in children])
            if child is None:
                break
            children.append(child)
            os.set_blocking(child[1], False)
        if not children:
            return None
        while number := os.read(todo_r, INDEX_BYTES):
            for i in batches[int.from_bytes(number, "little")]:
                mine(i)
            for _, fd in children:
                take(fd)
        for _, fd in children:
            os.set_blocking(fd, True)
            while take(fd):
                pass
    except BaseException:
        import signal

        for pid, _ in children:
            os.kill(pid, signal.SIGKILL)
        raise
    finally:
        for pid, fd in children:
            os.close(fd)
            os.waitpid(pid, 0)
        os.close(todo_r)
    for i in [i for i, done in enumerate(seen) if not done]:
        mine(i)
    return results
