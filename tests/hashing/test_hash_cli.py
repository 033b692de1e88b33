"""``medperf-git hash``: the digests, the labels, --json, and one clear line per error."""

from __future__ import annotations

import json
import os

from test_medperf_hash import KNOWN
from test_tree_hash import BOTH, DATA_ONLY, make_vector_tree

from medperf_git.hashing import read_manifest


def test_hash_labels_by_folder_name(invoke, tmp_path):
    data, labels = make_vector_tree(tmp_path)
    result = invoke("hash", data, labels)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == BOTH
    assert "4 files, 275 bytes" in result.stderr
    assert "Next step:" in result.stderr


def test_hash_json(invoke, tmp_path):
    data, labels = make_vector_tree(tmp_path)
    result = invoke("hash", data, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"algorithm": "tree-v1", "digest": DATA_ONLY, "files": 3, "bytes": 262}


def test_hash_medperf(invoke, tmp_path):
    data, labels = make_vector_tree(tmp_path)
    result = invoke("hash", "--algorithm", "medperf", data, labels, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["digest"] == KNOWN


def test_hash_medperf_points_at_the_fields_that_hold_medperfs_hash(invoke, tmp_path):
    data, labels = make_vector_tree(tmp_path)
    result = invoke("hash", "--algorithm", "medperf", data, labels)
    assert result.exit_code == 0 and result.stdout.strip() == KNOWN
    assert "medperf_generated_uid" in result.stderr and "medperf_input_data_hash" in result.stderr
    assert "the generated UID is this digest's hex part" not in result.stderr


def test_duplicate_names_need_labels(invoke, tmp_path):
    make_vector_tree(tmp_path / "one")
    make_vector_tree(tmp_path / "two")
    result = invoke("hash", tmp_path / "one" / "data", tmp_path / "two" / "data")
    assert result.exit_code == 2
    assert "two roots are labelled 'data'" in result.stderr
    assert "--label NAME=PATH" in result.stderr
    result = invoke("hash", "--label", f"data={tmp_path / 'one' / 'data'}",
                    "--label", f"labels={tmp_path / 'two' / 'labels'}")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == BOTH


def test_hash_saves_manifest(invoke, tmp_path):
    data, labels = make_vector_tree(tmp_path)
    result = invoke("hash", data, labels, "--manifest", tmp_path / "m.txt")
    assert result.exit_code == 0, result.output
    assert len(read_manifest(tmp_path / "m.txt")) == 4


def test_symlink_is_one_clear_line(invoke, tmp_path):
    data, _ = make_vector_tree(tmp_path)
    (data / "link").symlink_to(data / "a.txt")
    result = invoke("hash", data)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {data / 'link'}: a symbolic link; only regular files and folders " \
                                    "may be in a hashed tree"
    assert "Traceback" not in result.output


def test_fifo_and_bad_name(invoke, tmp_path):
    data, _ = make_vector_tree(tmp_path)
    os.mkfifo(data / "pipe")
    result = invoke("hash", data)
    assert result.exit_code == 1 and "pipe: a FIFO" in result.stderr
    (data / "pipe").unlink()
    (data / "bad\nname").write_bytes(b"")
    result = invoke("hash", data)
    assert result.exit_code == 1 and "newline or a backslash" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_path(invoke, tmp_path):
    result = invoke("hash", tmp_path / "nope")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {tmp_path / 'nope'}: no such folder (root 'nope')"


def test_usage_errors(invoke, tmp_path):
    assert invoke("hash").exit_code == 2
    assert invoke("hash", "--label", "noequals").exit_code == 2
    assert invoke("hash", "--algorithm", "md5", tmp_path).exit_code == 2


def test_help(invoke):
    result = invoke("hash", "--help")
    assert result.exit_code == 0
    assert "--algorithm" in result.stdout and "--label" in result.stdout
