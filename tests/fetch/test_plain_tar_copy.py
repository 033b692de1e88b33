"""An uncompressed tar (what `dataset export` writes) is extracted by offset, in the kernel: the same files,
the same refusals and the same caps as any other archive."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from medperf_git.errors import UnsafeArchive
from medperf_git.runners.archives import safe_extract
from medperf_git.workspace.config import ArchiveLimits


def _tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))


def test_members_are_copied_exactly(tmp_path):
    members = {"dataset/data/a.npy": os.urandom(3 << 20), "dataset/labels/b.npy": b"", "run.sh": b"echo hi\n",
               "dataset/data/big.npy": os.urandom((64 << 20) + 7)}
    _tar(tmp_path / "plain.tar", members)
    safe_extract(tmp_path / "plain.tar", tmp_path / "out")
    for name, data in members.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert os.stat(tmp_path / "out" / "run.sh").st_mode & 0o111


def test_the_caps_hold_for_a_plain_tar(tmp_path):
    _tar(tmp_path / "plain.tar", {f"f{i}": b"x" * 1000 for i in range(5)})
    with pytest.raises(UnsafeArchive, match="cap on the extracted size"):
        safe_extract(tmp_path / "plain.tar", tmp_path / "out", ArchiveLimits(max_bytes=4500))
    assert not (tmp_path / "out").exists()
    with pytest.raises(UnsafeArchive, match="cap on the number of files"):
        safe_extract(tmp_path / "plain.tar", tmp_path / "out", ArchiveLimits(max_files=3))


def test_a_cut_tar_is_refused(tmp_path):
    _tar(tmp_path / "plain.tar", {"a": os.urandom(1 << 20)})
    data = (tmp_path / "plain.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[: 512 + (1 << 19)])
    with pytest.raises(UnsafeArchive):
        safe_extract(tmp_path / "cut.tar", tmp_path / "out")
    assert not (tmp_path / "out").exists()
