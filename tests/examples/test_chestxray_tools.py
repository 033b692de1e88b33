"""The host tools: deterministic mock data, demo tarball and source archives (two runs, same sha256)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import shutil
import tarfile

import pytest
from chestxray_helpers import EXAMPLE, LABELS, run_tool, tree_digests


def _mock(out, count="12", seed="4"):
    proc = run_tool("make_mock_data.py", "--out", str(out), "--count", count, "--seed", seed)
    assert proc.returncode == 0, proc.stderr
    return out


def test_mock_data_is_byte_identical_for_the_same_arguments(tmp_path):
    first = tree_digests(_mock(tmp_path / "one"))
    assert first == tree_digests(_mock(tmp_path / "two"))
    assert first != tree_digests(_mock(tmp_path / "other-seed", seed="5"))
    assert len(first) == 13  # 12 images and labels.csv


def test_mock_data_has_medperf_tutorial_layout(tmp_path):
    out = _mock(tmp_path / "raw", count="30")
    with open(out / "labels/labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["Image ID", "Label"] and len(rows) == 30
    assert {row["Label"] for row in rows} <= set(LABELS)
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(f"{r['Image ID']}.png" for r in rows)


def test_mock_images_are_valid_grayscale_pngs(tmp_path):
    image_module = pytest.importorskip("PIL.Image", reason="Pillow decodes the PNGs")
    out = _mock(tmp_path / "raw", count="3")
    for path in (out / "images").iterdir():
        with image_module.open(path) as img:
            img.load()
            assert img.mode == "L" and img.size == (64, 64)
            low, high = img.getextrema()
            assert high - low > 50


def test_mock_data_refuses_a_folder_in_use(tmp_path):
    out = _mock(tmp_path / "raw", count="2")
    proc = run_tool("make_mock_data.py", "--out", str(out), "--count", "2")
    assert proc.returncode == 1 and "is not empty; choose another --out" in proc.stderr


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_demo_tarball_is_deterministic_and_has_paths_yaml(tmp_path):
    lines = []
    for name in ("a", "b"):
        proc = run_tool("make_demo_tarball.py", "--out", str(tmp_path / name / "demo_data.tar.gz"))
        assert proc.returncode == 0, proc.stderr
        lines.append(proc.stdout.strip())
    digest = _sha256(tmp_path / "a/demo_data.tar.gz")
    assert lines == [f"demo_data.tar.gz sha256:{digest}"] * 2
    assert digest == _sha256(tmp_path / "b/demo_data.tar.gz")
    blob = (tmp_path / "a/demo_data.tar.gz").read_bytes()
    assert blob[4:8] == b"\0\0\0\0"  # gzip mtime 0
    with tarfile.open(tmp_path / "a/demo_data.tar.gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names, key=str.encode)
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)
        assert "paths.yaml" in names and "demo_data/labels/labels.csv" in names
        assert sum(n.startswith("demo_data/images/") and n.endswith(".png") for n in names) == 10
        paths = tar.extractfile("paths.yaml").read().decode()
    assert paths == "data_path: demo_data/images\nlabels_path: demo_data/labels\n"


def test_demo_tarball_from_existing_raw_data(tmp_path):
    raw = _mock(tmp_path / "raw", count="2", seed="9")
    proc = run_tool("make_demo_tarball.py", "--out", str(tmp_path / "demo.tar.gz"), "--from", str(raw))
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(tmp_path / "demo.tar.gz") as tar:
        assert sum(n.endswith(".png") for n in tar.getnames()) == 2


def test_source_archives_are_deterministic_and_ignore_bytecode(tmp_path):
    first = run_tool("make_source_archives.py", "--out", str(tmp_path / "one"))
    assert first.returncode == 0, first.stderr
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "metrics/project/__pycache__").mkdir()
    (copy / "metrics/project/__pycache__/metrics.cpython-311.pyc").write_bytes(b"junk")
    second = run_tool("make_source_archives.py", "--out", str(tmp_path / "two"), "--root", str(copy))
    assert second.returncode == 0, second.stderr
    assert first.stdout == second.stdout
    lines = dict(line.split(" ") for line in first.stdout.splitlines())
    assert sorted(lines) == sorted([
        "data_preparator.tar.gz", "metrics.tar.gz", "model_reference.tar.gz", "model_second.tar.gz",
        "model_reference_additional_files.tar.gz", "model_second_additional_files.tar.gz"])
    for archive, digest in lines.items():
        assert digest == f"sha256:{_sha256(tmp_path / 'one' / archive)}"
    with tarfile.open(tmp_path / "one/metrics.tar.gz") as tar:
        assert tar.getnames() == ["Dockerfile", "container_config.yaml", "parameters.yaml", "project",
                                  "project/metrics.py", "project/requirements.txt"]
    with tarfile.open(tmp_path / "one/model_second_additional_files.tar.gz") as tar:
        assert tar.getnames() == ["weights.npz"]
        weights = (EXAMPLE / "model_second/additional_files/weights.npz").read_bytes()
        assert tar.extractfile("weights.npz").read() == weights
    with gzip.open(tmp_path / "one/data_preparator.tar.gz") as gz:
        assert gz.read(1)  # a valid gzip stream


def test_source_archive_changes_when_a_file_changes(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = run_tool("make_source_archives.py", "--out", str(tmp_path / "a"), "--root", str(copy)).stdout
    (copy / "metrics/parameters.yaml").write_text("threshold: 0.4\n")
    after = run_tool("make_source_archives.py", "--out", str(tmp_path / "b"), "--root", str(copy)).stdout
    changed = {line.split(" ")[0] for line in set(before.splitlines()) ^ set(after.splitlines())}
    assert changed == {"metrics.tar.gz"}
