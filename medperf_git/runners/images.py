"""Image archives (``docker save`` / ``podman save``: docker-archive or OCI layout) unpacked without an engine.

The sandbox runs an archived image's own filesystem under bubblewrap, as Apptainer runs a SIF: the real
image, no daemon. An archive comes from a stranger, so nothing in it is trusted: the archive is checked
by its sha256 before it is opened, every blob it names is checked against its digest, each layer's
uncompressed bytes against the config's ``diff_ids``, and the config against the image id. Layers are
applied in order with their whiteouts into a staging folder: no member may leave it (absolute names,
``..``, or a path through a symbolic link are refused), links are made but never followed, no setuid
bit survives, devices are skipped, and what is written counts against the archive caps of
``archives.Budget``. The result is cached by the archive's sha256 and appears only once complete.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import stat
import tarfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from medperf_git.errors import ContainerConfigInvalid, ContainerFailed, HashMismatch, UnsafeArchive
from medperf_git.runners.archives import CHUNK, Budget, safe_name
from medperf_git.runners.dockerfile import ImageConfig
from medperf_git.workspace.config import ArchiveLimits

if TYPE_CHECKING:
    from medperf_git.runners.base import ResolvedContainer

MAX_JSON = 16 << 20  # a manifest, index or config larger than this is not an image's
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json")
INFO = "image.json"


@dataclass(frozen=True)
class UnpackedImage:
    rootfs: Path
    config: ImageConfig
    image_id: str  # sha256 of the image's config: what ``docker images`` calls its id
    reference: str | None  # the first tag the archive names, if any
    archive_digest: str


class _HashingReader:
    """A read-only stream that hashes what passes, and counts it against a budget."""

    def __init__(self, raw: IO[bytes], budget: Budget | None = None):
        self.raw, self.budget, self.sha = raw, budget, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        if self.budget is not None:
            self.budget.count(len(data))
        return data

    def drain(self) -> str:
        while self.read(CHUNK):
            pass
        return "sha256:" + self.sha.hexdigest()


class _Archive:
    """The outer archive's members by name; they are read in place, never extracted as they are."""

    def __init__(self, path: Path, tar: tarfile.TarFile):
        self.path = path
        self.tar = tar
        self.members: dict[str, tarfile.TarInfo] = {}
        for member in self.tar.getmembers():
            name = safe_name(path, member.name)
            if member.isreg():
                self.members[name] = member

    def has(self, name: str) -> bool:
        return safe_name(self.path, name) in self.members

    def open(self, name: str) -> IO[bytes]:
        member = self.members.get(safe_name(self.path, name))
        handle = self.tar.extractfile(member) if member is not None else None
        if handle is None:
            raise UnsafeArchive(f"{self.path}: names {name!r}, which it does not hold",
                                hint="save the image again (docker save or podman save)")
        return handle

    def json(self, name: str, digest: str | None = None) -> tuple[Any, str]:
        """The parsed member and its sha256, checked against ``digest`` when the format names one."""
        member = self.members.get(safe_name(self.path, name))
        if member is not None and member.size > MAX_JSON:
            raise UnsafeArchive(f"{self.path}: {name} is {member.size} bytes, too large for an image's metadata")
        data = self.open(name).read(MAX_JSON + 1)
        found = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest is not None and found != digest:
            raise HashMismatch(f"{name} in the image archive {self.path}", digest, found,
                               hint="the archive is damaged or was altered; get it again from its publisher")
        try:
            return json.loads(data), found
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UnsafeArchive(f"{self.path}: {name} is not valid JSON ({exc})") from exc


def _blob(digest: Any, where: str, archive: Path) -> str:
    if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71:
        raise UnsafeArchive(f"{archive}: {where} names the digest {digest!r}; only sha256 digests are accepted")
    int(digest[7:], 16)
    return f"blobs/sha256/{digest[7:]}"


@dataclass
class _Layout:
    config_name: str
    config_digest: str | None  # checked when the format names it
    layers: list[tuple[str, str | None]]  # (member, digest of its stored bytes, if named)
    reference: str | None


def _name_digest(name: str) -> str | None:
    """``blobs/sha256/<hex>`` or ``<hex>.json``/``<hex>.tar`` (podman's docker-archive) name their digest."""
    stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
    if len(stem) == 64 and all(c in "0123456789abcdef" for c in stem):
        return f"sha256:{stem}"
    return None


def _docker_layout(archive: _Archive) -> _Layout:
    manifest, _ = archive.json("manifest.json")
    if not isinstance(manifest, list) or not manifest or not isinstance(manifest[0], dict):
        raise UnsafeArchive(f"{archive.path}: manifest.json names no image")
    first = manifest[0]
    config, layers = first.get("Config"), first.get("Layers")
    if not isinstance(config, str) or not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
        raise UnsafeArchive(f"{archive.path}: manifest.json does not name a config and layers")
    tags = first.get("RepoTags") or []
    return _Layout(config, _name_digest(config), [(x, _name_digest(x)) for x in layers],
                   str(tags[0]) if tags else None)


def _pick(manifests: Any, archive: Path) -> dict[str, Any]:
    """The linux/amd64 entry of an index (or its only one)."""
    if not isinstance(manifests, list) or not manifests:
        raise UnsafeArchive(f"{archive}: index.json names no image")
    for entry in manifests:
        if not isinstance(entry, dict):
            continue
        platform = entry.get("platform") or {}
        if platform.get("os", "linux") == "linux" and platform.get("architecture", "amd64") == "amd64":
            return entry
    raise UnsafeArchive(f"{archive}: the archive holds no linux/amd64 image")


def _oci_layout(archive: _Archive) -> _Layout:
    index, _ = archive.json("index.json")
    entry = _pick(index.get("manifests") if isinstance(index, dict) else None, archive.path)
    for _ in range(4):  # an index may point at another index, never deeper in practice
        digest = entry.get("digest")
        manifest, _ = archive.json(_blob(digest, "index.json", archive.path), digest)
        if not isinstance(manifest, dict):
            raise UnsafeArchive(f"{archive.path}: the manifest {digest} is not a mapping")
        if manifest.get("mediaType") in _INDEX_TYPES or "manifests" in manifest:
            entry = _pick(manifest.get("manifests"), archive.path)
            continue
        config = manifest.get("config") or {}
        layers = manifest.get("layers")
        if not isinstance(layers, list):
            raise UnsafeArchive(f"{archive.path}: the image manifest {digest} lists no layers")
        for layer in layers:
            if "zstd" in str(layer.get("mediaType", "")):
                raise UnsafeArchive(f"{archive.path}: layer {layer.get('digest')} is zstd-compressed, which the "
                                    "sandbox cannot unpack", hint="save the image with gzip or uncompressed layers "
                                                                  "(podman save --format docker-archive)")
        annotations = entry.get("annotations") or {}
        reference = annotations.get("io.containerd.image.name") or annotations.get("org.opencontainers.image.ref.name")
        return _Layout(_blob(config.get("digest"), "the manifest's config", archive.path), config.get("digest"),
                       [(_blob(x.get("digest"), "a layer", archive.path), x.get("digest")) for x in layers],
                       reference)
    raise UnsafeArchive(f"{archive.path}: index.json nests indexes too deeply")


def read_layout(archive: _Archive) -> _Layout:
    if archive.has("manifest.json"):
        return _docker_layout(archive)
    if archive.has("index.json"):
        return _oci_layout(archive)
    raise UnsafeArchive(f"{archive.path}: not an image archive (it has neither manifest.json nor index.json)",
                        hint="make one with `docker save IMAGE -o FILE` or `podman save --format oci-archive`")


class _LayerWriter:
    """Applies one layer's members to the root folder, refusing anything that would leave it."""

    def __init__(self, archive: Path, root: Path, budget: Budget):
        self.archive, self.root, self.budget = archive, root, budget
        self.added: set[str] = set()  # what this layer made: its whiteouts apply to lower layers only
        self.skipped = 0

    def _refuse(self, name: str, why: str) -> UnsafeArchive:
        return UnsafeArchive(f"{self.archive}: layer member {name!r} {why}; refused, nothing was kept",
                             hint="only use image archives from publishers you trust, checked by their sha256")

    def _parent(self, name: str, rel: str) -> Path:
        """The member's folder, made if missing; every step must be a real folder, never a link."""
        folder = self.root
        for part in rel.split("/")[:-1]:
            folder = folder / part
            try:
                mode = os.lstat(folder).st_mode
            except FileNotFoundError:
                os.mkdir(folder, 0o755)
                continue
            if stat.S_ISLNK(mode):
                raise self._refuse(name, f"goes through the symbolic link {folder.relative_to(self.root)}")
            if not stat.S_ISDIR(mode):
                raise self._refuse(name, f"goes through {folder.relative_to(self.root)}, which is not a folder")
        return folder

    def _link_source(self, name: str, linkname: str) -> Path:
        """A hard link's source: a file the image already has, reached through real folders only."""
        rel = safe_name(self.archive, linkname)
        path = self.root
        for part in rel.split("/") if rel else []:
            path = path / part
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                mode = 0
            if stat.S_ISLNK(mode) or not mode or (path != self.root / rel and not stat.S_ISDIR(mode)):
                break
        else:
            if rel and stat.S_ISREG(mode):
                return path
        raise self._refuse(name, f"is a hard link to {linkname!r}, which is not a file of the image")

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISDIR(mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)

    def _whiteout(self, name: str, rel: str, parent: Path) -> None:
        base = rel.rsplit("/", 1)[-1]
        prefix = rel[: len(rel) - len(base)]
        if base == OPAQUE:
            for child in os.listdir(parent):
                if prefix + child not in self.added:
                    self._remove(parent / child)
            return
        hidden = base[len(WHITEOUT):]
        if not hidden or hidden in (".", ".."):
            raise self._refuse(name, "is a whiteout naming nothing")
        if prefix + hidden not in self.added:
            self._remove(parent / hidden)

    def apply(self, member: tarfile.TarInfo, data: IO[bytes] | None) -> None:
        name = member.name
        rel = safe_name(self.archive, name)
        if not rel:
            return  # the layer's root folder itself
        self.budget.entry()
        parent = self._parent(name, rel)
        target = parent / rel.rsplit("/", 1)[-1]
        if target.name.startswith(WHITEOUT):
            self._whiteout(name, rel, parent)
            return
        mode = member.mode & 0o777  # no setuid, setgid or sticky bit from a stranger
        if member.isdir():
            if os.path.lexists(target) and not stat.S_ISDIR(os.lstat(target).st_mode):
                self._remove(target)
            if not os.path.lexists(target):
                os.mkdir(target)
            os.chmod(target, mode | 0o700)  # the owner (us) must be able to apply later layers
        elif member.isreg():
            self._remove(target)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
            with os.fdopen(os.open(target, flags, 0o600), "wb") as out:
                while data is not None and (chunk := data.read(CHUNK)):
                    out.write(chunk)
            os.chmod(target, mode | 0o400)
        elif member.issym():
            self._remove(target)
            os.symlink(member.linkname, target)  # read inside the sandbox, whose root is the image
        elif member.islnk():
            source = self._link_source(name, member.linkname)
            self._remove(target)
            os.link(source, target, follow_symlinks=False)
        else:
            self.skipped += 1  # devices and FIFOs: bubblewrap gives the task its own /dev
            return
        self.added.add(rel)


def _decompressed(stream: _HashingReader, archive: Path, name: str) -> IO[bytes]:
    """The layer's tar stream, gunzipped when it is gzip; zstd is refused by name."""
    head = stream.raw.peek(4)[:4] if hasattr(stream.raw, "peek") else b""
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        raise UnsafeArchive(f"{archive}: layer {name} is zstd-compressed, which the sandbox cannot unpack",
                            hint="save the image with gzip or uncompressed layers (podman save --format "
                                 "docker-archive)")
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[arg-type]
    return stream  # type: ignore[return-value]


class _Peekable:
    """Buffer one read so the compression can be told from the first bytes."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.buffer = b""

    def peek(self, n: int) -> bytes:
        while len(self.buffer) < n:
            more = self.raw.read(n - len(self.buffer))
            if not more:
                break
            self.buffer += more
        return self.buffer

    def read(self, n: int = -1) -> bytes:
        if self.buffer:
            data, self.buffer = (self.buffer, b"") if n < 0 or n >= len(self.buffer) else (
                self.buffer[:n], self.buffer[n:])
            return data
        return self.raw.read(n)


def _check_stored(archive: _Archive, name: str, expected: str | None, found: str) -> None:
    if expected is not None and found != expected:
        raise HashMismatch(f"layer {name} of the image archive {archive.path}", expected, found,
                           hint="the archive is damaged or was altered; get it again from its publisher")


def _apply_layer(archive: _Archive, name: str, stored_digest: str | None, diff_id: str, root: Path,
                 budget: Budget) -> int:
    stored = _HashingReader(_Peekable(archive.open(name)))  # type: ignore[arg-type]
    plain = _HashingReader(_decompressed(stored, archive.path, name), budget)
    writer = _LayerWriter(archive.path, root, budget)
    try:
        with tarfile.open(fileobj=plain, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                writer.apply(member, tar.extractfile(member) if member.isreg() else None)
        found_plain = plain.drain()
        found_stored = stored.drain()
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        # A blob that is not what its digest names is said so, whatever broke first while reading it.
        _check_stored(archive, name, stored_digest, stored.drain())
        raise UnsafeArchive(f"{archive.path}: layer {name} cannot be read: {exc}") from exc
    _check_stored(archive, name, stored_digest, found_stored)
    if found_plain != diff_id:
        raise HashMismatch(f"the contents of layer {name} of the image archive {archive.path}", diff_id, found_plain,
                           hint="the archive is damaged or was altered; get it again from its publisher")
    return writer.skipped


def unpack_image(path: Path, dest: Path, limits: ArchiveLimits | None = None,
                 expected_image_id: str | None = None) -> dict[str, Any]:
    """Verify and unpack the archive's image into ``dest/rootfs``; returns what ``image.json`` records.

    ``dest/rootfs`` only ever holds what the archive's digests vouch for: a layer that does not hash to
    its digest raises HashMismatch, and the caller's staging folder is then removed.
    """
    try:
        with tarfile.open(path, "r:*") as tar:
            return _unpack(_Archive(path, tar), dest, limits, expected_image_id)
    except (OSError, tarfile.TarError) as exc:
        raise UnsafeArchive(f"{path}: cannot be read as an image archive ({exc})") from exc


def _unpack(archive: _Archive, dest: Path, limits: ArchiveLimits | None,
            expected_image_id: str | None) -> dict[str, Any]:
    path = archive.path
    layout = read_layout(archive)
    config, image_id = archive.json(layout.config_name, layout.config_digest)
    if expected_image_id and image_id != expected_image_id:
        raise HashMismatch(f"the image in {path}", expected_image_id, image_id,
                           hint="the archive holds another image than the one pinned")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layout.layers):
        raise UnsafeArchive(f"{path}: the image config lists {len(diff_ids or [])} layer digests for "
                            f"{len(layout.layers)} layers")
    budget = Budget(path, limits)
    root = dest / "rootfs"
    root.mkdir(mode=0o755, parents=True)
    skipped = 0
    for (name, digest), diff_id in zip(layout.layers, diff_ids, strict=True):
        skipped += _apply_layer(archive, name, digest, str(diff_id), root, budget)
    settings = ImageConfig.from_image_config(config, f"the image config in {path}")
    return {"image_id": image_id, "reference": layout.reference, "config": asdict(settings),
            "skipped_special_files": skipped}


def unpacked_image(path: Path, archive_digest: str, cache_dir: Path, expected_image_id: str | None = None,
                   limits: ArchiveLimits | None = None) -> UnpackedImage:
    """The image in ``path`` (already checked against ``archive_digest``), unpacked once into the cache."""
    from medperf_git.workspace.atomic import file_lock, staged_dir, write_text

    key = archive_digest.split(":", 1)[-1]
    dest = Path(cache_dir) / "images" / key
    with file_lock(dest.parent / f".{key}.lock"):
        if not (dest / INFO).is_file():
            with staged_dir(dest) as tmp:
                info = unpack_image(path, tmp, limits, expected_image_id)
                write_text(tmp / INFO, json.dumps(info, indent=1, sort_keys=True))
    info = json.loads((dest / INFO).read_text(encoding="utf-8"))
    if expected_image_id and info["image_id"] != expected_image_id:
        raise HashMismatch(f"the image in {path}", expected_image_id, info["image_id"],
                           hint="the archive holds another image than the one pinned")
    settings = ImageConfig(**{k: v for k, v in info["config"].items()})
    return UnpackedImage(dest / "rootfs", settings, info["image_id"], info.get("reference"), archive_digest)


URL_SCHEMES = ("https://", "http://", "file://")


def image_archive(container: ResolvedContainer) -> str | None:
    """The image archive a container is pinned as (a URL or, for a local config, a path), if any."""
    reference = (container.image or {}).get("reference") or ""
    if reference.startswith(URL_SCHEMES) and not reference.endswith(".sif"):
        return reference
    if container.config.container_type == "DockerArchive" and reference:
        return reference
    return None


def locate_archive(container: ResolvedContainer, cache_dir: Path) -> tuple[Path, str]:
    """The archive file and its sha256: fetched and checked against the pin, or a local config's file."""
    from medperf_git.hashing import normalize_sha256, sha256_file
    from medperf_git.runners.fetch import fetch

    pin = container.image or {}
    reference, digest = pin["reference"], pin.get("digest")
    if reference.startswith(URL_SCHEMES):
        if not digest:
            raise ContainerFailed(f"the image archive {reference} has no sha256 pin to check it against")
        path = fetch(reference, normalize_sha256(digest), cache_dir / "downloads",
                     allow_file=container.allow_file_urls)
        return path, normalize_sha256(digest)
    folder = container.config.path.parent if container.config.path else (container.source_dir or Path.cwd())
    path = (folder / reference).absolute()
    if not path.is_file():
        raise ContainerConfigInvalid(f"{container.config.source}: image: the image archive {path} does not exist",
                                     hint="save it with `docker save IMAGE -o FILE` (or podman save) beside the config")
    found = sha256_file(path)
    if digest and found != normalize_sha256(digest):
        raise HashMismatch(f"the image archive {path}", normalize_sha256(digest), found)
    return path, found
