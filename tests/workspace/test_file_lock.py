"""`file_lock`: one holder at a time across processes, released on exit, on errors and when the holder dies."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from medperf_git.workspace.atomic import file_lock

# Another process that takes the lock, says so, then sleeps until killed or done.
HOLDER = """
import sys, time
from medperf_git.workspace.atomic import file_lock
with file_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _free(path: Path) -> bool:
    """Whether another open file could take the lock right now, without waiting."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_the_lock_file_and_its_folder_are_created_and_the_lock_released_on_exit(tmp_path):
    path = tmp_path / "deep" / "er" / "x.lock"
    with file_lock(path):
        assert path.is_file() and not _free(path)
    assert _free(path)
    with file_lock(path):  # the file left behind is simply reused
        assert not _free(path)


def test_an_exception_releases_the_lock(tmp_path):
    path = tmp_path / "x.lock"
    with pytest.raises(RuntimeError), file_lock(path):
        raise RuntimeError("boom")
    assert _free(path)


def test_a_second_process_waits_and_on_wait_says_so(tmp_path):
    path = tmp_path / "x.lock"
    holder = _holder(path, 1.0)
    waited: list[bool] = []
    with file_lock(path, on_wait=lambda: waited.append(True)):
        assert waited == [True]
    holder.wait(timeout=30)
    with file_lock(path, on_wait=lambda: waited.append(True)):
        pass
    assert waited == [True], "on_wait is called only when someone else holds the lock"


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    path = tmp_path / "x.lock"
    holder = _holder(path, 600)
    assert not _free(path)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    done = threading.Event()

    def take() -> None:
        with file_lock(path):
            done.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    assert done.wait(timeout=30), "the lock of a killed process was never released"


def test_child_processes_do_not_inherit_the_lock(tmp_path):
    path = tmp_path / "x.lock"
    with file_lock(path):
        child = subprocess.Popen(["sleep", "600"], close_fds=False)
    try:
        assert _free(path), "a child started under the lock still holds it"
    finally:
        child.kill()
        child.wait()
