"""Every workflow that `registry init --host github` writes, run as written, as a runner would: its run:
steps in order with bash, against a package index on 127.0.0.1 that serves the freshly built wheel (and
its dependencies, fetched once from the usual index into the CI cache), and with nothing else on PATH.
The pin is the wheel's sha256, so the install checks it; the bot mints its App token from the fake
GitHub and judges; publish lints and audits. A wrong hash stops the install."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from medperf_git import __version__

pytestmark = pytest.mark.slow
CACHE = Path(os.environ.get("MEDPERF_GIT_CI_CACHE", Path.home() / ".cache" / "medperf-git-ci"))
PYTHON = shutil.which("python3.11") or shutil.which("python3")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """A PEP 503 index on 127.0.0.1 (python's http.server listing folders): the new wheel, its dependencies."""
    from tests.packaging.test_wheel import copy_source

    source = copy_source(tmp_path_factory.mktemp("source"))
    built = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(built),
                           str(source)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = built.glob("medperf_git-*.whl")
    key = hashlib.sha256((Path(__file__).parents[2] / "pyproject.toml").read_bytes()).hexdigest()[:12]
    deps = CACHE / f"wheels-{key}"
    if not (deps / ".complete").exists():
        deps.mkdir(parents=True, exist_ok=True)
        got = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(deps),
                              "--only-binary", ":all:", "--python-version", "3.11", f"{wheel}[github]"],
                             capture_output=True, text=True, timeout=900)
        if got.returncode != 0:
            pytest.skip(f"the dependencies cannot be downloaded from the package index: {got.stderr.strip()[-300:]}")
        (deps / ".complete").write_text("")
    root = tmp_path_factory.mktemp("index")
    for file in [wheel, *deps.glob("*.whl")]:
        if file.name.startswith("medperf_git-") and file != wheel:
            continue
        folder = root / "simple" / _canonical(file.name.split("-")[0])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(file, folder / file.name)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/", hashlib.sha256(wheel.read_bytes()).hexdigest()
    server.shutdown()


class Runner:
    """What a GitHub-hosted runner gives a job: a checkout, RUNNER_TEMP, GITHUB_PATH, the event, bash."""

    def __init__(self, tmp: Path, server, index_url: str, secrets: dict[str, str]):
        self.tmp, self.server, self.index_url, self.secrets = tmp, server, index_url, secrets

    def expand(self, value: str, context: dict[str, str]) -> str:
        return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: context[m.group(1)], str(value))

    def job(self, workflow: dict, name: str, context: dict[str, str]) -> list[subprocess.CompletedProcess]:
        work = self.tmp / f"{name}-{len(list(self.tmp.iterdir()))}"
        subprocess.run(["git", "clone", "-q", self.server.git_url, str(work / "checkout")], check=True)
        temp, path_file, event = work / "temp", work / "github_path", work / "event.json"
        temp.mkdir()
        path_file.write_text("")
        event.write_text(json.dumps({"repository": {"full_name": self.server.full_name}}))
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(work), "RUNNER_TEMP": str(temp),
               "GITHUB_PATH": str(path_file), "GITHUB_EVENT_PATH": str(event), "LANG": "C.UTF-8",
               "GITHUB_REPOSITORY": self.server.full_name, "GITHUB_API_URL": self.server.base_url,
               "PIP_INDEX_URL": self.index_url, "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "",
               "PIP_EXTRA_INDEX_URL": "", "PIP_NO_CACHE_DIR": "1", "GIT_CONFIG_GLOBAL": os.devnull}
        done = []
        for step in workflow["jobs"][name]["steps"]:
            if "run" not in step:
                assert str(step.get("uses", "")).split("@")[0] in ("actions/checkout", "actions/upload-artifact")
                continue
            extra = {k: self.expand(v, context) for k, v in (step.get("env") or {}).items()}
            extra_path = ":".join(reversed(path_file.read_text().split()))
            step_env = {**env, **extra, "PATH": f"{extra_path}:{env['PATH']}" if extra_path else env["PATH"]}
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                                  cwd=work / "checkout", env=step_env, capture_output=True, text=True, timeout=900)
            done.append(proc)
            assert proc.returncode == 0, f"{name}: {step.get('name')}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        return done


@pytest.mark.skipif(PYTHON is None, reason="no python3 for the runner's virtual environments")
def test_every_workflow_installs_the_pinned_wheel_and_runs_its_command(index, tmp_path, invoke):
    from tests.github.conftest import APP_ID, make_app
    from tests.github.fake_github import FakeGitHub

    index_url, sha = index
    reg = tmp_path / "reg"
    pin = f"medperf-git[github]=={__version__} --hash=sha256:{sha}"
    made = invoke("registry", "init", str(reg), "--name", "gh", "--admin", "admin", "--admin-email",
                  "admin@example.org", "--host", "github", "--medperf-git", pin)
    assert made.exit_code == 0, made.stderr
    bare = tmp_path / "registry.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(reg), str(bare)], check=True)
    server = FakeGitHub(bare).start()
    try:
        app_key = make_app(server)
        runner = Runner(tmp_path / "runs", server, index_url, {})
        (tmp_path / "runs").mkdir()
        main = server.sha("refs/heads/main")
        head = _submission(bare, main)
        workflows = {p.name: yaml.safe_load(p.read_text()) for p in (reg / ".github" / "workflows").glob("*.yml")}
        validate = runner.job(workflows["medperf-git-validate.yml"], "validate", {
            "github.event.pull_request.base.sha": main, "github.event.pull_request.head.sha": head,
            "github.event.pull_request.number": "1"})
        assert "lint: valid" in validate[-1].stdout and "policy: Allowed (author: admin)" in validate[-1].stdout
        secrets = {"secrets.MEDPERF_GIT_APP_ID": str(APP_ID), "secrets.MEDPERF_GIT_APP_PRIVATE_KEY": app_key}
        bot = runner.job(workflows["medperf-git-policy-bot.yml"], "bot", secrets)
        assert "no open pull request into main" in bot[-1].stdout
        admin = server.add_user("ghp_installADMIN0123456789", "admin", 1, "admin")
        assert server.create_pull(admin, {"title": "Say less", "head": "submission", "base": "main"})[0] == 201
        bot = runner.job(workflows["medperf-git-policy-bot.yml"], "bot", secrets)  # the installed bot judges it
        assert "pull request #1: " in bot[-1].stdout, bot[-1].stdout
        assert server.latest_status(head, "medperf-git/policy") is not None  # its verdict, on the head
        assert app_key.splitlines()[1] not in bot[-1].stdout + bot[-1].stderr
        assert any(p.endswith("/access_tokens") for _, p, _ in server.requests)  # the token was minted in the job
        publish = runner.job(workflows["medperf-git-publish.yml"], "publish", {})
        assert "registry is valid" in publish[1].stdout
        bad = pin.replace(sha, "0" * 64)
        (reg / "registry.yaml").write_text((reg / "registry.yaml").read_text().replace(sha, "0" * 64))
        wrong = subprocess.run(["sh", "ci/install.sh"], cwd=reg, capture_output=True, text=True, timeout=900,
                               env={"PATH": "/usr/bin:/bin", "VENV": str(tmp_path / "venv"), "HOME": str(tmp_path),
                                    "PIP_INDEX_URL": index_url, "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "",
                                    "PIP_NO_CACHE_DIR": "1"})
        assert wrong.returncode == 1 and "HASHES" in wrong.stderr.upper() and bad
        assert not (tmp_path / "venv" / "bin" / "medperf-git").exists()
    finally:
        server.stop()


def _submission(bare: Path, main: str) -> str:
    """The admin's signed change to README.md, on a branch: a submission that policy allows."""
    from medperf_git.registry.commits import Identity, commit_changes
    from medperf_git.registry.git import GitRepo
    from medperf_git.workspace import Workspace

    key = Workspace.load().profile.signing_key
    repo = GitRepo(bare)
    head = commit_changes(repo, main, {"README.md": b"# gh\n"}, "Say less", Identity("admin", "admin@example.org",
                                                                                     key))
    repo.git("update-ref", "refs/heads/submission", head)
    return head
