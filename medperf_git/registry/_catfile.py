"""The one object reader: a persistent ``git cat-file`` per repository.

Every object the tool reads (a commit, a tree, a record) goes through one long-lived ``--batch``
process, and every type or size asked through one ``--batch-check``: no git process per object.
Many objects at once are pipelined (a thread writes the requests while the answers are read), so
reading a thousand submissions costs one round trip, not a thousand.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

Answer = tuple[str, bytes] | None  # (type, contents), or None when the object is missing


class CatFile:
    def __init__(self, path: Path, env: Callable[[], dict[str, str]]):
        self.path = path
        self._env = env
        self._batch: subprocess.Popen | None = None
        self._check: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _start(self, mode: str) -> subprocess.Popen:
        return subprocess.Popen(["git", "cat-file", mode], cwd=self.path, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self._env())

    def read(self, sha: str) -> Answer:
        with self._lock:
            if self._batch is None:
                self._batch = self._start("--batch")
            self._request(self._batch, [sha])
            return self._answer(self._batch)

    def read_many(self, shas: Sequence[str]) -> list[Answer]:
        """The answers for ``shas``, in order; requests are written by a thread while answers are read.

        All are read before returning, so a caller may read other objects while it walks the answers.
        """
        if not shas:
            return []
        with self._lock:
            if self._batch is None:
                self._batch = self._start("--batch")
            proc = self._batch
            writer = threading.Thread(target=self._request, args=(proc, shas), daemon=True)
            writer.start()
            try:
                return [self._answer(proc) for _ in shas]
            finally:
                writer.join()

    def info(self, sha: str) -> tuple[str, int] | None:
        """(type, size) of an object, or None when it is missing."""
        with self._lock:
            if self._check is None:
                self._check = self._start("--batch-check")
            self._request(self._check, [sha])
            header = self._header(self._check)
            return (header[1].decode(), int(header[2])) if header else None

    @staticmethod
    def _request(proc: subprocess.Popen, shas: Sequence[str]) -> None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            for start in range(0, len(shas), 4096):
                proc.stdin.write(("\n".join(shas[start:start + 4096]) + "\n").encode())
            proc.stdin.flush()

    @staticmethod
    def _header(proc: subprocess.Popen) -> list[bytes] | None:
        assert proc.stdout is not None
        header = proc.stdout.readline().split()
        if not header:
            from medperf_git.errors import GitError

            raise GitError("git cat-file stopped while reading the registry")
        return header if len(header) >= 3 else None  # "<sha> missing" / "ambiguous"

    def _answer(self, proc: subprocess.Popen) -> Answer:
        header = self._header(proc)
        if header is None:
            return None
        assert proc.stdout is not None
        data = proc.stdout.read(int(header[2]))
        proc.stdout.read(1)  # the newline after the contents
        return header[1].decode(), data

    def close(self) -> None:
        for proc in (self._batch, self._check):
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # type: ignore[union-attr]
                proc.wait(timeout=10)
        self._batch = self._check = None
