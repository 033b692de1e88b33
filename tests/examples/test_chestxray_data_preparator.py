"""The data preparator's three tasks on mock data: outputs, statistics, and clear errors on bad input."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import yaml
from chestxray_helpers import EXAMPLE, LABELS, make_raw, needs_numeric_stack, prepare, run_task, tree_digests

pytestmark = needs_numeric_stack
PARAMETERS = EXAMPLE / "data_preparator/parameters.yaml"


def _check(data, labels, home):
    return run_task("data_preparator", ["sanity_check"],
                    {"data_path": data, "labels_path": labels, "parameters_file": PARAMETERS}, home)


def _statistics(data, labels, out, home):
    out.touch()
    return run_task("data_preparator", ["statistics"],
                    {"data_path": data, "labels_path": labels, "output_path": out, "parameters_file": PARAMETERS},
                    home)


def test_prepare_writes_normalised_images_and_one_hot_labels(prepared):
    ids = [image_id for image_id, _ in prepared.rows]
    assert sorted(p.name for p in prepared.data.iterdir()) == sorted(f"{i}.npy" for i in ids)
    assert sorted(p.name for p in prepared.labels.iterdir()) == sorted(f"{i}.npy" for i in ids)
    for image_id, label in prepared.rows:
        image = np.load(prepared.data / f"{image_id}.npy")
        assert image.shape == (28, 28, 1) and image.dtype == np.float32
        assert 0.0 <= image.min() <= image.max() <= 1.0 and image.max() > image.min()
        one_hot = np.load(prepared.labels / f"{image_id}.npy")
        assert one_hot.shape == (14,) and one_hot.sum() == 1 and one_hot[LABELS.index(label)] == 1


def test_prepare_is_deterministic(prepared, tmp_path, task_home):
    again = prepare(prepared.raw, tmp_path / "again", task_home)
    assert again.returncode == 0, again.stderr
    assert tree_digests(tmp_path / "again/data") == tree_digests(prepared.data)
    assert tree_digests(tmp_path / "again/labels") == tree_digests(prepared.labels)


def test_prepare_leaves_inputs_and_home_untouched(tmp_path, task_home):
    raw = tmp_path / "raw"
    make_raw(raw, 5, 9)
    before = tree_digests(raw)
    assert prepare(raw, tmp_path / "out", task_home).returncode == 0
    assert tree_digests(raw) == before
    assert list(task_home.iterdir()) == []


def test_sanity_check_then_statistics_count_the_csv(prepared, tmp_path, task_home):
    check = _check(prepared.data, prepared.labels, task_home)
    assert check.returncode == 0, check.stderr
    assert "Sanity checks ran successfully." in check.stdout
    out = tmp_path / "statistics.yaml"
    stats = _statistics(prepared.data, prepared.labels, out, task_home)
    assert stats.returncode == 0, stats.stderr
    expected = collections.Counter(label for _, label in prepared.rows)
    assert yaml.safe_load(out.read_text()) == {
        "num_cases": len(prepared.rows),
        "labels_count": {label: expected.get(label, 0) for label in LABELS},
    }
    assert list(yaml.safe_load(out.read_text())["labels_count"]) == LABELS


@pytest.fixture
def raw(tmp_path):
    root = tmp_path / "bad-raw"
    make_raw(root, 4, 2)
    return root


def test_prepare_refuses_a_missing_image(raw, tmp_path, task_home):
    (raw / "images/00000003_000.png").unlink()
    run = prepare(raw, tmp_path / "out", task_home)
    assert run.returncode == 1
    assert "labels.csv:4: image" in run.stderr and "00000003_000.png is missing" in run.stderr
    assert "Traceback" not in run.stderr


def test_prepare_refuses_an_unknown_label(raw, tmp_path, task_home):
    csv_file = raw / "labels/labels.csv"
    lines = csv_file.read_text().splitlines()
    lines[2] = lines[2].split(",")[0] + ",broken_rib"
    csv_file.write_text("\n".join(lines) + "\n")
    run = prepare(raw, tmp_path / "out", task_home)
    assert run.returncode == 1
    assert "labels.csv:3: unknown label 'broken_rib'" in run.stderr and "Traceback" not in run.stderr


def test_prepare_refuses_missing_columns(raw, tmp_path, task_home):
    csv_file = raw / "labels/labels.csv"
    lines = csv_file.read_text().splitlines()
    csv_file.write_text("\n".join(["Path,Finding"] + lines[1:]) + "\n")
    run = prepare(raw, tmp_path / "out", task_home)
    assert run.returncode == 1
    assert "missing column(s) 'Image ID', 'Label'" in run.stderr and "Traceback" not in run.stderr


def test_prepare_refuses_ids_that_escape_the_output(raw, tmp_path, task_home):
    csv_file = raw / "labels/labels.csv"
    csv_file.write_text("Image ID,Label\n../evil,mass\n")
    run = prepare(raw, tmp_path / "out", task_home)
    assert run.returncode == 1 and "invalid image id '../evil'" in run.stderr


def test_prepare_refuses_a_missing_labels_file(raw, tmp_path, task_home):
    (raw / "labels/labels.csv").unlink()
    run = prepare(raw, tmp_path / "out", task_home)
    assert run.returncode == 1 and "cannot read" in run.stderr and "labels.csv" in run.stderr


def test_sanity_check_refuses_unmatched_names(prepared, task_home):
    (prepared.labels / f"{prepared.rows[0][0]}.npy").unlink()
    run = _check(prepared.data, prepared.labels, task_home)
    assert run.returncode == 1
    assert "label file names must equal data file names" in run.stderr
    assert f"only in data: ['{prepared.rows[0][0]}.npy']" in run.stderr


def test_sanity_check_refuses_files_that_are_not_npy(prepared, task_home):
    (prepared.data / "notes.txt").write_text("x")
    run = _check(prepared.data, prepared.labels, task_home)
    assert run.returncode == 1 and "data files must be .npy; found notes.txt" in run.stderr


def test_sanity_check_refuses_labels_of_the_wrong_width(prepared, task_home):
    for path in prepared.labels.iterdir():
        np.save(path, np.zeros(13, dtype=np.int64))
    run = _check(prepared.data, prepared.labels, task_home)
    assert run.returncode == 1 and "one-hot encoded with 14 columns" in run.stderr


def test_sanity_check_refuses_images_of_the_wrong_shape(prepared, task_home):
    np.save(prepared.data / f"{prepared.rows[1][0]}.npy", np.zeros((32, 32, 1), dtype=np.float32))
    run = _check(prepared.data, prepared.labels, task_home)
    assert run.returncode == 1 and "has shape (32, 32, 1); expected (28, 28, 1)" in run.stderr


def test_unknown_task_is_a_usage_error(task_home):
    run = run_task("data_preparator", ["train"], {}, task_home)
    assert run.returncode == 2 and "usage: main.py {prepare|sanity_check|statistics}" in run.stderr


def test_prepare_accepts_a_csv_saved_with_a_byte_order_mark(raw, tmp_path, task_home):
    csv_file = raw / "labels/labels.csv"
    csv_file.write_bytes(b"\xef\xbb\xbf" + csv_file.read_bytes())
    run = prepare(raw, tmp_path / "out", task_home)
    assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "out/data").iterdir())) == 4
