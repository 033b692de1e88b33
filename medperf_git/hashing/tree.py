"""tree-v1: a byte-exact, order- and thread-independent hash of labelled folders (DESIGN.md "Hashing").

Unlike MedPerf's folder hash, file names and the root they sit under are part of the digest, so renaming a file
or moving it between ``data`` and ``labels`` changes the UID, and the saved manifest can name what changed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from medperf_git.errors import MedperfGitError
from medperf_git.hashing import _reader

ALGORITHM = "tree-v1"
PREFIX = "tree-v1:sha256:"
HEADER = b"tree-v1 sha256\n"


class TreeHashError(MedperfGitError):
    """A tree cannot be hashed as given: a link, a special file, a bad name, a missing root, a moving file."""


@dataclass
class TreeHash:
    digest: str  # "tree-v1:sha256:<hex>"
    lines: list[bytes]  # the sorted manifest lines, each ending with b"\n"
    files: int
    total_bytes: int

    @property
    def hex(self) -> str:
        """The bare hex that users see as a generated UID."""
        return self.digest[len(PREFIX):]


@dataclass
class ManifestDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def _check_label(label: str) -> bytes:
    if not label or label in (".", "..") or any(c in label for c in "/\\\n\0"):
        raise TreeHashError(f"invalid root label {label!r}: use a plain name without '/', '\\' or newlines")
    return label.encode("utf-8", "surrogateescape")


def _root_dir(label: str, root: str | os.PathLike) -> bytes:
    path = os.fsencode(root)
    try:
        st = os.stat(path)  # the root itself may be reached through a link; what is under it may not
    except FileNotFoundError:
        raise TreeHashError(f"{os.fsdecode(path)}: no such folder (root '{label}')") from None
    except OSError as exc:
        raise TreeHashError(f"{os.fsdecode(path)}: cannot read ({exc.strerror})") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise TreeHashError(f"{os.fsdecode(path)}: not a folder (root '{label}')")
    return path


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _scan(roots: Mapping[str, str | os.PathLike], sizes: bool = False) -> list[_reader.Entry]:
    """Every regular file under the roots, as (path, manifest path, size); anything else is an error.

    The kind of each entry comes from the directory listing itself (no stat per file, which a tree of
    small files pays as much for as for reading them); ``sizes`` stats each file for its size (else -1:
    the reader learns it when it opens the file).
    """
    if not roots:
        raise TreeHashError("nothing to hash: give at least one folder")
    entries: list[_reader.Entry] = []
    for label, root in roots.items():
        prefix = _check_label(label) + b"/"
        stack = [(_root_dir(label, root), prefix)]
        while stack:
            folder, rel = stack.pop()
            try:
                with os.scandir(folder) as it:
                    children = list(it)
            except OSError as exc:
                raise TreeHashError(f"{os.fsdecode(folder)}: cannot list ({exc.strerror})") from exc
            for child in children:
                name = child.name
                if b"\n" in name or b"\\" in name:
                    raise TreeHashError(f"{os.fsdecode(child.path)!r}: a file name with a newline or a backslash "
                                        "cannot be hashed; rename it")
                try:
                    if child.is_dir(follow_symlinks=False):
                        stack.append((child.path, rel + name + b"/"))
                        continue
                    if child.is_file(follow_symlinks=False):
                        size = child.stat(follow_symlinks=False).st_size if sizes else -1
                        entries.append(_reader.Entry(child.path, rel + name, size))
                        continue
                    mode = child.stat(follow_symlinks=False).st_mode
                except OSError as exc:
                    raise TreeHashError(f"{os.fsdecode(child.path)}: cannot read ({exc.strerror})") from exc
                raise TreeHashError(f"{os.fsdecode(child.path)}: {_kind(mode)}; only regular files and "
                                    "folders may be in a hashed tree")
    return entries


def count_bytes(roots: Mapping[str, str | os.PathLike]) -> int:
    """Total size of the files tree_hash would read (stat only), to size a progress bar."""
    return sum(e.size for e in _scan(roots, sizes=True))


def digest_of(lines: Iterable[bytes]) -> str:
    """The tree-v1 digest of manifest lines that are already sorted."""
    import hashlib

    h = hashlib.sha256(HEADER)
    for line in lines:
        h.update(line)
    return PREFIX + h.hexdigest()


def tree_hash(roots: Mapping[str, str | os.PathLike], *, workers: int | None = None,
              progress: Callable[[int], None] | None = None) -> TreeHash:
    """Hash labelled roots ``{label: folder}`` with tree-v1, reading files in parallel (forked readers or threads)."""
    def line(entry: _reader.Entry, hexdigest: str, size: int) -> tuple[bytes, bytes, int]:
        return entry.rel, b"%s %d %s\n" % (hexdigest.encode("ascii"), size, entry.rel), size

    with _reader.paused_gc():
        entries = _scan(roots)
        try:
            found = _reader.hash_entries(entries, line, workers=workers, progress=progress)
        except _reader.FileChanged as exc:
            raise TreeHashError(f"{os.fsdecode(exc.path)}: {exc.reason}; hash again once nothing is writing "
                                "to the folder") from None
        found.sort()  # by path: each path is there once, so the tuples never compare further
    lines = [item[1] for item in found]
    return TreeHash(digest=digest_of(lines), lines=lines, files=len(lines),
                    total_bytes=sum(item[2] for item in found))


def dataset_roots(data_path: str | os.PathLike, labels_path: str | os.PathLike | None) -> dict[str, str]:
    """``{data, labels}``, or ``{data}`` alone when labels are missing or the same folder (DESIGN.md)."""
    roots = {"data": os.fspath(data_path)}
    if labels_path is not None:
        try:
            same = os.path.samefile(data_path, labels_path)
        except OSError:
            same = False
        if not same:
            roots["labels"] = os.fspath(labels_path)
    return roots


def dataset_hashes(data_path: str | os.PathLike, labels_path: str | os.PathLike | None = None, *,
                   workers: int | None = None, progress: Callable[[int], None] | None = None) -> TreeHash:
    """tree-v1 of a dataset's data and labels: ``generated_uid`` (prepared) or ``input_data_hash`` (raw)."""
    return tree_hash(dataset_roots(data_path, labels_path), workers=workers, progress=progress)


def write_manifest(path: str | os.PathLike, th: TreeHash) -> None:
    """Save the manifest atomically: the header then the lines, so sha256(file) is the digest's hex."""
    from medperf_git.workspace.atomic import write_bytes

    write_bytes(path, HEADER + b"".join(th.lines))


def read_manifest(path: str | os.PathLike) -> list[bytes]:
    """The lines of a manifest written by write_manifest."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TreeHashError(f"{os.fsdecode(path)}: cannot read the manifest ({exc.strerror})") from exc
    if not data.startswith(HEADER):
        raise TreeHashError(f"{os.fsdecode(path)}: not a tree-v1 manifest")
    lines = data[len(HEADER):].splitlines(keepends=True)
    for number, line in enumerate(lines, start=2):
        parts = line.split(b" ", 2)
        if len(parts) != 3 or not line.endswith(b"\n") or len(parts[0]) != 64 or not parts[1].isdigit():
            raise TreeHashError(f"{os.fsdecode(path)}:{number}: not a manifest line")
    return lines


def _index(lines: Iterable[bytes]) -> dict[str, tuple[bytes, bytes]]:
    out = {}
    for line in lines:
        digest, size, rel = line.rstrip(b"\n").split(b" ", 2)
        out[rel.decode("utf-8", "surrogateescape")] = (digest, size)
    return out


def diff_manifests(old: Iterable[bytes], new: Iterable[bytes]) -> ManifestDiff:
    """Which ``label/path`` entries were added, removed or changed between two manifests."""
    before, after = _index(old), _index(new)
    return ManifestDiff(
        added=sorted(p for p in after if p not in before),
        removed=sorted(p for p in before if p not in after),
        changed=sorted(p for p in after if p in before and after[p] != before[p]),
    )
