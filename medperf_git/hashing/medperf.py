"""MedPerf's folder hash (``utils.get_folders_hash``), reproduced exactly so values compare with MedPerf's.

It walks each folder with ``os.walk(topdown=False)``, hashes every file it lists (following links to files),
sorts the hex digests and hashes their concatenation. Names and paths are not part of it; prefer tree-v1.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence

from medperf_git.hashing import _reader
from medperf_git.hashing.tree import TreeHashError


def _walk(folders: Sequence[str | os.PathLike]) -> list[_reader.Entry]:
    entries = []
    for folder in folders:
        path = os.fsencode(folder)
        if not os.path.isdir(path):
            raise TreeHashError(f"{os.fsdecode(path)}: no such folder")
        for root, _dirs, files in os.walk(path, topdown=False):
            for name in files:
                full = os.path.join(root, name)
                entries.append(_reader.Entry(full, full, -1))
    return entries


def medperf_hash_info(folders: Sequence[str | os.PathLike], *, workers: int | None = None,
                      progress: Callable[[int], None] | None = None) -> tuple[str, int, int]:
    """(hex digest, files, bytes) of MedPerf's folder hash; the files are read in parallel."""
    with _reader.paused_gc():
        entries = _walk(folders)
        try:
            pairs = _reader.hash_entries(entries, lambda e, h, size: (h, size), workers=workers,
                                         flags=_reader.FOLLOW, progress=progress)
        except _reader.FileChanged as exc:
            raise TreeHashError(f"{os.fsdecode(exc.path)}: {exc.reason}") from None
    sha = hashlib.sha256()
    for digest in sorted(h for h, _ in pairs):
        sha.update(digest.encode("utf-8"))
    return sha.hexdigest(), len(pairs), sum(size for _, size in pairs)


def medperf_from_lines(lines: Iterable[bytes], copies: int = 1) -> str:
    """MedPerf's folder hash from tree-v1 manifest lines, without reading a file again.

    Each line starts with the file's sha256 hex, which is all MedPerf's hash takes; ``copies=2`` when MedPerf
    walks the same folder twice (raw data and labels in one folder, as its own tests have them).
    """
    sha = hashlib.sha256()
    for line in sorted(line[:64] for line in lines):
        for _ in range(copies):
            sha.update(line)
    return sha.hexdigest()


def medperf_hash(folders: Sequence[str | os.PathLike]) -> str:
    """MedPerf's ``get_folders_hash(folders)``: bare hex, no prefix."""
    return medperf_hash_info(folders)[0]
