"""tree-v1: DESIGN.md's test vectors, independence from order and threads, and every refusal."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from medperf_git.errors import MedperfGitError
from medperf_git.hashing import (
    TreeHashError,
    _reader,
    count_bytes,
    dataset_hashes,
    diff_manifests,
    digest_of,
    read_manifest,
    tree_hash,
    write_manifest,
)
from tests.hashing.trees import many_files

BOTH = "tree-v1:sha256:6fa37956ccec3f0a4790e1d5c5940dbf03e3c5ad0434345a2c78cdebc55cb87d"
DATA_ONLY = "tree-v1:sha256:0abceaf32219ed82d973149e182d252601f0b52d6e1bd058def0c23ea7662e5c"
RENAMED = "tree-v1:sha256:6bba88c5ec2bd1566e123604fe36dffb300b7b5a27f9c04ececbdd541ce66cea"

pytestmark = pytest.mark.unprivileged  # also run as a user who owns nothing here


def make_vector_tree(base: Path) -> tuple[Path, Path]:
    """The tree of DESIGN.md's test vectors."""
    data, labels = base / "data", base / "labels"
    (data / "sub").mkdir(parents=True)
    (data / "emptydir").mkdir()
    labels.mkdir()
    (data / "a.txt").write_bytes(b"hello\n")
    (data / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (data / "empty").write_bytes(b"")
    (labels / "l.csv").write_bytes(b"id,label\n1,x\n")
    return data, labels


@pytest.fixture
def vector_tree(tmp_path) -> tuple[Path, Path]:
    return make_vector_tree(tmp_path)


def test_vector_data_and_labels(vector_tree):
    data, labels = vector_tree
    th = tree_hash({"data": data, "labels": labels})
    assert th.digest == BOTH
    assert th.files == 4
    assert th.total_bytes == 6 + 256 + 0 + 13
    assert th.hex == BOTH.rsplit(":", 1)[1]
    assert th.lines[0] == b"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03 6 data/a.txt\n"
    assert [line.split(b" ")[2] for line in th.lines] == [b"data/a.txt\n", b"data/empty\n", b"data/sub/b.bin\n",
                                                          b"labels/l.csv\n"]


def test_vector_data_only(vector_tree):
    assert tree_hash({"data": vector_tree[0]}).digest == DATA_ONLY


def test_vector_rename(vector_tree):
    data, labels = vector_tree
    (data / "a.txt").rename(data / "a2.txt")
    assert tree_hash({"data": data, "labels": labels}).digest == RENAMED


def test_labels_are_part_of_the_hash(vector_tree):
    data, labels = vector_tree
    assert tree_hash({"data": data, "labels": labels}).digest != tree_hash({"data": data, "other": labels}).digest


def test_moving_a_file_between_roots_changes_the_hash(vector_tree):
    data, labels = vector_tree
    before = tree_hash({"data": data, "labels": labels}).digest
    (data / "a.txt").rename(labels / "a.txt")
    assert tree_hash({"data": data, "labels": labels}).digest != before


def test_empty_folders_do_not_count(vector_tree):
    data, labels = vector_tree
    (data / "another" / "deeper").mkdir(parents=True)
    (labels / "x").mkdir()
    assert tree_hash({"data": data, "labels": labels}).digest == BOTH


def test_root_order_does_not_matter(vector_tree):
    data, labels = vector_tree
    assert tree_hash({"labels": labels, "data": data}).digest == BOTH


def test_independent_of_thread_count_and_batching(tmp_path, monkeypatch):
    root = many_files(tmp_path / "many")
    (root / "big").write_bytes(os.urandom(3 << 20))
    digests = {tree_hash({"x": root}, workers=w).digest for w in (1, 2, 3, 8)}
    # smaller batches and a lower "large file" bar give a different schedule, never a different digest
    monkeypatch.setattr(_reader, "BATCH_FILES", 5)
    monkeypatch.setattr(_reader, "LARGE_FILE", 1000)
    digests.add(tree_hash({"x": root}, workers=4).digest)
    assert len(digests) == 1


def test_lines_sorted_by_path_bytes_not_by_line(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    (root / "b").write_bytes(b"1")  # sha256 starts with 6b...
    (root / "a").write_bytes(b"2")  # sha256 starts with d4...
    (root / "a b").write_bytes(b"")
    (root / "é").write_bytes(b"3")
    th = tree_hash({"r": root})
    assert [line.split(b" ", 2)[2] for line in th.lines] == [b"r/a\n", b"r/a b\n", b"r/b\n", "r/é\n".encode()]
    assert digest_of(th.lines) == th.digest


def test_undecodable_name_is_kept_as_bytes(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    name = b"caf\xe9.png"  # Latin-1, not UTF-8
    with open(os.path.join(os.fsencode(root), name), "wb") as handle:
        handle.write(b"x")
    th = tree_hash({"r": root})
    assert th.lines[0].endswith(b" 1 r/caf\xe9.png\n")


def test_progress_reports_every_byte(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    for i in range(20):
        (root / str(i)).write_bytes(b"z" * (i * 100_000))
    seen = []
    th = tree_hash({"r": root}, workers=2, progress=seen.append)
    assert sum(seen) == th.total_bytes == count_bytes({"r": root}) == sum(i * 100_000 for i in range(20))


def test_symlink_is_refused(vector_tree):
    data, labels = vector_tree
    (data / "link").symlink_to(data / "a.txt")
    with pytest.raises(TreeHashError, match=r"link: a symbolic link"):
        tree_hash({"data": data})


def test_symlinked_folder_is_refused(vector_tree):
    data, labels = vector_tree
    (data / "linkdir").symlink_to(labels)
    with pytest.raises(TreeHashError, match="linkdir: a symbolic link"):
        tree_hash({"data": data})


def test_fifo_is_refused(vector_tree):
    data, _ = vector_tree
    os.mkfifo(data / "pipe")
    with pytest.raises(TreeHashError, match="pipe: a FIFO"):
        tree_hash({"data": data})


def test_socket_is_refused(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(root / "s"))
        with pytest.raises(TreeHashError, match="s: a socket"):
            tree_hash({"r": root})
    finally:
        sock.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_device_is_refused(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    os.mknod(root / "null", 0o600 | 0o020000, os.makedev(1, 3))
    with pytest.raises(TreeHashError, match="null: a device"):
        tree_hash({"r": root})


@pytest.mark.parametrize("name", ["new\nline", "back\\slash"])
def test_bad_names_are_refused(tmp_path, name):
    root = tmp_path / "r"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / name).write_bytes(b"x")
    with pytest.raises(TreeHashError, match="newline or a backslash"):
        tree_hash({"r": root})


def test_bad_folder_name_is_refused(tmp_path):
    root = tmp_path / "r"
    (root / "a\\b").mkdir(parents=True)
    with pytest.raises(TreeHashError, match="newline or a backslash"):
        tree_hash({"r": root})


@pytest.mark.parametrize("label", ["", "a/b", "..", "x\ny", "a\\b"])
def test_bad_labels_are_refused(tmp_path, label):
    with pytest.raises(TreeHashError, match="invalid root label"):
        tree_hash({label: tmp_path})


def test_missing_root_names_the_path(tmp_path):
    with pytest.raises(TreeHashError, match=f"{tmp_path / 'nope'}: no such folder"):
        tree_hash({"data": tmp_path / "nope"})


def test_root_that_is_a_file(tmp_path):
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(TreeHashError, match="not a folder"):
        tree_hash({"data": tmp_path / "f"})


def test_errors_are_user_errors():
    assert issubclass(TreeHashError, MedperfGitError)


def test_file_growing_while_read_is_an_error(tmp_path):
    """A writer appends while the hash runs: the bytes read no longer match the size."""
    root = tmp_path / "r"
    root.mkdir()
    path = root / "growing.bin"
    path.write_bytes(b"\0" * (8 << 20))
    stop = threading.Event()

    def writer():
        with open(path, "ab") as handle:
            written = 0
            while not stop.is_set() and written < (64 << 20):  # bounded: never fill the disk
                handle.write(b"x" * 4096)
                handle.flush()
                written += 4096

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with pytest.raises(TreeHashError, match="growing.bin: changed size while hashing"):
            for _ in range(50):
                tree_hash({"r": root}, workers=1)
    finally:
        stop.set()
        thread.join()


def test_file_changed_while_read_is_caught(tmp_path, monkeypatch):
    """The scan reads no sizes (a stat per file costs as much as reading a small one): a file is hashed as it is
    when opened, and one whose size moves after that is an error."""
    root = tmp_path / "r"
    root.mkdir()
    (root / "f").write_bytes(b"12345")
    real = os.fstat

    def truncate_after_fstat(fd):
        st = real(fd)
        with open(root / "f", "wb") as handle:
            handle.write(b"1")
        return st

    monkeypatch.setattr(_reader.os, "fstat", truncate_after_fstat)
    with pytest.raises(TreeHashError, match="f: changed size while hashing"):
        tree_hash({"r": root})


def test_small_file_that_grows_by_one_byte_is_caught(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    with pytest.raises(_reader.FileChanged):
        _reader.hash_file(os.fsencode(path), 2)
    # size equal to the scan, then a read of size+1 bytes tells growth from EOF
    assert _reader.hash_file(os.fsencode(path), 3)[1] == 3


def test_manifest_round_trip_and_digest(tmp_path, vector_tree):
    import hashlib

    data, labels = vector_tree
    th = tree_hash({"data": data, "labels": labels})
    manifest = tmp_path / "meta" / "manifest.tree-v1"
    write_manifest(manifest, th)
    assert read_manifest(manifest) == th.lines
    assert "tree-v1:sha256:" + hashlib.sha256(manifest.read_bytes()).hexdigest() == th.digest
    assert not [p for p in manifest.parent.iterdir() if p.name != "manifest.tree-v1"]  # no temp file left


def test_read_manifest_rejects_garbage(tmp_path):
    bad = tmp_path / "m"
    bad.write_bytes(b"something else\n")
    with pytest.raises(TreeHashError, match="not a tree-v1 manifest"):
        read_manifest(bad)
    bad.write_bytes(b"tree-v1 sha256\nabc 1 data/x\n")
    with pytest.raises(TreeHashError, match=":2: not a manifest line"):
        read_manifest(bad)


def test_diff_manifests_names_what_changed(vector_tree):
    data, labels = vector_tree
    old = tree_hash({"data": data, "labels": labels}).lines
    (data / "a.txt").write_bytes(b"hello!\n")
    (data / "empty").unlink()
    (labels / "new.csv").write_bytes(b"1")
    diff = diff_manifests(old, tree_hash({"data": data, "labels": labels}).lines)
    assert diff.changed == ["data/a.txt"]
    assert diff.removed == ["data/empty"]
    assert diff.added == ["labels/new.csv"]
    assert diff
    assert not diff_manifests(old, old)


def test_diff_sees_same_size_content_change(vector_tree):
    data, _ = vector_tree
    old = tree_hash({"data": data}).lines
    (data / "a.txt").write_bytes(b"HELLO\n")
    assert diff_manifests(old, tree_hash({"data": data}).lines).changed == ["data/a.txt"]


def test_dataset_hashes_labels(vector_tree):
    data, labels = vector_tree
    assert dataset_hashes(data, labels).digest == BOTH
    assert dataset_hashes(data, data).digest == DATA_ONLY
    assert dataset_hashes(data).digest == DATA_ONLY


def test_error_in_one_thread_stops_the_others(tmp_path, monkeypatch):
    root = tmp_path / "r"
    root.mkdir()
    for i in range(50):
        (root / f"f{i:02d}").write_bytes(b"x" * (5 << 20))  # each a task of its own
    real = _reader.hash_file
    calls = []

    def failing(path, expected_size, *args, **kwargs):
        calls.append(path)
        if len(calls) == 1:
            raise _reader.FileChanged(path, "changed size while hashing")
        return real(path, expected_size, *args, **kwargs)

    monkeypatch.setattr(_reader, "hash_file", failing)
    with pytest.raises(TreeHashError, match="changed size while hashing"):
        tree_hash({"r": root}, workers=2)
    assert len(calls) < 50  # queued work was dropped
