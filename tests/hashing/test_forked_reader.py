"""Forked readers: many files are shared with forked processes (no GIL between them), with the same digest as one
thread, every byte reported, errors raised as if read here, no child left behind, and threads when forking is
not safe or not possible."""

from __future__ import annotations

import os
import threading
import time

import pytest

from medperf_git.hashing import _reader, medperf_hash_info, tree_hash
from medperf_git.hashing.tree import TreeHashError
from tests.hashing.trees import many_files


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """Many small files, and a forking threshold they pass."""
    root = many_files(tmp_path / "many")
    monkeypatch.setattr(_reader, "FORK_MIN_FILES", 50)
    monkeypatch.setattr(_reader, "BATCH_FILES", 8)  # many batches to share out
    return root


def _no_other_threads(wait: float = 10.0) -> None:
    """Readers fork only from a process with no other thread. Earlier tests in this process may leave
    some ending (an HTTP server's handler thread lives until its client's socket is collected): let them."""
    import gc

    deadline = time.monotonic() + wait
    while threading.active_count() > 1 and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
    assert threading.active_count() == 1, f"threads still running: {threading.enumerate()}"


@pytest.fixture
def forks(monkeypatch):
    """The pids of the readers forked during the test; checks that none is left unreaped."""
    pids: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(_reader.os, "fork", fork)
    _no_other_threads()
    yield pids
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def serial(root) -> str:
    return tree_hash({"x": root}, workers=1).digest


def test_forked_readers_give_the_one_thread_digest(tree, forks):
    expected = serial(tree)
    assert not forks
    assert tree_hash({"x": tree}, workers=2).digest == expected
    assert len(forks) == 1
    assert tree_hash({"x": tree}, workers=4).digest == expected
    assert len(forks) == 4
    # MedPerf's hash goes the same way
    assert medperf_hash_info([tree], workers=2)[0] == medperf_hash_info([tree], workers=1)[0]
    assert len(forks) == 5


def test_progress_counts_every_byte_from_every_reader(tree, forks):
    seen: list[int] = []
    th = tree_hash({"x": tree}, workers=3, progress=seen.append)
    assert forks and sum(seen) == th.total_bytes == sum(i * 37 % 5000 for i in range(300))


def test_no_fork_beside_another_thread(tree, forks):
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not _reader.can_fork()
        assert tree_hash({"x": tree}, workers=2).digest == serial(tree)
    finally:
        stop.set()
        other.join()
    assert not forks  # threads did it


def test_threads_when_the_system_cannot_fork(tree, monkeypatch):
    def refuse() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(_reader.os, "fork", refuse)
    assert tree_hash({"x": tree}, workers=2).digest == serial(tree)


def test_what_a_dead_reader_took_is_read_here(tree, forks, monkeypatch):
    parent = os.getpid()
    real = _reader.hash_file

    def dies_in_the_child(path, *args, **kwargs):
        if os.getpid() != parent:
            os.kill(os.getpid(), 9)  # killed mid-batch, nothing sent
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_reader, "hash_file", dies_in_the_child)
    assert tree_hash({"x": tree}, workers=2).digest == serial(tree)
    assert len(forks) == 1


def test_a_file_error_in_a_reader_is_raised_with_its_name(tree, forks, monkeypatch):
    real = _reader.hash_file

    def one_file_moves(path, *args, **kwargs):
        if path.endswith(b"f0123"):
            raise _reader.FileChanged(path, "changed size while hashing")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_reader, "hash_file", one_file_moves)
    with pytest.raises(TreeHashError, match=r"d4/f0123: changed size while hashing"):
        tree_hash({"x": tree}, workers=2)
    assert len(forks) == 1


def test_an_error_here_ends_the_readers(tree, forks, monkeypatch):
    parent = os.getpid()
    real = _reader.hash_file

    def interrupted_here(path, *args, **kwargs):
        if os.getpid() == parent:
            raise KeyboardInterrupt
        time.sleep(0.01)  # the readers go slowly, so that this process takes batches of its own too
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_reader, "hash_file", interrupted_here)
    with pytest.raises(KeyboardInterrupt):
        tree_hash({"x": tree}, workers=3)
    assert len(forks) == 2  # each killed and reaped (the fixture checks)


def test_few_files_use_no_fork(tmp_path, forks):
    root = tmp_path / "few"
    root.mkdir()
    for i in range(20):
        (root / str(i)).write_bytes(b"x" * i)
    tree_hash({"x": root}, workers=2)
    assert not forks
