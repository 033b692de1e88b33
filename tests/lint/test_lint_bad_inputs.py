"""Lint never raises and never prints a traceback, whatever a file holds: each bad input becomes a finding."""

from __future__ import annotations

import pytest
from registry_factory import benchmark, container, git_commit, make_valid_registry, write_record

from medperf_git.lint.linter import lint_tree
from medperf_git.registry.git import GitRepo
from medperf_git.registry.tree import CommitTree, FolderTree


def lines(root) -> list[str]:
    return [f"{f.path}:{f.line}:{f.col} {f.code} {f.message}" for f in lint_tree(FolderTree(root))]


@pytest.fixture
def reg(tmp_path):
    make_valid_registry(tmp_path)
    return tmp_path


def test_binary_file(reg):
    write_record(reg, "containers/5.yaml", b"\x7fELF\x02\x01\x01\x00\x00\x00binary")
    assert lines(reg) == ["containers/5.yaml:1:1 ENCODING file is binary (it contains NUL bytes), not YAML"]


def test_non_utf8(reg):
    write_record(reg, "containers/5.yaml", b"schema_version: 1\nname: caf\xe9\n")
    assert lines(reg) == ["containers/5.yaml:2:10 ENCODING file is not valid UTF-8"]


def test_duplicate_keys(reg):
    write_record(reg, "people/dave.yaml", "handle: dave\nname: Dave\nhandle: david\n")
    assert lines(reg) == ["people/dave.yaml:3:1 YAML invalid YAML: duplicate key 'handle'"]


def test_alias_bomb(reg):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9))
    write_record(reg, "datasets/2.yaml", bomb)
    assert lines(reg) == ["datasets/2.yaml:1:4 YAML anchors and aliases (&, *) are not allowed in records"]


def test_fifty_megabyte_file(reg):
    with open(reg / "datasets" / "2.yaml", "wb") as fh:
        fh.write(b"statistics:\n" + b"  k: 0123456789\n" * (50 * 1024 * 1024 // 16))
    assert lines(reg) == ["datasets/2.yaml:1:1 SIZE file is 52,428,812 bytes; records are limited to 1,048,576 "
                          "bytes"]


def test_fifty_megabyte_blob_in_a_commit(tmp_path):
    make_valid_registry(tmp_path)
    (tmp_path / "datasets" / "2.yaml").write_bytes(b"x" * (50 * 1024 * 1024))
    commit = git_commit(tmp_path, "big", init=True)
    repo = GitRepo(tmp_path)
    found = lint_tree(CommitTree(repo, commit))
    repo.close()
    assert [(f.path, f.code) for f in found] == [("datasets/2.yaml", "SIZE")]


def test_wrong_types(reg):
    write_record(reg, "benchmarks/2.yaml", {**benchmark(2, "other"), "owners": 5})
    write_record(reg, "containers/5.yaml", {**container(5, "five", "alice", "infer"), "id": "x"})
    write_record(reg, "containers/6.yaml", {**container(6, "six", "alice", "infer"), "config": [1, 2]})
    assert lines(reg) == ["benchmarks/2.yaml:6:1 SCHEMA owners: must be of type array, not int",
                          "containers/5.yaml:3:1 SCHEMA id: must be of type integer, not str",
                          "containers/6.yaml:7:1 SCHEMA config: must be of type object, not list"]


@pytest.mark.parametrize(("text", "expected"), [
    ("", "SCHEMA file is empty: a container record is a YAML mapping"),
    ("# only a comment\n", "SCHEMA file is empty: a container record is a YAML mapping"),
    ("hello\n", "SCHEMA must be of type object, not str"),
    ("- 1\n- 2\n", "SCHEMA must be of type object, not list"),
    ("42\n", "SCHEMA must be of type object, not int"),
])
def test_top_level_not_a_mapping(reg, text, expected):
    write_record(reg, "containers/5.yaml", text)
    assert lines(reg) == [f"containers/5.yaml:1:1 {expected}"]


@pytest.mark.parametrize("text", [
    "1: 2\n3: 4\n",
    "kind: container\nid: 5\nname: !!set {a, b}\n",
    "kind: container\nid: 5\nname: !!binary aGVsbG8=\n",
    "kind: container\nid: 5\nconfig: {tasks: {? [a, b] : 1}}\n",
    "kind: container\nid: 5\ncreated: 2026-01-01\nscore: .nan\n",
    "kind: container\nid: 5\nname: !!python/object:os.system echo\n",
    "kind: container\n" + "x: " + "[" * 5000 + "]" * 5000 + "\n",
    "\ufeffkind: container\nid: 5\n",
    "kind: container\nid: 5\nname: '\x07'\n",
])
def test_odd_yaml_never_crashes(reg, text):
    write_record(reg, "containers/5.yaml", text)
    found = lint_tree(FolderTree(reg))
    assert found, "an odd record must produce a finding"
    assert all(f.path == "containers/5.yaml" for f in found)
    assert not any(f.code == "INTERNAL" for f in found), [f.text() for f in found]


def test_a_folder_where_a_record_should_be(reg):
    (reg / "containers" / "5.yaml").mkdir()
    (reg / "containers" / "5.yaml" / "x").write_text("a: 1\n")
    assert lines(reg) == ["containers/5.yaml/x:1:1 PLACEMENT 'containers/5.yaml/x' is not a valid name for a "
                          "container record"]


def test_bad_inputs_through_the_cli_exit_3_without_traceback(reg, invoke):
    write_record(reg, "containers/5.yaml", b"\x00\x01")
    write_record(reg, "containers/6.yaml", "a: 1\na: 2\n")
    write_record(reg, "containers/7.yaml", "")
    result = invoke("registry", "lint", str(reg))
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    assert "containers/5.yaml:1:1 ENCODING" in result.stdout
    assert "3 errors, 0 warnings in 16 records" in result.stdout


def test_symlink_and_fifo_never_block_or_escape(reg):
    import os

    os.symlink("/etc/passwd", reg / "containers" / "5.yaml")
    os.mkfifo(reg / "containers" / "6.yaml")
    assert lines(reg) == ["containers/5.yaml:1:1 FILE-TYPE file is a symbolic link; a registry holds only plain files",
                          "containers/6.yaml:1:1 FILE-TYPE not a regular file (a pipe, socket or device)"]
