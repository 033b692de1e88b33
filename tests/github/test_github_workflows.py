"""The registry workflows: valid GitHub workflow files, and safe by construction."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

from medperf_git.forges._github_setup import WORKFLOWS, registry_files

DATA = resources.files("medperf_git").joinpath("data", "github", "workflows")


def _load(name: str) -> dict:
    return yaml.safe_load(DATA.joinpath(name).read_text())


def _triggers(wf: dict) -> dict:
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True
    return on if isinstance(on, dict) else {t: None for t in ([on] if isinstance(on, str) else on)}


def _check_jsonschema() -> str | None:
    found = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name("check-jsonschema"))
    return found if Path(found).exists() else None


@pytest.mark.skipif(_check_jsonschema() is None, reason="check-jsonschema is not installed (pip install -e '.[test]')")
def test_workflows_are_valid_github_workflow_files(tmp_path):
    paths = []
    for name in WORKFLOWS:
        path = tmp_path / name
        path.write_bytes(DATA.joinpath(name).read_bytes())
        paths.append(str(path))
    proc = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", *paths],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 and "schema" in proc.stderr.lower() and "load" in proc.stderr.lower():
        pytest.skip(f"check-jsonschema cannot load its builtin schema: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_workflow_runs_pull_request_code_with_secrets_or_a_write_token():
    for name in WORKFLOWS:
        wf = _load(name)
        text = DATA.joinpath(name).read_text()
        triggers = _triggers(wf)
        assert "pull_request_target" not in triggers, name
        perms = wf.get("permissions")
        assert perms == {} or perms == {"contents": "read"}, f"{name}: permissions {perms}"
        for job_name, job in wf["jobs"].items():
            assert "permissions" not in job or all(v in ("read", "none") for v in job["permissions"].values())
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("actions/checkout"):
                    args = step.get("with") or {}
                    assert args.get("persist-credentials") is False, f"{name}/{job_name} keeps the token"
                    ref = str(args.get("ref", ""))
                    assert "head" not in ref and "workflow_run" not in ref, f"{name}: checks out a PR head"
        if "pull_request" in triggers or "pull_request_review" in triggers or "issue_comment" in triggers:
            assert "secrets." not in text, f"{name} runs on pull request events and must not see secrets"


def test_the_bot_runs_from_main_only_and_never_executes_the_submission():
    wf = _load("medperf-git-policy-bot.yml")
    assert set(_triggers(wf)) == {"workflow_run"}
    steps = wf["jobs"]["bot"]["steps"]
    checkout = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout")]
    assert len(checkout) == 1 and checkout[0]["with"]["ref"] == "main"
    runs = " ".join(str(s.get("run", "")) for s in steps)
    assert "medperf-git ci bot --event" in runs and "git checkout" not in runs
    assert wf["concurrency"]["cancel-in-progress"] is False  # merges are serialised
    secrets = [s for s in steps if "secrets." in yaml.safe_dump(s)]
    assert [list(s["env"]) for s in secrets] == [["MEDPERF_GIT_GITHUB_TOKEN"]]


def test_validate_installs_the_medperf_git_pinned_by_the_base_branch():
    wf = _load("medperf-git-validate.yml")
    runs = "\n".join(str(s.get("run", "")) for s in wf["jobs"]["validate"]["steps"])
    assert 'git show "$BASE_SHA:registry.yaml"' in runs and "medperf_git" in runs
    assert "medperf-git ci check . --base" in runs


def test_registry_init_host_github_adds_the_workflows_and_lints_clean(tmp_path, invoke):
    path = tmp_path / "reg"
    result = invoke("registry", "init", str(path), "--name", "gh-registry", "--admin", "admin",
                    "--admin-email", "admin@example.org", "--host", "github")
    assert result.exit_code == 0, result.stderr
    for name in registry_files():
        assert (path / name).exists(), name
    assert yaml.safe_load((path / "registry.yaml").read_text())["host"] == "github"
    lint = invoke("registry", "lint", str(path))
    assert lint.exit_code == 0, lint.stdout + lint.stderr


def test_registry_init_checks_the_github_settings_given_a_token(tmp_path, invoke, monkeypatch):
    from tests.github.fake_github import FakeGitHub

    server = FakeGitHub(tmp_path).start()
    try:
        server.add_user("ghp_settingsTOKEN0123456789", "admin", 1)
        server.repo_settings["allow_squash_merge"] = True
        monkeypatch.setenv("MEDPERF_GIT_GITHUB_TOKEN", "ghp_settingsTOKEN0123456789")
        result = invoke("registry", "init", str(tmp_path / "reg"), "--name", "gh-registry", "--admin", "admin",
                        "--admin-email", "admin@example.org", "--host", "github", "--github-repository",
                        server.full_name, "--github-api-url", server.base_url)
        assert result.exit_code == 0, result.stderr
        text = result.stdout + result.stderr
        assert "squash and rebase merges disabled: NOT SET" in text
        assert "visibility: ok" in text and "ruleset on main: no force pushes: NOT SET" in text
        assert "ghp_settingsTOKEN0123456789" not in text
        from medperf_git.forges._github_setup import check_settings

        server.repo_settings["allow_squash_merge"] = False
        # A ruleset that exists but only blocks force pushes: the bot is not the only one to update main.
        ruleset = {"id": 7, "name": "main", "target": "branch", "enforcement": "active",
                   "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
                   "rules": [{"type": "non_fast_forward"}], "bypass_actors": []}
        server.rulesets.append(ruleset)
        checks = {c.name: c.ok for c in check_settings(server.full_name, "ghp_settingsTOKEN0123456789",
                                                        server.base_url, throttle=False)}
        assert checks["ruleset on main: no force pushes"] and not checks["ruleset on main: only the bot updates it"]
        ruleset["rules"].append({"type": "update"})
        ruleset["bypass_actors"] = [{"actor_id": 99, "actor_type": "Integration", "bypass_mode": "always"}]
        checks = check_settings(server.full_name, "ghp_settingsTOKEN0123456789", server.base_url, throttle=False)
        assert all(c.ok for c in checks), [c.to_dict() for c in checks]
    finally:
        server.stop()


def _step(workflow: str, job: str, name: str) -> str:
    steps = _load(workflow)["jobs"][job]["steps"]
    return next(s["run"] for s in steps if s.get("name") == name)


def _run(script: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    import os

    full = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **env}
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=300)


def test_the_workflow_scripts_run_on_a_registry_checkout(tmp_path, invoke):
    """The run: scripts of validate and publish, executed as the runner would (medperf-git on PATH)."""
    from medperf_git.registry.git import GitRepo

    path = tmp_path / "reg"
    assert invoke("registry", "init", str(path), "--name", "gh-registry", "--admin", "admin",
                  "--admin-email", "admin@example.org", "--host", "github").exit_code == 0
    repo = GitRepo(path)
    base = repo.rev_parse("HEAD")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    env = {"RUNNER_TEMP": str(temp), "BASE_SHA": base, "HEAD_SHA": base}
    install = _step("medperf-git-validate.yml", "validate", "Install the medperf-git pinned by the base branch's "
                                                                     "registry.yaml")
    extract = install.split("pip install pyyaml")[0] + install.split("pip install pyyaml")[1].split(
        "pip install --requirement")[0]
    proc = _run(extract, path, env)
    assert proc.returncode == 0, proc.stderr
    assert (temp / "requirement.txt").read_text().strip().startswith("medperf-git==")
    publish = _run("\n".join(_step("medperf-git-publish.yml", "publish", n) for n in
                             ("Full lint", "Audit the signed history", "Build the index")), path, env)
    assert publish.returncode == 0, publish.stdout + publish.stderr
    assert (path / "index.sqlite").stat().st_size > 0
