"""Shared fixtures: an isolated home, git identity from the environment, real git repositories."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO_ROOT = Path(__file__).resolve().parent.parent
# Settings that describe this machine (set by scripts/setup_engines.sh), not a user's state.
MACHINE_SETTINGS = ("MEDPERF_GIT_BASE_IMAGE", "MEDPERF_GIT_CI_CACHE")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Point MEDPERF_GIT_HOME and HOME at temporary folders and isolate git from the host."""
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key.startswith("GIT_") or key.startswith("MEDPERF_GIT_") and key not in MACHINE_SETTINGS:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MEDPERF_GIT_HOME", str(home / ".medperf_git"))
    monkeypatch.setenv("MEDPERF_GIT_NO_PROGRESS", "1")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.org")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.org")
    return home / ".medperf_git"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def invoke(runner):
    """Run the CLI in-process through the real catch point (``cli.main``'s exit codes and messages)."""
    from medperf_git.cli._errors import run_cli
    from medperf_git.cli.main import cli

    def _invoke(*args: str, input: str | None = None) -> CliResult:
        with runner.isolation(input=input) as streams:
            code = run_cli(cli, [str(a) for a in args], prog_name="medperf-git")
        return CliResult(code, streams[0].getvalue().decode(), streams[1].getvalue().decode())

    return _invoke


def git(*args: str, cwd: Path | str | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def git_cmd():
    return git


def needs(executable: str) -> pytest.MarkDecorator:
    """Skip with the reason when a tool the test needs is missing on this machine."""
    return pytest.mark.skipif(shutil.which(executable) is None, reason=f"{executable} is not installed")
