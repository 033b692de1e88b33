"""A generated registry large enough for lint to use every core gives the same findings as one process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import medperf_git.lint.linter as linter
from medperf_git.registry.tree import FolderTree

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from gen_registry import generate_registry  # noqa: E402


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    path = tmp_path_factory.mktemp("big")
    generate_registry(path, 2500)
    return path


def test_generated_registry_is_valid(big):
    report = linter.lint(FolderTree(big))
    assert report.findings == []
    assert report.records == 2500


def test_parallel_and_single_process_agree(big, monkeypatch):
    (big / "containers" / "7.yaml").write_text("id: [\n")
    (big / "people" / "user1.yaml").unlink()
    try:
        parallel = linter.lint(FolderTree(big))
        monkeypatch.setattr(linter, "_POOL_MIN", 10**9)
        single = linter.lint(FolderTree(big))
    finally:
        (big / "containers" / "7.yaml").unlink()
    assert parallel == single
    assert any(f.text().startswith("containers/7.yaml:2:1 YAML") for f in parallel.findings)
    assert any(f.code == "UNKNOWN-REF" and "'user1'" in f.message for f in parallel.findings)
