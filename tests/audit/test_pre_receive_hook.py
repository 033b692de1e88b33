"""`registry init --host ssh`: the server's pre-receive hook refuses pushes to main that fail the audit."""

from __future__ import annotations

import subprocess

import pytest

from medperf_git.registry.commits import commit_changes
from medperf_git.registry.git import GitRepo, run_git
from tests.support.actors import make_actor


@pytest.fixture
def server(tmp_path, invoke):
    admin = make_actor(tmp_path, "admin")
    path = tmp_path / "server.git"
    with admin.active():
        result = invoke("registry", "init", str(path), "--name", "r", "--admin", "admin", "--admin-email",
                        "admin@example.org", "--bare", "--host", "ssh")
    assert result.exit_code == 0, result.output
    assert (path / "hooks" / "pre-receive").exists()
    work = tmp_path / "work.git"
    run_git("clone", "-q", "--bare", str(path), str(work))
    return path, GitRepo(work), admin, tmp_path


def push(work: GitRepo, server, sha: str, force: bool = False) -> subprocess.CompletedProcess:
    """A plain push: the server runs its hooks (as an SSH server would)."""
    args = ["push", str(server), f"{'+' if force else ''}{sha}:refs/heads/main"]
    return work.git(*args, check=False)


def test_admin_push_accepted_and_others_refused(server):
    path, work, admin, tmp = server
    main = work.rev_parse("refs/heads/main")
    ok = commit_changes(work, main, {"README.md": b"# r\n"}, "Admin edit", admin.identity)
    accepted = push(work, path, ok)
    assert accepted.returncode == 0, accepted.stderr
    eve = make_actor(tmp, "eve")
    bad = commit_changes(work, ok, {"README.md": b"# mine\n"}, "Not an admin", eve.identity)
    refused = push(work, path, bad)
    assert refused.returncode != 0 and "refused by the audit" in refused.stderr
    assert "UNKNOWN-KEY" in refused.stderr
    assert GitRepo(path).rev_parse("refs/heads/main") == ok


def test_force_push_refused(server):
    path, work, admin, _ = server
    main = work.rev_parse("refs/heads/main")
    first = commit_changes(work, main, {"README.md": b"# one\n"}, "One", admin.identity)
    assert push(work, path, first).returncode == 0
    other = commit_changes(work, main, {"README.md": b"# two\n"}, "Two", admin.identity)
    refused = push(work, path, other, force=True)
    assert refused.returncode != 0 and "cannot be rewritten" in refused.stderr
