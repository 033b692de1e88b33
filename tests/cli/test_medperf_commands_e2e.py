"""The new commands end to end, on real registries and the local runner: exit codes and exact lines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from medperf_git.flows.session import RegistrySession
from medperf_git.flows.submission import open_submission
from medperf_git.records.yamlio import dump_yaml
from medperf_git.registry.git import GitRepo
from tests.attacks.hostile import tutorial_target
from tests.runners.runner_helpers import INFER_TASK, config_text
from tests.support.tutorial_registry import make_raw_data

pytestmark = [pytest.mark.unprivileged]


def test_auth_logout_status_login_and_a_newcomer(tmp_path, invoke):
    target = tutorial_target(tmp_path)
    with target.actors["testdo"].active():
        again = invoke("auth", "login", "-e", "testdo@example.org")
        assert again.exit_code == 0 and "signed in as 'testdo' (testdo@example.org) already" in again.stderr
        assert invoke("auth", "status").stdout.strip() == "Logged in user email address: testdo@example.org"
        assert invoke("auth", "logout").exit_code == 0
        assert invoke("auth", "status").stdout.strip() == "You are not logged in"
        back = invoke("auth", "login", "-e", "TestDo@Example.org")  # emails compare case-insensitively
        assert back.exit_code == 0 and "Logged in as 'testdo'" in back.stderr, back.output
        # Someone else's profile: logged in already as another person.
        other = invoke("auth", "login", "-e", "testbo@example.org")
        assert other.exit_code == 2 and "signed in as 'testdo' already" in other.stderr
        invoke("profile", "create", "-n", "newcomer")
        newcomer = invoke("--profile", "newcomer", "auth", "login", "-e", "jane.doe@hospital.example")
    assert newcomer.exit_code == 0, newcomer.output
    assert "Logged in as 'jane-doe'; your people record waits for the registry admins" in newcomer.stderr
    assert "Next step: medperf-git submission show 1" in newcomer.stderr
    bad = invoke("auth", "login", "-e", "not-an-email")
    assert bad.exit_code == 2 and "'not-an-email' is not an email address" in bad.stderr


def test_storage_move_and_cleanup(tmp_path, invoke, isolated_home):
    data = isolated_home / "data"
    (data / "registries" / "r" / "datasets" / "d1").mkdir(parents=True)
    (data / "registries" / "r" / "datasets" / "d1" / "x.npy").write_bytes(b"x" * 1000)
    (data / "registries" / "r" / "datasets" / ".staging-abc").mkdir()
    (data / "cache" / "venvs" / "v").mkdir(parents=True)
    (data / "tmp" / "task").mkdir(parents=True)
    cleaned = invoke("storage", "cleanup")
    assert cleaned.exit_code == 0 and "Cleaned up 2 folder(s)" in cleaned.stderr
    assert not (data / "tmp").exists() and not (data / "registries" / "r" / "datasets" / ".staging-abc").exists()
    target = tmp_path / "bigdisk" / "medperf"
    moved = invoke("storage", "move", "-t", target, "-y")
    assert moved.exit_code == 0, moved.output
    assert (target / "registries" / "r" / "datasets" / "d1" / "x.npy").read_bytes() == b"x" * 1000
    assert not (target / "cache" / "venvs").exists() and not data.exists()  # environments are made again
    config = yaml.safe_load((isolated_home / "config.yaml").read_text())
    assert config["profiles"]["default"]["data_dir"] == str(target)
    assert str(target) in invoke("storage", "ls").stdout
    full = tmp_path / "full"
    (full / "something").mkdir(parents=True)
    refused = invoke("storage", "move", "-t", full, "-y")
    assert refused.exit_code == 2 and "must be a new or an empty folder" in refused.stderr


def test_association_ls_shows_mains_state_first(tmp_path, invoke):
    target = tutorial_target(tmp_path)
    with target.actors["testbo"].active():
        s = RegistrySession.load()
        path = "associations/1/model-4.yaml"
        current = yaml.safe_load(GitRepo(target.registry).read_path("refs/heads/main", path))
        change = {path: dump_yaml({**current, "priority": 5}).encode()}
        number = open_submission(s, change, "Priority 5", "association", merge=False).submission.number
        s.close()
        listed = invoke("association", "ls", "-bm")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if line.split()[:3] == ["1", "model", "4"])
    assert "approved" in row and f"#{number} (a change)" in row and "pending" not in row


@pytest.fixture
def prepared(tmp_path, invoke):
    """The tutorial registry (local runner) and a dataset prepared for benchmark 1: (target, its UID)."""
    target = tutorial_target(tmp_path, runner="local", python=sys.executable)
    raw = make_raw_data(tmp_path / "raw", count=4)
    with target.actors["testdo"].active():
        made = invoke("dataset", "create", "--name", "d", "--data_path", raw / "images", "--labels_path",
                      raw / "labels", "--benchmark", "1")
    assert made.exit_code == 0, made.output
    return target, made.stdout.split("Generated UID: ")[1].split()[0]


def test_a_failed_tasks_log_stays_where_the_error_says(prepared, tmp_path, invoke):
    target, uid = prepared
    folder = tmp_path / "broken"
    (folder / "project").mkdir(parents=True)
    (folder / "project" / "task.py").write_text("import sys\nprint('loading weights')\nsys.exit('no weights')\n")
    (folder / "container_config.yaml").write_text(config_text(INFER_TASK))
    (folder / "parameters.yaml").write_text("{}\n")
    with target.actors["testdo"].active():
        failed = invoke("test", "run", "-b", "1", "-d", uid[:8], "-m", folder / "container_config.yaml")
    assert failed.exit_code == 5, failed.output
    log = Path(next(word for word in failed.stderr.split() if word.endswith("infer.log")))
    assert log.is_file() and "no weights" in log.read_text()


def test_test_run_keys_its_cache_on_the_runner_and_no_cache_keeps_the_report(prepared, tmp_path, invoke):
    target, uid = prepared
    with target.actors["testdo"].active():
        first = invoke("test", "run", "-b", "1", "-d", uid[:8])
        assert first.exit_code == 0, first.output
        key = yaml.safe_load(first.stdout)["test"]
        cached = invoke("test", "run", "-b", "1", "-d", uid[:8])
        assert "its report is reused" in cached.stderr and yaml.safe_load(cached.stdout)["test"] == key
        report = RegistrySession.load().data_dir / "tests" / key / "report.yaml"
        before = report.read_text()
        broken = invoke("test", "run", "-b", "1", "-d", uid[:8], "--no-cache", "--python", tmp_path / "no-python")
        assert broken.exit_code != 0
        assert report.read_text() == before  # the failed re-run left the previous report in place
        elsewhere = invoke("--platform", "sandbox", "test", "run", "-b", "1", "-d", uid[:8], "--python",
                           tmp_path / "no-python")
    assert "its report is reused" not in elsewhere.stderr  # another runner: another test


def test_dataset_create_on_registered_data_names_the_dataset(prepared, tmp_path, invoke):
    target, uid = prepared
    raw = tmp_path / "raw"
    args = ["dataset", "create", "--name", "d", "--data_path", raw / "images", "--labels_path", raw / "labels",
            "--benchmark", "1"]
    with target.actors["testdo"].active():
        submitted = invoke("dataset", "submit", "--data_uid", uid[:8], "-y")
        assert submitted.exit_code == 0, submitted.output
        again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert f"These data are registered already as dataset 1 ('d', local UID {uid[:12]}); nothing was prepared " \
           "again" in again.stderr
    assert "Next step: medperf-git dataset associate --benchmark_uid 1 --data_uid 1" in again.stderr


def test_declining_says_cancelled_not_error(tmp_path, invoke):
    target = tutorial_target(tmp_path, runner="local", python=sys.executable)
    raw = make_raw_data(tmp_path / "raw", count=4)
    with target.actors["testdo"].active():
        registered = invoke("dataset", "submit", "-b", "1", "-d", raw / "images", "-l", raw / "labels", "--name", "d")
        uid = next(line[5:] for line in registered.stdout.splitlines() if line.startswith("UID: "))
        assert invoke("dataset", "prepare", "-d", uid[:8]).exit_code == 0
        declined = invoke("dataset", "set_operational", "-d", uid[:8], input="\n")
    assert declined.exit_code == 1
    assert "Cancelled: nothing was submitted." in declined.stderr and "Error" not in declined.stderr


def test_heartbeat_says_a_silent_task_is_still_running(monkeypatch, capsys):
    import time

    from medperf_git.cli._output import Heartbeat
    from medperf_git.flows._containers import RunSettings

    beat = Heartbeat(every=0.2)
    settings = beat.attach(RunSettings())
    settings.step("Preparing the data with container 1 (prepare)")
    time.sleep(0.7)
    settings.on_output("a line")
    beat.stop()
    err = capsys.readouterr().err
    assert "... Preparing the data with container 1 (prepare): still running (0m 0" in err


def test_the_scenarios_mock_configs_are_medperfs_format():
    from medperf_git.runners.config import parse_config

    for role in ("prep", "model", "metrics"):
        path = Path(__file__).resolve().parents[1] / "medperf_cli" / "mock_containers" / f"{role}.yaml"
        assert parse_config(yaml.safe_load(path.read_text()), str(path)).image == "IMAGE"
