"""Single-file and canonical-JSON hashes."""

from __future__ import annotations

import hashlib

import pytest

from medperf_git.hashing import canonical_json_hash, normalize_sha256, sha256_bytes, sha256_file


def test_sha256_file_large_and_small(tmp_path):
    for size in (0, 10, (1 << 20) - 1, 1 << 20, (3 << 20) + 5):
        path = tmp_path / f"f{size}"
        data = bytes(i % 251 for i in range(size))
        path.write_bytes(data)
        seen = []
        assert sha256_file(path, progress=seen.append) == "sha256:" + hashlib.sha256(data).hexdigest()
        assert sum(seen) == size


def test_sha256_bytes():
    assert sha256_bytes(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_canonical_json_ignores_key_order_and_formatting():
    a = {"b": [1, 2, {"z": "é", "a": None}], "a": 1.5}
    b = {"a": 1.5, "b": [1, 2, {"a": None, "z": "é"}]}
    assert canonical_json_hash(a) == canonical_json_hash(b)
    expected = hashlib.sha256('{"a":1.5,"b":[1,2,{"a":null,"z":"é"}]}'.encode()).hexdigest()
    assert canonical_json_hash(a) == "sha256:" + expected
    assert canonical_json_hash({"a": 1}) != canonical_json_hash({"a": 2})


def test_normalize_sha256():
    hexpart = "AB" * 32
    assert normalize_sha256(hexpart) == "sha256:" + "ab" * 32
    assert normalize_sha256("sha256:" + "ab" * 32) == "sha256:" + "ab" * 32
    with pytest.raises(ValueError):
        normalize_sha256("sha256:xyz")
