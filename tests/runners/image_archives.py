"""Image archives made by hand, in both formats, so that tests can put anything in them (attacks included).

``layer(...)`` makes one layer's tar from member specs; ``docker_archive`` and ``oci_archive`` wrap layers
with a config and a manifest whose digests are right unless a test asks otherwise.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(*members: tuple) -> bytes:
    """Members: ("file", name, data[, mode]), ("dir", name[, mode]), ("symlink", name, target),
    ("hardlink", name, target), ("char", name), ("fifo", name)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, *rest in members:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = rest[0]
                info.size = len(data)
                info.mode = rest[1] if len(rest) > 1 else 0o644
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = rest[0] if rest else 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, rest[0]
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, rest[0]
            elif kind == "char":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


@dataclass
class Image:
    layers: list[bytes]
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/bin:/bin", "GREETING=hi"])
    entrypoint: list[str] | None = field(default_factory=lambda: ["/bin/sh", "-c"])
    cmd: list[str] | None = field(default_factory=lambda: ["echo hi"])
    workdir: str = "/work"
    diff_ids: list[str] | None = None  # None: the right ones

    def config(self) -> bytes:
        diff_ids = self.diff_ids or [sha(_plain(x)) for x in self.layers]
        body = {"architecture": "amd64", "os": "linux",
                "config": {"Env": self.env, "Entrypoint": self.entrypoint, "Cmd": self.cmd,
                           "WorkingDir": self.workdir},
                "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        return json.dumps(body).encode()


def _plain(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _write_tar(path: Path, entries: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def docker_archive(path: Path, image: Image, *, tag: str = "localhost/handmade:1",
                   rename: dict[str, str] | None = None) -> Path:
    """``docker save``'s layout: manifest.json, <config sha>.json, <layer sha>.tar."""
    config = image.config()
    entries = {f"{sha(config)[7:]}.json": config}
    names = []
    for data in image.layers:
        name = f"{sha(data)[7:]}.tar"
        entries[name] = data
        names.append(name)
    manifest = [{"Config": f"{sha(config)[7:]}.json", "RepoTags": [tag], "Layers": names}]
    for old, new in (rename or {}).items():
        entries[new] = entries.pop(old)
    entries["manifest.json"] = json.dumps(manifest).encode()
    return _write_tar(path, entries)


def oci_archive(path: Path, image: Image, *, tamper_blob: str | None = None) -> Path:
    """An OCI layout: oci-layout, index.json, blobs/sha256/<digest> (layers as given, e.g. gzipped)."""
    config = image.config()
    layers = [{"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if x[:2] == b"\x1f\x8b" else ""),
               "digest": sha(x), "size": len(x)} for x in image.layers]
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(config), "size": len(config)},
                           "layers": layers}).encode()
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                 "digest": sha(manifest), "size": len(manifest)}]}
    entries = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": json.dumps(index).encode()}
    for blob in (config, manifest, *image.layers):
        entries[f"blobs/sha256/{sha(blob)[7:]}"] = blob
    if tamper_blob is not None:
        key = f"blobs/sha256/{tamper_blob[7:]}"
        entries[key] = entries[key] + b"\n"
    return _write_tar(path, entries)
