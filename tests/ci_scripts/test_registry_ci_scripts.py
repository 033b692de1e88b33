"""ci/*.sh, the entry points a registry's CI runs, run for real on registries made by the test helpers.

Each script is started with `sh` as any CI would, with this environment's medperf-git on PATH, and
judged by its exit status: 0 clean, 2 usage, 3 lint errors, 4 refused by policy or audit findings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.policy.policy_world import World, dataset, y

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "ci"
BIN = Path(sys.executable).parent  # where this environment's medperf-git is


def run(script: str, *args: str, cwd: Path, path: str | None = None, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PATH": path or f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(["sh", str(CI / script), *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def checkout(world: World, tmp_path: Path) -> Path:
    path = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(world.path), str(path)], check=True)
    return path


def broken_dataset(did: int) -> dict:
    record = dataset(did, "do")
    del record["generated_uid"]
    return record


def eves_edit(world: World) -> dict:
    record = world.read("datasets/1.yaml")
    record["description"] = "not mine"
    return record


@pytest.mark.parametrize("script", sorted(p.name for p in CI.glob("*.sh") if not p.name.startswith("_")))
def test_every_script_is_strict_posix_sh_and_says_how_to_call_it(script, tmp_path):
    text = (CI / script).read_text(encoding="utf-8")
    assert text.startswith("#!/bin/sh\n") and "\nset -eu\n" in text
    assert subprocess.run(["sh", "-n", str(CI / script)]).returncode == 0
    shown = run(script, "--help", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith(f"Usage: sh ci/{script}"), shown.stderr
    assert "Exit status:" in shown.stdout


# -- validate.sh -----------------------------------------------------------------------------------


def test_validate_passes_a_self_service_submission(world, tmp_path):
    head = world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))})
    done = run("validate.sh", "refs/heads/main", head, cwd=tmp_path, REGISTRY=str(world.path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lint: valid" in done.stdout and "self-service" in done.stdout


def test_validate_takes_its_refs_from_the_environment_and_writes_findings(world, tmp_path):
    head = world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))})
    findings = tmp_path / "findings.json"
    done = run("validate.sh", cwd=world.path, BASE="refs/heads/main", HEAD=head, FINDINGS=str(findings))
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(findings.read_text())
    assert data["lint"]["valid"] and data["policy"]["mergeable"]


def test_validate_exits_3_on_lint_errors(world, tmp_path):
    head = world.submit("do", {"datasets/2.yaml": y(broken_dataset(2))})
    done = run("validate.sh", "refs/heads/main", head, cwd=tmp_path, REGISTRY=str(world.path))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "datasets/2.yaml" in done.stdout and "SCHEMA" in done.stdout


def test_validate_exits_4_when_policy_refuses(world, tmp_path):
    head = world.submit("eve", {"datasets/1.yaml": y(eves_edit(world))})
    done = run("validate.sh", "refs/heads/main", head, cwd=tmp_path, REGISTRY=str(world.path))
    assert done.returncode == 4, done.stdout + done.stderr
    assert "NOT-PERMITTED" in done.stdout


def test_validate_usage_errors_exit_2_and_show_how_to_call_it(world, tmp_path):
    missing = run("validate.sh", cwd=tmp_path)
    assert missing.returncode == 2
    assert "validate.sh: give BASE" in missing.stderr and "Usage: sh ci/validate.sh [BASE [HEAD]]" in missing.stderr
    assert run("validate.sh", "a", "b", "c", cwd=tmp_path).returncode == 2
    shown = run("validate.sh", "--help", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith("Usage: sh ci/validate.sh") and "FINDINGS" in shown.stdout


def test_a_missing_medperf_git_is_named(world, tmp_path):
    done = run("validate.sh", "main", cwd=tmp_path, path="/usr/bin:/bin")
    assert done.returncode == 1 and "medperf-git is not on PATH" in done.stderr and "ci/install.sh" in done.stderr


# -- audit.sh --------------------------------------------------------------------------------------


def test_audit_of_a_clean_main_exits_0(world, tmp_path):
    merged = world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))})
    world.merge(merged)
    done = run("audit.sh", cwd=checkout(world, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "registry is valid" in done.stdout


def test_audit_exits_4_on_a_commit_no_one_approved(world, tmp_path):
    world.direct({"datasets/1.yaml": y(eves_edit(world))}, "Edit someone else's dataset", who="eve")
    done = run("audit.sh", str(checkout(world, tmp_path)), cwd=tmp_path)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "registry is valid" in done.stdout and "NOT-ADMIN" in done.stdout  # lint passed, the audit did not


def test_audit_exits_3_on_lint_errors_and_still_audits(world, tmp_path):
    world.direct({"datasets/2.yaml": y(broken_dataset(2))}, "A broken record")
    done = run("audit.sh", cwd=checkout(world, tmp_path))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "SCHEMA" in done.stdout and "Audit failed" in done.stdout  # the audit ran all the same


def test_audit_usage_errors_exit_2(tmp_path):
    assert run("audit.sh", str(tmp_path / "nowhere"), cwd=tmp_path).returncode == 2
    assert run("audit.sh", "a", "b", cwd=tmp_path).returncode == 2


# -- bot.sh ----------------------------------------------------------------------------------------


@pytest.fixture
def gh(tmp_path):
    """A registry hosted on the fake GitHub, as the bot's own tests make it."""
    pytest.importorskip("github", reason="PyGithub is not installed (pip install -e '.[test]')")
    from tests.github.test_github_bot import Setup

    setup = Setup(tmp_path)
    yield setup
    setup.server.stop()


def run_bot(gh, number: int, tmp_path: Path) -> subprocess.CompletedProcess:
    """bot.sh on a workflow_run event for pull request ``number``, from a fresh checkout of main."""
    from tests.github.test_github_bot import BOT_TOKEN

    event = tmp_path / f"event-{number}.json"
    event.write_text(json.dumps(gh.event(number)))
    return run("bot.sh", str(event), cwd=checkout(gh.world, tmp_path / f"bot-{number}"),
               MEDPERF_GIT_GITHUB_TOKEN=BOT_TOKEN, GITHUB_API_URL=gh.server.base_url, REPOSITORY=gh.server.full_name)


def test_bot_merges_a_self_service_pull_request(gh, tmp_path):
    sub = gh.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    done = run_bot(gh, sub.number, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"pull request #{sub.number}: merged" in done.stdout and gh.server.pull(sub.number)["merged"]


def test_bot_reports_a_refusal_on_the_pull_request_and_exits_0(gh, tmp_path):
    sub = gh.submit("eve", {"datasets/1.yaml": y(eves_edit(gh.world))})
    done = run_bot(gh, sub.number, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"pull request #{sub.number}: refused" in done.stdout and not gh.server.pull(sub.number)["merged"]
    head = gh.server.pulls[sub.number]["head"]["sha"]
    assert gh.server.latest_status(head, "medperf-git/policy")["state"] == "failure"


def test_bot_usage_errors_exit_2(tmp_path):
    missing = run("bot.sh", str(tmp_path / "none.json"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr


# -- install.sh ------------------------------------------------------------------------------------

RECORDING_PYTHON = '#!/bin/sh\necho "$*" > "$CALLS"\n'


@pytest.fixture
def recording_python(tmp_path) -> tuple[Path, Path]:
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text(RECORDING_PYTHON)
    python.chmod(0o755)
    return python, tmp_path / "calls"


URL_PIN = "medperf-git[github] @ https://example.org/medperf_git-0.1.0-py3-none-any.whl#sha256=" + "a" * 64


def _pin(work: Path, pin: str) -> None:
    text = (work / "registry.yaml").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("medperf_git:")]
    (work / "registry.yaml").write_text("\n".join([*lines, f"medperf_git: '{pin}'"]) + "\n")


def test_install_reads_the_pin_at_the_base_not_the_submission(world, tmp_path, recording_python):
    python, calls = recording_python
    work = checkout(world, tmp_path)
    _pin(work, URL_PIN)
    subprocess.run(["git", "-C", str(work), "commit", "-qam", "pin", "--no-verify", "--no-gpg-sign"], check=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
                        "GIT_COMMITTER_EMAIL": "a@x"})
    _pin(work, "medperf-git[github] @ https://evil.example/x.whl#sha256=" + "e" * 64)
    at_base = run("install.sh", "HEAD", cwd=work, PYTHON=str(python), CALLS=str(calls))
    assert at_base.returncode == 0, at_base.stderr
    assert calls.read_text().strip() == f"-m pip install --quiet --disable-pip-version-check {URL_PIN}"
    from_file = run("install.sh", cwd=work, PYTHON=str(python), CALLS=str(calls))
    assert from_file.returncode == 0 and "evil.example" in calls.read_text()


def test_install_refuses_a_pin_without_a_hash(world, tmp_path, recording_python):
    python, calls = recording_python
    work = checkout(world, tmp_path)
    for pin in ("medperf-git==0.1.0", "medperf-git[github] @ https://example.org/x.whl",
                "medperf-git @ git+https://github.com/o/r@v1.0",
                "evil[github] @ https://e.org/x.whl#sha256=" + "a" * 64):
        _pin(work, pin)
        refused = run("install.sh", cwd=work, PYTHON=str(python), CALLS=str(calls))
        assert refused.returncode == 1 and "pinned by a hash" in refused.stderr, (pin, refused.stderr)
    assert not calls.exists()


def test_install_refuses_a_missing_or_option_like_pin(world, tmp_path, recording_python):
    python, calls = recording_python
    work = checkout(world, tmp_path)
    text = (work / "registry.yaml").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("medperf_git:")]
    (work / "registry.yaml").write_text("\n".join([*lines, "medperf_git: --index-url=https://evil.example"]) + "\n")
    refused = run("install.sh", cwd=work, PYTHON=str(python), CALLS=str(calls))
    assert refused.returncode == 1 and "names no medperf_git requirement pinned by a hash" in refused.stderr
    (work / "registry.yaml").write_text("\n".join(lines) + "\n")
    assert run("install.sh", cwd=work, PYTHON=str(python), CALLS=str(calls)).returncode == 1
    assert not calls.exists()
    assert run("install.sh", "no-such-ref", cwd=work, PYTHON=str(python), CALLS=str(calls)).returncode == 2
