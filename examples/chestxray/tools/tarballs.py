"""Deterministic .tar.gz archives: the same files always give the same bytes, hence the same sha256.

Rules (the same as the package's source archives): entries sorted by name, folders included,
mtime 0, uid/gid 0 with empty owner names, mode 0644 (0755 for folders and executables), PAX
format, gzip with mtime 0, no file name in its header and level 9. Symlinks and special files are
refused; ``__pycache__`` folders and ``.pyc`` files are left out. Standard library only.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

SKIP_DIRS = {"__pycache__", ".pytest_cache"}


def tree_entries(root: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """``(archive name, file)`` for every regular file under ``root``, names under ``prefix``."""
    entries = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            path = Path(folder) / name
            if name.endswith(".pyc"):
                continue
            mode = path.lstat().st_mode
            if not stat.S_ISREG(mode):
                raise ValueError(f"{path} is not a regular file (links and special files are refused)")
            rel = path.relative_to(root).as_posix()
            entries.append((f"{prefix}/{rel}" if prefix else rel, path))
    return entries


def _info(name: str, kind: bytes, size: int = 0, executable: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if kind == tarfile.DIRTYPE or executable else 0o644
    return info


def write_tarball(target: Path, entries: list[tuple[str, Path]]) -> str:
    """Write ``entries`` to ``target`` (atomically) and return the archive's sha256 hex."""
    names = {name for name, _ in entries}
    if len(names) != len(entries):
        raise ValueError("duplicate archive names")
    folders = {"/".join(name.split("/")[:i]) for name in names for i in range(1, name.count("/") + 1)}
    members = sorted([(d, None) for d in folders] + list(entries), key=lambda item: item[0].encode("utf-8"))
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in members:
            if path is None:
                tar.addfile(_info(name, tarfile.DIRTYPE))
                continue
            data = path.read_bytes()
            executable = bool(path.stat().st_mode & 0o111)
            tar.addfile(_info(name, tarfile.REGTYPE, len(data), executable), io.BytesIO(data))
    blob = raw.getvalue()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, target)
    return hashlib.sha256(blob).hexdigest()
