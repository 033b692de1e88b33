"""MedPerf's folder hash, checked against DESIGN.md's known value and against MedPerf's own algorithm."""

from __future__ import annotations

import hashlib
import os

import pytest
from test_tree_hash import make_vector_tree

from medperf_git.hashing import TreeHashError, medperf_hash, medperf_hash_info

KNOWN = "e0657d9b99ef2c268f207163fa5aad8b1e04b951d0019c3a15b7d5fc1702a1f4"


def medperf_reference(paths):
    """MedPerf's get_folders_hash, as in medperf/utils.py."""
    hashes = []
    for path in paths:
        for root, _, files in os.walk(path, topdown=False):
            for file in files:
                h = hashlib.sha256()
                with open(os.path.join(root, file), "rb") as f:
                    while data := f.read(65536):
                        h.update(data)
                hashes.append(h.hexdigest())
    sha = hashlib.sha256()
    for h in sorted(hashes):
        sha.update(h.encode("utf-8"))
    return sha.hexdigest()


def test_known_value(tmp_path):
    data, labels = make_vector_tree(tmp_path)
    assert medperf_hash([data, labels]) == KNOWN
    assert medperf_hash([str(labels), str(data)]) == KNOWN
    assert medperf_hash_info([data, labels])[1:] == (4, 6 + 256 + 13)


def test_matches_medperf_on_a_larger_tree(tmp_path):
    for i in range(120):
        sub = tmp_path / "t" / f"d{i % 5}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i}.bin").write_bytes(os.urandom(i * 997))
    (tmp_path / "t" / "big").write_bytes(os.urandom(5 << 20))
    assert medperf_hash([tmp_path / "t"]) == medperf_reference([tmp_path / "t"])


def test_ignores_names_like_medperf(tmp_path):
    data, labels = make_vector_tree(tmp_path)
    (data / "a.txt").rename(data / "renamed.txt")
    assert medperf_hash([data, labels]) == KNOWN


def test_follows_file_links_like_medperf(tmp_path):
    data, labels = make_vector_tree(tmp_path)
    (data / "link").symlink_to(labels / "l.csv")
    assert medperf_hash([data, labels]) == medperf_reference([data, labels])


def test_empty_is_hash_of_nothing(tmp_path):
    assert medperf_hash([tmp_path]) == hashlib.sha256(b"").hexdigest()


def test_missing_folder(tmp_path):
    with pytest.raises(TreeHashError, match="no such folder"):
        medperf_hash([tmp_path / "nope"])
