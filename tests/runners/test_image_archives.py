"""Image archives unpacked without an engine: both formats, whiteouts, and every way out of the folder refused."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile

import pytest
from image_archives import Image, docker_archive, layer, oci_archive, sha

from medperf_git.errors import HashMismatch, UnsafeArchive
from medperf_git.runners.images import unpack_image, unpacked_image
from medperf_git.workspace.config import ArchiveLimits

pytestmark = pytest.mark.unprivileged

BASE = layer(("dir", "etc"), ("file", "etc/keep", b"keep\n"), ("file", "etc/gone", b"gone\n"),
             ("dir", "opt"), ("file", "opt/old", b"old\n"), ("dir", "usr"), ("dir", "usr/bin"),
             ("file", "usr/bin/tool", b"#!/bin/sh\n", 0o4755), ("symlink", "bin", "usr/bin"),
             ("hardlink", "usr/bin/tool2", "usr/bin/tool"), ("char", "dev-null"), ("fifo", "pipe"))
TOP = layer(("file", "etc/.wh.gone", b""), ("dir", "opt"), ("file", "opt/.wh..wh..opq", b""),
            ("file", "opt/new", b"new\n"), ("file", "etc/added", b"added\n"))


def _make(fmt: str, tmp_path, image: Image, **kwargs):
    make = docker_archive if fmt == "docker" else oci_archive
    return make(tmp_path / f"{fmt}.tar", image, **kwargs)


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_both_formats_unpack_with_whiteouts_links_and_settings(fmt, tmp_path):
    layers = [BASE, gzip.compress(TOP)] if fmt == "oci" else [BASE, TOP]
    archive = _make(fmt, tmp_path, Image(layers))
    image = unpacked_image(archive, sha(archive.read_bytes()), tmp_path / "cache")
    root = image.rootfs
    assert (root / "etc/keep").read_bytes() == b"keep\n" and (root / "etc/added").read_bytes() == b"added\n"
    assert not (root / "etc/gone").exists()  # a whiteout
    assert sorted(os.listdir(root / "opt")) == ["new"]  # an opaque folder hides the lower layer's files
    assert os.readlink(root / "bin") == "usr/bin"  # links are made as they are, to be read inside the sandbox
    assert os.stat(root / "usr/bin/tool").st_ino == os.stat(root / "usr/bin/tool2").st_ino
    assert not os.stat(root / "usr/bin/tool").st_mode & stat.S_ISUID  # no setuid from a stranger
    assert not os.path.lexists(root / "dev-null") and not os.path.lexists(root / "pipe")  # devices skipped
    assert image.config.entrypoint == ["/bin/sh", "-c"] and image.config.cmd == ["echo hi"]
    assert image.config.env == {"PATH": "/usr/bin:/bin", "GREETING": "hi"} and image.config.workdir == "/work"
    assert image.image_id == sha(Image(layers).config())
    # Unpacked once: a second call uses the cache, even with the archive gone.
    archive.unlink()
    assert unpacked_image(archive, image.archive_digest, tmp_path / "cache").rootfs == root


ESCAPES = {
    "dotdot": [layer(("file", "../escaped", b"x"))],
    "absolute": [layer(("file", "/tmp/escaped-absolute", b"x"))],
    "symlink-then-write": [layer(("symlink", "evil", "/tmp")), layer(("file", "evil/escaped", b"x"))],
    "symlink-same-layer": [layer(("symlink", "evil", "../../.."), ("file", "evil/escaped", b"x"))],
    "relative-symlink-folder": [layer(("dir", "a"), ("symlink", "a/up", "../../..")),
                                layer(("file", "a/up/escaped", b"x"))],
    "hardlink-outside": [layer(("hardlink", "stolen", "../../../etc/hostname"))],
    "hardlink-absolute": [layer(("hardlink", "stolen", "/etc/hostname"))],
    "hardlink-through-symlink": [layer(("symlink", "hostetc", "/etc"), ("hardlink", "stolen", "hostetc/hostname"))],
    "whiteout-dotdot": [layer(("dir", "a")), layer(("file", "a/.wh...", b""))],
    "whiteout-through-symlink": [layer(("symlink", "evil", "/tmp")), layer(("file", "evil/.wh.victim", b""))],
}


@pytest.mark.parametrize("fmt", ["docker", "oci"])
@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_nothing_leaves_the_unpack_folder(fmt, case, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("still here\n")
    archive = _make(fmt, tmp_path, Image(ESCAPES[case]))
    with pytest.raises(UnsafeArchive, match="refused") as caught:
        unpacked_image(archive, sha(archive.read_bytes()), tmp_path / "cache")
    assert str(archive) in caught.value.message
    assert victim.read_text() == "still here\n"
    assert not os.path.lexists("/tmp/escaped") and not os.path.lexists("/tmp/escaped-absolute")
    assert not os.path.lexists(tmp_path / "escaped") and not os.path.lexists(tmp_path.parent / "escaped")
    images = tmp_path / "cache" / "images"
    assert not [p for p in images.iterdir() if not p.name.endswith(".lock")]  # nothing half-unpacked is kept


def test_a_layer_that_is_a_bomb_stops_at_the_cap(tmp_path):
    """128 MiB of zeros gzip to ~130 KiB: the compression-ratio cap stops it as it is written."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = 128 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    bomb = gzip.compress(buffer.getvalue(), compresslevel=9)
    archive = oci_archive(tmp_path / "bomb.tar", Image([bomb]))
    assert archive.stat().st_size < 1 << 20
    with pytest.raises(UnsafeArchive, match="compression ratio"):
        unpacked_image(archive, sha(archive.read_bytes()), tmp_path / "cache")
    assert not list((tmp_path / "cache" / "images").glob("*/rootfs"))


def test_too_many_entries_stop_at_the_cap(tmp_path):
    archive = docker_archive(tmp_path / "many.tar", Image([layer(*[("file", f"f{i}", b"") for i in range(50)])]))
    with pytest.raises(UnsafeArchive, match="number of files"):
        unpacked_image(archive, sha(archive.read_bytes()), tmp_path / "cache", limits=ArchiveLimits(max_files=20))


def test_every_digest_is_checked(tmp_path):
    good = layer(("file", "a", b"a"))
    # A layer whose contents are not what the config's diff_ids say.
    archive = docker_archive(tmp_path / "d.tar", Image([good], diff_ids=[sha(b"something else")]))
    with pytest.raises(HashMismatch, match="contents of layer"):
        unpack_image(archive, tmp_path / "out1")
    # A docker-archive member named by a digest it does not have.
    renamed = docker_archive(tmp_path / "r.tar", Image([good]), rename={f"{sha(good)[7:]}.tar": "0" * 64 + ".tar"})
    with pytest.raises((HashMismatch, UnsafeArchive)):
        unpack_image(renamed, tmp_path / "out2")
    # An OCI blob altered after its manifest was written: the layer, then the manifest itself.
    image = Image([gzip.compress(good)])
    with pytest.raises(HashMismatch, match="layer"):
        unpack_image(oci_archive(tmp_path / "o1.tar", image, tamper_blob=sha(image.layers[0])), tmp_path / "out3")
    with pytest.raises(HashMismatch):
        unpack_image(oci_archive(tmp_path / "o2.tar", image, tamper_blob=sha(image.config())), tmp_path / "out4")
    # The image id a record pins.
    fine = oci_archive(tmp_path / "o3.tar", image)
    with pytest.raises(HashMismatch, match="the image in") as caught:
        unpacked_image(fine, sha(fine.read_bytes()), tmp_path / "cache", expected_image_id=sha(b"other"))
    assert "another image" in caught.value.hint


def test_archives_that_are_not_images_are_named(tmp_path):
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        info = tarfile.TarInfo("README")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(UnsafeArchive, match="not an image archive"):
        unpack_image(plain, tmp_path / "o1")
    outer = tmp_path / "outer.tar"
    with tarfile.open(outer, "w") as tar:
        info = tarfile.TarInfo("../manifest.json")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(UnsafeArchive, match=r"'\.\.'"):
        unpack_image(outer, tmp_path / "o2")
    zstd = Image([b"\x28\xb5\x2f\xfd" + bytes(32)], diff_ids=[sha(b"x")])
    with pytest.raises(UnsafeArchive, match="zstd"):
        unpack_image(docker_archive(tmp_path / "z.tar", zstd), tmp_path / "o3")
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(UnsafeArchive, match="cannot be read"):
        unpack_image(garbage, tmp_path / "o4")
