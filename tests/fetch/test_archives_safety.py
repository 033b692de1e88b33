"""Archives: every unsafe member is refused by name, and make_archive gives the same bytes every time."""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from medperf_git.errors import UnsafeArchive
from medperf_git.hashing import tree_hash
from medperf_git.runners.archives import make_archive, safe_extract

pytestmark = pytest.mark.unprivileged  # also run as a user who owns nothing here


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for m in members:
            if isinstance(m, tuple):
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
            else:
                tar.addfile(m)
    return path


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.devmajor, info.devminor = 1, 3
    return info


def test_plain_tarball_is_extracted(tmp_path):
    dirinfo = special("./weights", tarfile.DIRTYPE)
    archive = make_tar(tmp_path / "a.tar.gz", [dirinfo, ("weights/w.npy", b"123"), ("./README", b"hi")])
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "weights" / "w.npy").read_bytes() == b"123"
    assert (tmp_path / "out" / "README").read_bytes() == b"hi"


@pytest.mark.parametrize("member, why", [
    (("/etc/evil", b"x"), "is an absolute path"),
    (("../evil", b"x"), "has a '..' component"),
    (("a/../../evil", b"x"), "has a '..' component"),
    (special("link", tarfile.SYMTYPE, "/etc/passwd"), "is a symbolic link"),
    (special("rel-link", tarfile.SYMTYPE, "inside.txt"), "is a symbolic link"),
    (special("hard", tarfile.LNKTYPE, "inside.txt"), "is a hard link"),
    (special("null", tarfile.CHRTYPE), "is a device"),
    (special("disk", tarfile.BLKTYPE), "is a device"),
    (special("pipe", tarfile.FIFOTYPE), "is a FIFO"),
    (("back\\slash", b"x"), "backslash"),
])
def test_unsafe_tar_members_are_refused(tmp_path, member, why):
    archive = make_tar(tmp_path / "bad.tar.gz", [("inside.txt", b"ok"), member])
    name = member[0] if isinstance(member, tuple) else member.name
    with pytest.raises(UnsafeArchive, match="member " + re.escape(repr(name)) + ".* " + why):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-extracted
    assert not (tmp_path / "evil").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.tar.gz"]  # no staging folder left behind


def test_existing_destination_is_kept_when_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("old")
    archive = make_tar(tmp_path / "bad.tar", [("../x", b"x")], mode="w")
    with pytest.raises(UnsafeArchive):
        safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "keep").read_text() == "old"


def test_permissions_are_normalised(tmp_path):
    suid = tarfile.TarInfo("bin/tool")
    suid.size, suid.mode = 2, 0o6777
    world = tarfile.TarInfo("data.txt")
    world.size, world.mode = 2, 0o666
    with tarfile.open(tmp_path / "p.tar", "w") as tar:
        tar.addfile(suid, io.BytesIO(b"#!"))
        tar.addfile(world, io.BytesIO(b"hi"))
    safe_extract(tmp_path / "p.tar", tmp_path / "out")
    assert stat.S_IMODE(os.stat(tmp_path / "out" / "bin" / "tool").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "out" / "data.txt").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "out" / "bin").st_mode) == 0o755


def test_zip_is_extracted_and_checked(tmp_path):
    with zipfile.ZipFile(tmp_path / "ok.zip", "w") as zf:
        zf.writestr("dir/a.txt", "a")
    safe_extract(tmp_path / "ok.zip", tmp_path / "out")
    assert (tmp_path / "out" / "dir" / "a.txt").read_text() == "a"

    with zipfile.ZipFile(tmp_path / "up.zip", "w") as zf:
        zf.writestr("../evil", "x")
    with pytest.raises(UnsafeArchive, match=r"member '../evil' has a '..' component"):
        safe_extract(tmp_path / "up.zip", tmp_path / "out2")

    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as zf:
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(UnsafeArchive, match="member 'link' is a symbolic link"):
        safe_extract(tmp_path / "link.zip", tmp_path / "out3")
    assert not (tmp_path / "out2").exists() and not (tmp_path / "out3").exists()


def test_not_an_archive(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"definitely not")
    with pytest.raises(UnsafeArchive, match="not a tar or zip archive"):
        safe_extract(tmp_path / "x.tar.gz", tmp_path / "out")


def test_truncated_archive(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", [("big.bin", os.urandom(200_000))])
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnsafeArchive, match="cannot be extracted"):
        safe_extract(archive, tmp_path / "out")


def populate(root: Path, stamp: float, file_mode: int) -> None:
    (root / "project" / "empty").mkdir(parents=True)
    (root / "project" / "mlcube.py").write_text("print('hi')\n")
    (root / "project" / "run.sh").write_text("#!/bin/sh\n")
    (root / "project" / "é.txt").write_text("accent\n")
    (root / "requirements.txt").write_text("numpy==1.26.4\n")
    os.chmod(root / "project" / "run.sh", 0o775)
    os.chmod(root / "project" / "mlcube.py", file_mode)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.utime(os.path.join(folder, name), (stamp, stamp))


def test_make_archive_is_deterministic(tmp_path):
    populate(tmp_path / "one", 1_000_000, 0o600)
    populate(tmp_path / "two", time.time(), 0o644)
    first = make_archive(tmp_path / "one", tmp_path / "one.tar.gz")
    second = make_archive(tmp_path / "two", tmp_path / "two.tar.gz")
    assert first == second
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    assert first == "sha256:" + hashlib.sha256((tmp_path / "one.tar.gz").read_bytes()).hexdigest()
    raw = (tmp_path / "one.tar.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0" and raw[3] & 0x08 == 0  # gzip: no mtime, no file name


def test_make_archive_headers(tmp_path):
    populate(tmp_path / "src", 1_234_567, 0o644)
    make_archive(tmp_path / "src", tmp_path / "s.tar.gz", prefix="chestxray-prep")
    with tarfile.open(tmp_path / "s.tar.gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == ["chestxray-prep"] + [f"chestxray-prep/{n}" for n in (
        "project", "project/empty", "project/mlcube.py", "project/run.sh", "project/é.txt", "requirements.txt")]
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
        assert m.mode == (0o755 if m.isdir() or m.name.endswith("run.sh") else 0o644)


def test_round_trip_keeps_the_tree_hash(tmp_path):
    populate(tmp_path / "src", 1_000_000, 0o644)
    make_archive(tmp_path / "src", tmp_path / "s.tar.gz")
    safe_extract(tmp_path / "s.tar.gz", tmp_path / "out")
    assert tree_hash({"s": tmp_path / "out"}).digest == tree_hash({"s": tmp_path / "src"}).digest
    assert (tmp_path / "out" / "project" / "empty").is_dir()


def test_make_archive_refuses_links(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "link").symlink_to("/etc/passwd")
    with pytest.raises(UnsafeArchive, match="link: not a regular file or folder"):
        make_archive(tmp_path / "src", tmp_path / "s.tar.gz")
    assert not (tmp_path / "s.tar.gz").exists()
