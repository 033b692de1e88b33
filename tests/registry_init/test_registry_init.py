import subprocess

import yaml

from medperf_git.records.schemas import validate
from medperf_git.workspace import Workspace


def _git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_init_creates_a_signed_valid_registry(invoke, tmp_path):
    path = tmp_path / "reg"
    result = invoke("registry", "init", str(path), "--name", "chestxray-community", "--admin", "admin",
                    "--admin", "second", "--admin-name", "Registry Admin", "--admin-email", "admin@example.org")
    assert result.exit_code == 0, result.output
    assert "Next step:" in result.stderr
    assert "Admin 'second' must still register" in result.stderr
    registry = yaml.safe_load((path / "registry.yaml").read_text())
    assert registry["admins"] == ["admin", "second"]
    assert validate("registry", registry) == []
    person = yaml.safe_load((path / "people" / "admin.yaml").read_text())
    assert validate("person", person) == []
    assert person["keys"][0].startswith("ssh-ed25519 ")
    for folder in ("containers", "benchmarks", "datasets", "associations", "results"):
        assert (path / folder / ".gitkeep").exists()
    assert "medperf-git registry" in (path / "README.md").read_text()
    # The first commit is signed with the admin's SSH key, which the profile now uses.
    ws = Workspace.load()
    assert ws.profile.handle == "admin"
    assert ws.profile.registry == str(path)
    raw = _git("cat-file", "commit", "main", cwd=path)
    assert "-----BEGIN SSH SIGNATURE-----" in raw
    assert _git("log", "--format=%an <%ae>", cwd=path) == "Registry Admin <admin@example.org>"
    assert _git("status", "--porcelain", cwd=path) == ""
    # A new registry lints clean; the admin who has not registered yet is a warning, not an error.
    lint = invoke("registry", "lint", str(path))
    assert lint.exit_code == 0, lint.output
    assert "registry.yaml:6:3 ADMIN-UNREGISTERED admins.1: admin 'second' has not registered yet" in lint.stdout


def test_init_bare_is_group_shared(invoke, tmp_path):
    path = tmp_path / "share" / "registry.git"
    result = invoke("registry", "init", str(path), "--name", "share", "--admin", "admin",
                    "--admin-email", "admin@example.org", "--bare")
    assert result.exit_code == 0, result.output
    assert _git("config", "core.sharedRepository", cwd=path) in ("1", "group")
    assert _git("rev-parse", "--is-bare-repository", cwd=path) == "true"
    files = _git("ls-tree", "-r", "--name-only", "main", cwd=path).splitlines()
    assert "registry.yaml" in files and "people/admin.yaml" in files


def test_init_refuses_existing_registry_and_non_empty_folder(invoke, tmp_path):
    path = tmp_path / "reg"
    args = ("--name", "x", "--admin", "admin", "--admin-email", "a@example.org")
    assert invoke("registry", "init", str(path), *args).exit_code == 0
    again = invoke("registry", "init", str(path), *args)
    assert again.exit_code == 1
    assert "already a registry" in again.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    result = invoke("registry", "init", str(other), *args)
    assert result.exit_code == 1 and "not empty" in result.stderr
    assert (other / "notes.txt").read_text() == "keep me"


def test_init_bad_input(invoke, tmp_path):
    result = invoke("registry", "init", str(tmp_path / "r"), "--name", "x", "--admin", "Bad_Handle",
                    "--admin-email", "a@example.org")
    assert result.exit_code == 2 and "invalid handle 'Bad_Handle'" in result.stderr
    result = invoke("registry", "init", str(tmp_path / "r"), "--name", "x", "--admin", "admin")
    assert result.exit_code == 2 and "--admin-email" in result.stderr
    assert not (tmp_path / "r").exists()
