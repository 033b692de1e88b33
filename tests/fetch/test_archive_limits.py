"""Archive caps: where they come from, what a bad setting says, and what stays allowed."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest
import yaml

from medperf_git.errors import ConfigError, UnsafeArchive
from medperf_git.runners.archives import safe_extract
from medperf_git.workspace.config import ArchiveLimits, Config, parse_limit

pytestmark = pytest.mark.unprivileged

MIB = 1 << 20


def test_the_defaults_leave_room_for_model_weights():
    limits = ArchiveLimits()
    assert limits.max_bytes == 32 << 30 and limits.max_files == 100_000 and limits.max_ratio == 100
    assert ArchiveLimits.RATIO_FLOOR == 64 * MIB


def test_small_archives_of_zeros_are_fine(tmp_path):
    """Below the ratio floor an archive may compress as well as it likes (here about 1000 to 1)."""
    with tarfile.open(tmp_path / "mask.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("mask.nii")
        info.size = 32 * MIB
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert (tmp_path / "mask.tar.gz").stat().st_size * 100 < 32 * MIB
    safe_extract(tmp_path / "mask.tar.gz", tmp_path / "out")
    assert (tmp_path / "out" / "mask.nii").stat().st_size == 32 * MIB


def test_limits_passed_by_the_caller_win(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPERF_GIT_MAX_EXTRACT_FILES", "1")
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as zf:
        zf.writestr("a.txt", b"a")
        zf.writestr("b.txt", b"b")
    safe_extract(tmp_path / "two.zip", tmp_path / "out", ArchiveLimits(max_files=2))
    with pytest.raises(UnsafeArchive, match="the number of files and folders"):
        safe_extract(tmp_path / "two.zip", tmp_path / "out2")


@pytest.mark.parametrize(("text", "size", "expected"), [
    ("1000", True, 1000), (2048, True, 2048), ("500MiB", True, 500 * MIB), ("64G", True, 64 << 30),
    ("1 TiB", True, 1 << 40), ("250", False, 250), (7, False, 7),
])
def test_limits_are_whole_numbers_and_sizes_may_have_units(text, size, expected):
    assert parse_limit(text, "setting", size=size) == expected


@pytest.mark.parametrize(("text", "size"), [("0", True), ("-5", True), ("lots", True), ("1.5G", True),
                                            ("10M", False), (True, False), ("", False)])
def test_a_bad_limit_names_the_setting(text, size):
    with pytest.raises(ConfigError, match=r"^MEDPERF_GIT_MAX_EXTRACT_X: must be a positive"):
        parse_limit(text, "MEDPERF_GIT_MAX_EXTRACT_X", size=size)


def test_a_bad_environment_variable_stops_extraction_with_its_name(tmp_path, monkeypatch):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("a.txt", b"a")
    monkeypatch.setenv("MEDPERF_GIT_MAX_EXTRACT_RATIO", "many")
    with pytest.raises(ConfigError, match="MEDPERF_GIT_MAX_EXTRACT_RATIO: must be a positive whole number"):
        safe_extract(tmp_path / "a.zip", tmp_path / "out")


def test_config_yaml_archive_limits_are_checked_and_kept(isolated_home):
    path = isolated_home / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"active_profile": "default", "profiles": {},
                                    "archive_limits": {"max_size": 5}}))
    with pytest.raises(ConfigError, match="archive_limits has unknown setting.*max_size") as caught:
        Config.load(path)
    assert str(path) in caught.value.message and "max_bytes" in caught.value.hint
    path.write_text(yaml.safe_dump({"active_profile": "default", "profiles": {},
                                    "archive_limits": {"max_files": 500}}))
    config = Config.load(path)
    assert ArchiveLimits.current() == ArchiveLimits(max_files=500)
    config.save()  # a profile change rewrites the file: the caps stay
    assert yaml.safe_load(path.read_text())["archive_limits"] == {"max_files": 500}


def test_a_zip_whose_directory_understates_a_size_fails_cleanly(tmp_path):
    """zipfile reads no more than the size the directory claims, then the CRC check refuses the member."""
    with zipfile.ZipFile(tmp_path / "lie.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("w.bin", bytes(4 * MIB))
    raw = bytearray((tmp_path / "lie.zip").read_bytes())
    central = raw.rindex(b"PK\x01\x02")
    raw[central + 24:central + 28] = (1024).to_bytes(4, "little")  # uncompressed size: 1 KiB
    (tmp_path / "lie.zip").write_bytes(bytes(raw))
    with pytest.raises(UnsafeArchive, match="cannot be extracted"):
        safe_extract(tmp_path / "lie.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()
