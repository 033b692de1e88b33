"""A hostile archive must not fill the disk: extraction stops at caps on size, entries and compression ratio.

The archives are real and built here: a ~2 MB zip that inflates to 2 GiB, a tar whose header says its member
is 512 bytes while it unpacks to 3 GiB, a tar of many empty files. The caps count what is really written
(``/proc/self/io`` shows how much was), and a refused archive leaves nothing behind.
"""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import pytest
import yaml

from medperf_git.errors import UnsafeArchive
from medperf_git.runners.archives import safe_extract

pytestmark = pytest.mark.unprivileged

MIB = 1 << 20


def _written() -> int | None:
    """Bytes this process has written so far (Linux), to show a bomb stopped early."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("wchar:")))


def zip_of_zeros(path: Path, size: int, name: str = "weights.bin") -> Path:
    """A valid zip holding one deflated file of ``size`` zero bytes, in ~size/1000 bytes, built in a second.

    After a full flush deflate forgets its window, so the compressed form of one MiB of zeros can be
    repeated: the archive is made without compressing gigabytes.
    """
    assert size % MIB == 0
    chunk = bytes(MIB)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = squeeze.compress(chunk) + squeeze.flush(zlib.Z_FULL_FLUSH)
    data = segment * (size // MIB) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # final empty block
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(chunk, crc)
    raw = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 33, crc, len(data), size, len(raw), 0) + raw
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, 0, 8, 0, 33, crc, len(data), size,
                          len(raw), 0, 0, 0, 0, 0o100644 << 16, 0) + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)
    return path


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def tar_with_sparse_member(path: Path, realsize: int, name: str = "weights.bin") -> Path:
    """A gzip'd tar whose one member's header says 512 bytes are stored, and that unpacks to ``realsize``.

    An old GNU sparse member: the stored data is one block, the rest of the file is declared a hole. Python's
    tarfile cannot write one, so the 512-byte header is written here by hand.
    """
    stored = b"x" * 512
    header = bytearray(512)
    header[0:len(name)] = name.encode()
    header[100:108], header[108:116], header[116:124] = _octal(0o644, 8), _octal(0, 8), _octal(0, 8)
    header[124:136], header[136:148] = _octal(len(stored), 12), _octal(0, 12)  # size: what is stored
    header[156:157] = b"S"  # GNU sparse
    header[257:265] = b"ustar  \0"
    header[386:398], header[398:410] = _octal(0, 12), _octal(len(stored), 12)  # one data run at offset 0
    header[483:495] = _octal(realsize, 12)  # the size it unpacks to
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    path.write_bytes(gzip.compress(bytes(header) + stored + bytes(1024)))
    return path


def tar_of_zeros(path: Path, size: int) -> Path:
    """A tar.gz of one file of ``size`` zero bytes (ratio above 200 at gzip's fastest level)."""

    class Zeros(io.RawIOBase):
        def __init__(self, left: int) -> None:
            self.left = left

        def readinto(self, buffer) -> int:
            n = min(len(buffer), self.left)
            buffer[:n] = bytes(n)
            self.left -= n
            return n

    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        tar.addfile(info, Zeros(size))
    return path


def _refused(archive: Path, dest: Path, what: str, env: str) -> UnsafeArchive:
    with pytest.raises(UnsafeArchive) as caught:
        safe_extract(archive, dest)
    error = caught.value
    assert str(archive) in error.message and f"the cap on {what}" in error.message, error.message
    assert "nothing was kept" in error.message
    assert env in error.hint and "config.yaml" in error.hint, error.hint
    assert not dest.exists()
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.")]  # no staging left
    return error


def test_a_zip_bomb_is_refused_before_it_fills_the_disk(tmp_path):
    bomb = zip_of_zeros(tmp_path / "model.zip", 2048 * MIB)
    assert bomb.stat().st_size < 3 * MIB
    before, start = _written(), time.monotonic()
    error = _refused(bomb, tmp_path / "out", "the compression ratio", "MEDPERF_GIT_MAX_EXTRACT_RATIO")
    assert "100x" in error.message
    assert time.monotonic() - start < 60
    if before is not None:
        assert _written() - before < 512 * MIB  # stopped at ~200 MB (100 times the archive), not 2 GiB


def test_a_tar_whose_header_understates_its_size_stops_at_the_cap(tmp_path):
    """The header's size field says 512 bytes; the member unpacks to 3 GiB of zeros."""
    archive = tar_with_sparse_member(tmp_path / "model.tar.gz", 3 << 30)
    assert archive.stat().st_size < 1024
    with tarfile.open(archive) as tar:
        assert tar.getmembers()[0].size == 3 << 30  # what tarfile will write, whatever the size field said
    before = _written()
    _refused(archive, tmp_path / "out", "the compression ratio", "MEDPERF_GIT_MAX_EXTRACT_RATIO")
    if before is not None:
        assert _written() - before < 128 * MIB  # the ratio cap starts at 64 MiB written


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_too_many_files_are_refused(kind, tmp_path, monkeypatch):
    archive = tmp_path / f"many.{'tar.gz' if kind == 'tar' else 'zip'}"
    if kind == "tar":
        with tarfile.open(archive, "w:gz") as tar:
            for i in range(3000):
                tar.addfile(tarfile.TarInfo(f"cases/{i:05d}.txt"), io.BytesIO(b""))
    else:
        with zipfile.ZipFile(archive, "w") as zf:
            for i in range(3000):
                zf.writestr(f"cases/{i:05d}.txt", b"")
    monkeypatch.setenv("MEDPERF_GIT_MAX_EXTRACT_FILES", "1000")
    error = _refused(archive, tmp_path / "out", "the number of files and folders",
                     "MEDPERF_GIT_MAX_EXTRACT_FILES")
    assert "1,000" in error.message


def test_the_caps_can_be_raised_by_the_setting(tmp_path, monkeypatch, isolated_home):
    archive = tar_of_zeros(tmp_path / "weights.tar.gz", 100 * MIB)  # ratio ~230, past the 64 MiB floor
    _refused(archive, tmp_path / "out", "the compression ratio", "MEDPERF_GIT_MAX_EXTRACT_RATIO")

    monkeypatch.setenv("MEDPERF_GIT_MAX_EXTRACT_RATIO", "1000")
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "zeros.bin").stat().st_size == 100 * MIB
    monkeypatch.delenv("MEDPERF_GIT_MAX_EXTRACT_RATIO")

    config = isolated_home / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({"active_profile": "default", "profiles": {},
                                      "archive_limits": {"max_ratio": 1000, "max_bytes": "50MiB"}}))
    error = _refused(archive, tmp_path / "again", "the extracted size", "MEDPERF_GIT_MAX_EXTRACT_BYTES")
    assert "50 MiB" in error.message and str(config) in error.hint
    monkeypatch.setenv("MEDPERF_GIT_MAX_EXTRACT_BYTES", "1GiB")  # the environment wins over the file
    safe_extract(archive, tmp_path / "again")
    assert (tmp_path / "again" / "zeros.bin").stat().st_size == 100 * MIB
