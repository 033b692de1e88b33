"""Archives from strangers extracted safely, and deterministic archives made for publishing.

MedPerf extracts additional-files tarballs with a bare ``extractall()``, so a crafted tarball can write outside
its folder, and a small bomb can fill the disk. Here every member is checked and anything but plain files and
folders is refused by name (not skipped silently), only files and folders are ever made, what is written is
counted against caps on size, entries and compression ratio (``ArchiveLimits``), and the result appears in
``dest`` only once complete. ``make_archive`` gives the same bytes for the same files, so a source archive's
sha256 is reproducible.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

from medperf_git.errors import UnsafeArchive
from medperf_git.workspace.atomic import atomic_write, staged_dir
from medperf_git.workspace.config import ArchiveLimits
from medperf_git.workspace.workspace import home_dir

CHUNK = 1 << 20


def safe_name(archive: Path, name: str) -> str:
    """The member's relative path, or UnsafeArchive naming it."""
    if "\\" in name or "\n" in name or "\0" in name:
        raise UnsafeArchive(f"{archive}: member {name!r} has a backslash or a newline in its name; refused")
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise UnsafeArchive(f"{archive}: member {name!r} is an absolute path; refused")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"{archive}: member {name!r} has a '..' component; refused")
    return "/".join(parts)


def _tar_kind(member: tarfile.TarInfo) -> str | None:
    """Why a member is refused, or None for a plain file or folder."""
    if member.issym():
        return f"a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "a device"
    if member.isfifo():
        return "a FIFO"
    if not (member.isreg() or member.isdir()):
        return "not a regular file or folder"
    return None


def _normalise_modes(root: Path) -> None:
    """Folders 0755, files 0644 or 0755 (if executable at all): no setuid, no world-writable files."""
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o755)
        for f in files:
            path = os.path.join(folder, f)
            mode = os.lstat(path).st_mode
            os.chmod(path, 0o755 if mode & 0o111 else 0o644)
    os.chmod(root, 0o755)


def _size(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} bytes"


class Budget:
    """What extracting one archive may still write, counted as it is written.

    Sizes in an archive's headers are the archive's word; the caps are checked against bytes as they
    are written and entries as they are made, so a bomb stops at the cap whatever its headers claim.
    """

    def __init__(self, archive: Path, limits: ArchiveLimits | None = None):
        self.archive, self.limits = archive, limits or ArchiveLimits.current()
        self.archive_bytes = max(archive.stat().st_size, 1)
        self.written = 0
        self.entries = 0

    def _refuse(self, what: str, key: str, cap: str) -> UnsafeArchive:
        env = ArchiveLimits.ENV[key]
        return UnsafeArchive(
            f"{self.archive}: extracting it would pass the cap on {what} ({cap}); refused, nothing was kept",
            hint=f"if you trust this archive, raise the cap with {env} or with archive_limits.{key} in "
                 f"{home_dir() / 'config.yaml'}")

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_files:
            raise self._refuse("the number of files and folders", "max_files", f"{self.limits.max_files:,}")

    def count(self, n: int) -> None:
        self.written += n
        if self.written > self.limits.max_bytes:
            raise self._refuse("the extracted size", "max_bytes", _size(self.limits.max_bytes))
        if self.written > ArchiveLimits.RATIO_FLOOR and self.written > self.limits.max_ratio * self.archive_bytes:
            raise self._refuse("the compression ratio", "max_ratio",
                               f"{self.limits.max_ratio}x the archive's {_size(self.archive_bytes)}, checked "
                               f"past {_size(ArchiveLimits.RATIO_FLOOR)}")


class _Writer:
    """Writes an archive's members into the staging folder, within a ``Budget``."""

    def __init__(self, archive: Path, root: Path, limits: ArchiveLimits):
        self.root = root
        self.budget = Budget(archive, limits)

    def folder(self, rel: str) -> None:
        self.budget.entry()
        (self.root / rel).mkdir(parents=True, exist_ok=True)

    def file(self, rel: str, data: IO[bytes], executable: bool) -> None:
        """Copy one member; no symbolic link is ever made, so ``O_NOFOLLOW`` is a second guard."""
        self.budget.entry()
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        with os.fdopen(os.open(target, flags, 0o755 if executable else 0o644), "wb") as out:
            while chunk := data.read(CHUNK):
                self.budget.count(len(chunk))
                out.write(chunk)

    def copy(self, rel: str, source: int, offset: int, size: int, executable: bool) -> None:
        """Copy one member of an uncompressed archive by its offset, in the kernel (no byte through Python)."""
        self.budget.entry()
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        out = os.open(target, flags, 0o755 if executable else 0o644)
        try:
            done = 0
            while done < size:
                want = min(size - done, 64 * CHUNK)
                try:
                    copied = os.copy_file_range(source, out, want, offset + done)
                except (AttributeError, OSError):  # no copy_file_range here, or not between these files
                    copied = os.write(out, os.pread(source, min(want, CHUNK), offset + done))
                if copied == 0:
                    raise UnsafeArchive(f"{self.budget.archive}: member {rel!r} is cut short; refused")
                self.budget.count(copied)
                done += copied
        finally:
            os.close(out)


def _plain_source(tar: tarfile.TarFile) -> int | None:
    """The descriptor of an uncompressed tar on disk, whose members can be copied by offset; else None."""
    fileobj = tar.fileobj
    if type(fileobj) is io.BufferedReader and isinstance(fileobj.raw, io.FileIO):
        return fileobj.fileno()
    return None


def _extract_tar(archive: Path, writer: _Writer) -> None:
    """One pass over the members: each is checked, then written, so nothing is read twice."""
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            rel = safe_name(archive, member.name)
            why = _tar_kind(member)
            if why is not None:
                raise UnsafeArchive(f"{archive}: member {member.name!r} is {why}; only plain files and folders "
                                    "are accepted")
            if not rel:
                if member.isdir():
                    continue  # "./" itself
                raise UnsafeArchive(f"{archive}: member {member.name!r} has no name; refused")
            if member.isdir():
                writer.folder(rel)
                continue
            source = _plain_source(tar)
            if source is not None and member.sparse is None:
                writer.copy(rel, source, member.offset_data, member.size, bool(member.mode & 0o111))
                continue
            data = tar.extractfile(member)
            if data is None:
                raise UnsafeArchive(f"{archive}: member {member.name!r} has no data; refused")
            with data:
                writer.file(rel, data, bool(member.mode & 0o111))


def _extract_zip(archive: Path, writer: _Writer) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            rel = safe_name(archive, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchive(f"{archive}: member {info.filename!r} is a symbolic link; only plain files and "
                                    "folders are accepted")
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchive(f"{archive}: member {info.filename!r} is not a regular file or folder; "
                                    "only plain files and folders are accepted")
            if not rel:
                continue
            if info.is_dir():
                writer.folder(rel)
                continue
            with zf.open(info) as data:
                writer.file(rel, data, bool(mode & 0o111))


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike, limits: ArchiveLimits | None = None) -> None:
    """Extract a tar (plain, gzip, bzip2, xz) or zip archive into ``dest``, refusing anything unsafe.

    ``limits`` defaults to the caps in force (``MEDPERF_GIT_MAX_EXTRACT_*``, else ``archive_limits`` in
    config.yaml, else ArchiveLimits' defaults); an archive passing one is refused and nothing is kept.
    """
    archive, dest = Path(archive), Path(dest)
    try:
        is_tar = tarfile.is_tarfile(archive)
        is_zip = not is_tar and zipfile.is_zipfile(archive)
    except OSError as exc:
        raise UnsafeArchive(f"{archive}: cannot read ({exc.strerror})") from exc
    if not (is_tar or is_zip):
        raise UnsafeArchive(f"{archive}: not a tar or zip archive")
    limits = limits or ArchiveLimits.current()
    try:
        with staged_dir(dest) as tmp:
            (_extract_tar if is_tar else _extract_zip)(archive, _Writer(archive, tmp, limits))
            _normalise_modes(tmp)
    except UnsafeArchive:
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError, RuntimeError) as exc:
        raise UnsafeArchive(f"{archive}: cannot be extracted: {exc}") from exc


class _HashingWriter:
    """Passes bytes through to a file and hashes them on the way."""

    def __init__(self, handle: IO[bytes]):
        self.handle = handle
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def _entries(src: Path) -> list[tuple[str, Path, bool]]:
    """(relative path, path, is folder) in a fixed order: depth first, names sorted as bytes."""
    out: list[tuple[str, Path, bool]] = []

    def walk(folder: Path, rel: str) -> None:
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda e: os.fsencode(e.name))
        for child in children:
            name = f"{rel}/{child.name}" if rel else child.name
            st = child.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                out.append((name, Path(child.path), True))
                walk(Path(child.path), name)
            elif stat.S_ISREG(st.st_mode):
                out.append((name, Path(child.path), False))
            else:
                raise UnsafeArchive(f"{child.path}: not a regular file or folder; an archive holds only those")

    walk(src, "")
    return out


def make_archive(src_dir: str | os.PathLike, out: str | os.PathLike, *, prefix: str = "") -> str:
    """Write a deterministic tar.gz of ``src_dir`` (entries under ``prefix/`` if given); returns its sha256.

    Sorted entries, mtime 0, owner 0:0 with no names, modes 0644/0755, and a gzip header without time or name:
    the same files always give the same bytes, wherever and whenever they are packed.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise UnsafeArchive(f"{src}: not a folder")
    prefix = prefix.strip("/")
    entries = _entries(src)
    if prefix:
        entries.insert(0, ("", src, True))

    def info(name: str, is_dir: bool, mode: int, size: int = 0) -> tarfile.TarInfo:
        ti = tarfile.TarInfo("/".join(p for p in (prefix, name) if p))
        ti.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
        ti.mode = 0o755 if is_dir or mode & 0o111 else 0o644
        ti.size = 0 if is_dir else size
        ti.mtime = 0
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    with atomic_write(out, "wb") as handle:
        writer = _HashingWriter(handle)
        with gzip.GzipFile(filename="", mode="wb", fileobj=writer, mtime=0, compresslevel=9) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, path, is_dir in entries:
                st = path.stat()
                if is_dir:
                    tar.addfile(info(name, True, st.st_mode))
                else:
                    with open(path, "rb") as data:
                        tar.addfile(info(name, False, st.st_mode, st.st_size), data)
    return "sha256:" + writer.sha.hexdigest()
