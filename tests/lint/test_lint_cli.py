"""``medperf-git registry lint``: text and JSON output, exit codes, bad paths and bad refs."""

from __future__ import annotations

import json

from registry_factory import container, make_valid_registry, write_record


def test_valid_registry_text(tmp_path, invoke):
    make_valid_registry(tmp_path)
    result = invoke("registry", "lint", str(tmp_path))
    assert result.exit_code == 0
    assert result.stdout == "registry is valid: 13 records\n"


def test_default_path_is_the_current_folder(tmp_path, invoke, monkeypatch):
    make_valid_registry(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = invoke("registry", "lint")
    assert result.exit_code == 0
    assert "registry is valid: 13 records" in result.stdout


def test_findings_text_exit_3(tmp_path, invoke):
    make_valid_registry(tmp_path)
    write_record(tmp_path, "containers/5.yaml", container(5, "five", "zed", "infer"))
    result = invoke("registry", "lint", str(tmp_path))
    assert result.exit_code == 3
    assert result.stdout.splitlines() == [
        "containers/5.yaml:5:1 UNKNOWN-REF owner: 'zed' is not a registered person (no people/zed.yaml)",
        "    hint: check the handle, or have that person run `medperf-git person register` first",
        "1 error, 0 warnings in 14 records",
    ]
    assert "Error: lint found 1 error" in result.stderr
    assert "Traceback" not in result.output


def test_json_output(tmp_path, invoke):
    make_valid_registry(tmp_path)
    write_record(tmp_path, "notes.txt", "x")
    result = invoke("registry", "lint", str(tmp_path), "--format", "json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["valid"] is False and data["errors"] == 1 and data["warnings"] == 0
    assert data["findings"][0]["path"] == "notes.txt"
    assert data["findings"][0]["code"] == "PLACEMENT"
    assert set(data["findings"][0]) >= {"path", "line", "col", "code", "message", "hint", "severity"}


def test_json_output_valid(tmp_path, invoke):
    make_valid_registry(tmp_path)
    result = invoke("registry", "lint", str(tmp_path), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"valid": True, "errors": 0, "warnings": 0, "records": 13, "findings": []}


def test_base_in_text_mode(tmp_path, invoke):
    make_valid_registry(tmp_path, commit=True)
    (tmp_path / "people" / "carol.yaml").unlink()
    result = invoke("registry", "lint", str(tmp_path), "--base", "HEAD")
    assert result.exit_code == 3
    assert result.stdout.splitlines()[0] == ("people/carol.yaml:1:1 DELETED person record deleted: records are "
                                             "never deleted, so ids are never freed")


def test_missing_path_exits_1(tmp_path, invoke):
    result = invoke("registry", "lint", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'nope'}: no such folder" in result.stderr


def test_file_as_path_exits_1(tmp_path, invoke):
    (tmp_path / "f.yaml").write_text("a: 1\n")
    result = invoke("registry", "lint", str(tmp_path / "f.yaml"))
    assert result.exit_code == 1
    assert "not a folder" in result.stderr


def test_bad_ref_exits_2(tmp_path, invoke):
    make_valid_registry(tmp_path, commit=True)
    result = invoke("registry", "lint", str(tmp_path), "--base", "no-such-branch")
    assert result.exit_code == 2
    assert "Error: --base no-such-branch: no such commit" in result.stderr


def test_base_outside_git_exits_2(tmp_path, invoke):
    make_valid_registry(tmp_path)
    result = invoke("registry", "lint", str(tmp_path), "--base", "HEAD")
    assert result.exit_code == 2
    assert "needs a git checkout" in result.stderr


def test_bad_format_is_usage_error(tmp_path, invoke):
    result = invoke("registry", "lint", str(tmp_path), "--format", "xml")
    assert result.exit_code == 2


def test_help(invoke):
    result = invoke("registry", "lint", "--help")
    assert result.exit_code == 0
    assert "--base" in result.stdout and "--format" in result.stdout


def test_ignored_files_of_a_checkout_are_not_linted(tmp_path, invoke):
    """Local lint sees what CI will see: ignored files never reach CI, untracked ones may."""
    make_valid_registry(tmp_path)
    write_record(tmp_path, ".gitignore", "*.swp\n.venv/\n")
    write_record(tmp_path, "containers/.1.yaml.swp", b"\x00swap")
    write_record(tmp_path, ".venv/bin/python", "x")
    from registry_factory import git_commit

    git_commit(tmp_path, "registry", init=True)
    result = invoke("registry", "lint", str(tmp_path))
    assert result.exit_code == 0, result.output
    write_record(tmp_path, "notes.txt", "untracked, not ignored")
    result = invoke("registry", "lint", str(tmp_path))
    assert result.exit_code == 3
    assert result.stdout.startswith("notes.txt:1:1 PLACEMENT")


def test_base_valid_summary(tmp_path, invoke):
    make_valid_registry(tmp_path, commit=True)
    write_record(tmp_path, "containers/5.yaml", container(5, "five", "bob", "infer"))
    result = invoke("registry", "lint", str(tmp_path), "--base", "HEAD")
    assert result.exit_code == 0, result.output
    assert result.stdout == "registry is valid: 1 changed records checked against HEAD\n"


def test_a_new_registry_from_init_is_valid(tmp_path, invoke):
    result = invoke("registry", "init", str(tmp_path / "reg"), "--name", "test-reg", "--admin", "alice",
                    "--admin-email", "alice@example.org")
    assert result.exit_code == 0, result.output
    result = invoke("registry", "lint", str(tmp_path / "reg"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("registry is valid:")


def test_bare_repository_lints_its_head(tmp_path, invoke, git_cmd):
    make_valid_registry(tmp_path / "work", commit=True)
    git_cmd("clone", "-q", "--bare", str(tmp_path / "work"), str(tmp_path / "bare.git"))
    result = invoke("registry", "lint", str(tmp_path / "bare.git"))
    assert result.exit_code == 0, result.output
    assert result.stdout == "registry is valid: 13 records\n"
    (tmp_path / "work" / "results" / "1" / "b1m2d1.yaml").unlink()
    git_cmd("commit", "-q", "-am", "drop a result", cwd=tmp_path / "work")
    git_cmd("push", "-q", str(tmp_path / "bare.git"), "main", cwd=tmp_path / "work")
    result = invoke("registry", "lint", str(tmp_path / "bare.git"), "--base", "HEAD~1")
    assert result.exit_code == 3
    assert result.stdout.startswith("results/1/b1m2d1.yaml:1:1 DELETED result record deleted")


def test_empty_bare_repository(tmp_path, invoke, git_cmd):
    git_cmd("init", "-q", "--bare", str(tmp_path / "empty.git"))
    result = invoke("registry", "lint", str(tmp_path / "empty.git"))
    assert result.exit_code == 1
    assert "empty repository" in result.stderr
