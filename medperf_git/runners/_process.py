"""The one process helper behind the apptainer, sandbox and local runners, and the log sink all runners share.

A task's output is merged (stdout and stderr), streamed line by line to a callback, kept in a log
file per task, and its last lines kept for the error message. The timeout is wall-clock, and it
kills the whole process group, so grandchildren die too.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from medperf_git.errors import ContainerFailed

TAIL_LINES = 200
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
NOTE = "[medperf-git] "  # how our own lines start in a task's log and output
WARNING = NOTE + "warning: "  # the CLI shows such lines as warnings
# Where a task's command runs: here, unless a runner that hands tasks to a cluster (runners/slurm.py) sets its own
# launcher around the sandbox's or apptainer's run, which then build the command line as always.
LAUNCHER: contextvars.ContextVar[Callable[..., ProcessOutcome] | None] = contextvars.ContextVar(
    "medperf_git_launcher", default=None)
# Ctrl-C reaches only the main thread: a flow running tasks side by side sets this, and each task then stops as
# if interrupted itself (its process group killed, its cluster job cancelled).
INTERRUPT = threading.Event()


class LogSink:
    """Collects a task's output: the log file (renamed into place when closed), the callback and a tail."""

    def __init__(self, log_path: Path, on_output: Callable[[str], None] | None = None):
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.log_path.name}.", suffix=".tmp", dir=self.log_path.parent)
        self._file = os.fdopen(fd, "wb")
        self._on_output = on_output
        self._partial = b""
        self._lock = threading.Lock()
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

    def feed(self, chunk: bytes) -> None:
        """Accept any chunk of bytes; complete lines go out as they arrive."""
        with self._lock:
            self._file.write(chunk)
            self._partial += chunk
            *lines, self._partial = self._partial.split(b"\n")
        for raw in lines:
            self._emit(raw)

    def _emit(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        self.tail.append(line)
        if self._on_output is not None:
            self._on_output(line)

    def note(self, text: str) -> None:
        """A line of our own (a timeout, a kill) in the log and the stream."""
        self.feed(f"{NOTE}{text}\n".encode())

    def warn(self, text: str) -> None:
        """A warning of our own about the task (it runs unisolated), kept in its log and shown by the CLI."""
        self.feed(f"{WARNING}{text}\n".encode())

    def close(self) -> None:
        if self._partial:
            rest, self._partial = self._partial, b""
            self._emit(rest)
        # No fsync: a log is diagnostic, and syncing costs ~10 ms per task on a busy disk. The rename
        # still means a reader sees a whole log or the previous one, never a torn write.
        self._file.flush()
        self._file.close()
        os.replace(self._tmp, self.log_path)

    def last_lines(self, n: int = 20) -> str:
        return "\n".join(list(self.tail)[-n:])


@dataclass
class ProcessOutcome:
    exit_code: int
    timed_out: bool
    duration: float


def _kill_group(proc: subprocess.Popen, grace: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            # The leader is gone; make sure nothing it left in the group survives.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_interruptibly(proc: subprocess.Popen, timeout: float | None) -> int:
    """``proc.wait(timeout)``, raising KeyboardInterrupt in this thread too when INTERRUPT is set."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if INTERRUPT.is_set():
            raise KeyboardInterrupt
        step = 0.5 if deadline is None else min(0.5, max(deadline - time.monotonic(), 0))
        try:
            return proc.wait(timeout=step)
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                raise


def run_process(argv: Sequence[str], *, env: Mapping[str, str], cwd: str | os.PathLike | None,
                timeout: float | None, sink: LogSink, grace: float = KILL_GRACE) -> ProcessOutcome:
    """Run ``argv`` in its own session, tee its output into ``sink``, kill the group at the deadline."""
    launcher = LAUNCHER.get()
    if launcher is not None:
        return launcher(argv, env=env, cwd=cwd, timeout=timeout, sink=sink)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=dict(env), cwd=cwd, start_new_session=True)
    except OSError as exc:
        raise ContainerFailed(f"could not start {argv[0]}: {exc.strerror or exc}") from exc

    def pump() -> None:
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read1(65536), b""):
            sink.feed(chunk)

    reader = threading.Thread(target=pump, name="medperf-git-output", daemon=True)
    reader.start()
    timed_out = False
    try:
        wait_interruptibly(proc, timeout)
        # The task is over: whatever it left running in its process group goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    except subprocess.TimeoutExpired:
        timed_out = True
        sink.note(f"wall-clock timeout of {timeout:g} s reached; killing the task")
        _kill_group(proc, grace)
    except BaseException:
        _kill_group(proc, 0.5)
        raise
    finally:
        reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    return ProcessOutcome(proc.returncode if proc.returncode is not None else -9, timed_out,
                          time.monotonic() - start)
