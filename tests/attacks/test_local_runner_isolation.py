"""A hostile container hunts for the user's signing key: through the environment, HOME and its mounts.

The container is a tiny Python project with a container_config.yaml, as a model owner would publish it.
Its task looks for private keys through ``$MEDPERF_GIT_HOME``, ``$HOME/.medperf_git``, ``$HOME/.ssh``,
``$SSH_AUTH_SOCK``, every folder it is given, and one absolute path its author guessed right, and writes
what it found to its output. The victim has a workspace key (``keys/alice``), a profile key in ``~/.ssh``,
an SSH agent socket and GIT_* variables set.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
import yaml

from medperf_git.errors import UsageError
from medperf_git.registry.signing import generate_key
from medperf_git.runners import RunOptions, load_config, resolve_container, run_task
from tests.conftest import needs
from tests.runners.runner_helpers import INFER_TASK, config_text, runner_param
from tests.support.tutorial_registry import make_raw_data, seed_tutorial_registry

pytestmark = [needs("ssh-keygen")]

HUNT = """\
import glob, json, os, socket

env = dict(os.environ)
home = env.get("HOME", "/nonexistent")
guess = open(env["MP_VOL_PARAMETERS_FILE"]).read().split("guess:", 1)[1].strip().strip("'\\"")


def is_key(path):
    try:
        with open(path, errors="replace") as handle:
            return "PRIVATE KEY" in handle.read(100000)
    except OSError:
        return False


def agent(path):
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
        return True
    except OSError:
        return False


mounted = [os.path.join(root, name) for label, folder in env.items() if label.startswith("MP_VOL_")
           for root, _, names in os.walk(folder) for name in names]
tries = {
    "MEDPERF_GIT_HOME": glob.glob(os.path.join(env.get("MEDPERF_GIT_HOME", "/nonexistent"), "keys", "*", "id_*")),
    "HOME": glob.glob(os.path.join(home, ".medperf_git", "keys", "*", "id_*"))
    + glob.glob(os.path.join(home, ".ssh", "*")),
    "mounts": mounted,
    "absolute path": [guess],
}
report = {
    "leads": sorted(k for k in env if k.startswith(("MEDPERF_GIT", "GIT_", "SSH_", "GNUPG", "GPG_"))),
    "found": {how: sorted(p for p in paths if is_key(p)) for how, paths in tries.items()},
    "agent": "SSH_AUTH_SOCK" in env and agent(env["SSH_AUTH_SOCK"]),
    "home": home, "home_files": sorted(os.listdir(home)) if os.path.isdir(home) else None,
    "tmp": env.get("TMPDIR", "/tmp"),
}
with open(os.path.join(env["MP_VOL_OUTPUT_PATH"], "found.json"), "w") as out:
    json.dump(report, out)
"""

NOTHING = {"MEDPERF_GIT_HOME": [], "HOME": [], "mounts": [], "absolute path": []}


@pytest.fixture
def victim(isolated_home, tmp_path, monkeypatch):
    """The user's keys where medperf-git keeps them, an agent, git variables: all a hostile task wants."""
    workspace_key = generate_key(isolated_home / "keys" / "alice" / "id_ed25519", "alice@medperf-git")
    profile_key = generate_key(isolated_home.parent / ".ssh" / "id_ed25519", "alice@laptop")
    (isolated_home / "config.yaml").write_text(yaml.safe_dump({"active_profile": "work", "profiles": {
        "work": {"handle": "alice", "signing_key": str(workspace_key)},
        "laptop": {"handle": "alice", "signing_key": str(profile_key)}}}))
    agent = socket.socket(socket.AF_UNIX)
    agent.bind(str(tmp_path / "agent.sock"))
    agent.listen()
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    monkeypatch.setenv("GIT_SSH_COMMAND", f"ssh -i {workspace_key}")
    monkeypatch.setenv("GNUPGHOME", str(isolated_home.parent / ".gnupg"))
    yield {"workspace": workspace_key, "profile": profile_key, "home": isolated_home}
    agent.close()


def hostile_container(folder: Path) -> Path:
    (folder / "project").mkdir(parents=True)
    (folder / "project" / "task.py").write_text(HUNT)
    (folder / "container_config.yaml").write_text(config_text(INFER_TASK))
    return folder / "container_config.yaml"


def hunt(tmp_path: Path, runner: str, guess: Path, config: Path | None = None, **mounts: Path):
    """Run the hostile task; returns (its report, the lines it streamed)."""
    config = config or hostile_container(tmp_path / "hostile")
    container = resolve_container(load_config(config), cache_dir=tmp_path / "cache", parameters={"guess": str(guess)})
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "case1.txt").write_text("an image\n")
    given = {"data_path": data, "output_path": tmp_path / "out", **mounts}
    lines: list[str] = []
    run_task(container, "infer", given, RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work",
                                                   runner=runner, python=sys.executable, on_output=lines.append,
                                                   keep_tmp=True))
    return json.loads((given["output_path"] / "found.json").read_text()), lines


@pytest.mark.unprivileged
def test_under_local_no_variable_or_home_leads_to_the_keys(victim, tmp_path):
    report, lines = hunt(tmp_path, "local", guess=victim["workspace"])
    assert report["leads"] == [] and report["agent"] is False
    assert report["found"]["MEDPERF_GIT_HOME"] == [] and report["found"]["HOME"] == []
    assert report["found"]["mounts"] == []
    # HOME is a fresh, empty folder of the task's own, inside its scratch: not the user's, not /tmp itself.
    assert Path(report["home"]).parent == Path(report["tmp"]) and report["home_files"] == []
    assert Path(report["home"]).is_relative_to(tmp_path / "work")
    # Nothing is isolated under the local runner: a path guessed right is read like any of the user's files.
    # That is why `local` runs only when asked for by name, and warns at every task.
    assert report["found"]["absolute path"] == [str(victim["workspace"])]
    warnings = [line for line in lines if line.startswith("[medperf-git] warning: the local runner isolates nothing")]
    assert len(warnings) == 1 and "task 'infer'" in warnings[0]
    assert warnings[0] in (tmp_path / "logs" / "infer.log").read_text()


@pytest.mark.parametrize("runner", [runner_param("sandbox")])
def test_under_the_sandbox_the_key_cannot_be_read_at_all(runner, victim, tmp_path):
    report, lines = hunt(tmp_path, runner, guess=victim["workspace"])
    assert report["found"] == NOTHING and report["leads"] == [] and report["agent"] is False
    assert report["home"] == "/tmp/home" and report["home_files"] == []
    assert not any("isolates nothing" in line for line in lines)


@pytest.mark.parametrize("runner", ["local", runner_param("sandbox")])
@pytest.mark.parametrize("label, where", [
    ("data_path", "the workspace"),  # $MEDPERF_GIT_HOME itself
    ("data_path", "the keys folder"),
    ("data_path", "one person's keys"),
    ("data_path", "the profile key's folder"),  # ~/.ssh: only the profile's signing_key says it holds a key
    ("output_path", "the user's home"),  # an output would even be written to
])
def test_a_folder_that_would_expose_a_key_is_refused_before_anything_runs(runner, label, where, victim, tmp_path):
    home = victim["home"]
    folder = {"the workspace": home, "the keys folder": home / "keys", "one person's keys": home / "keys" / "alice",
              "the user's home": home.parent, "the profile key's folder": victim["profile"].parent}[where]
    before = {p: p.read_bytes() for p in (victim["workspace"], victim["profile"])}
    with pytest.raises(UsageError) as refused:
        hunt(tmp_path, runner, guess=tmp_path / "nothing", **{label: folder})
    message = refused.value.message
    assert f"the task's {label} ({folder})" in message and "signing keys" in message, message
    assert "give the task a folder of its own" in refused.value.hint
    assert not (tmp_path / "out" / "found.json").exists()  # the task never ran
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.unprivileged
def test_a_container_kept_beside_the_keys_is_refused(victim, tmp_path):
    """A config in the home folder makes the home the container's source folder: the keys would go along."""
    config = hostile_container(victim["home"].parent / "container")
    config.rename(victim["home"].parent / "container_config.yaml")
    (victim["home"].parent / "container" / "project").rename(victim["home"].parent / "project")
    with pytest.raises(UsageError, match=r"the task's source folder \(.*\) would give it your signing keys"):
        hunt(tmp_path, "local", guess=tmp_path / "nothing", config=victim["home"].parent / "container_config.yaml")


@pytest.mark.slow
@pytest.mark.unprivileged
def test_every_task_under_local_warns_that_nothing_is_isolated(invoke, tmp_path):
    """`dataset create` runs three tasks; the profile asks for local, and each task says what that means."""
    registry, actors, _ = seed_tutorial_registry(tmp_path, runner="local", python=sys.executable)
    raw = make_raw_data(tmp_path / "raw")
    with actors["testdo"].active():
        result = invoke("dataset", "create", "--name", "mine", "--description", "d", "--location", "here",
                        "--data_path", raw / "images", "--labels_path", raw / "labels", "--benchmark", "1")
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines()
              if line.startswith("Warning: the local runner isolates nothing: task ")]
    assert [line.split("'")[1] for line in warned] == ["prepare", "sanity_check", "statistics"], result.stderr
    assert "Traceback" not in result.output


def test_a_task_gets_none_of_the_callers_secret_variables(victim, tmp_path):
    """Variables a caller hands to run_task are filtered too: a key's path or an agent never reaches a task."""
    from medperf_git.runners._spec import build_spec

    container = resolve_container(load_config(hostile_container(tmp_path / "hostile")), cache_dir=tmp_path / "c",
                                 parameters={})
    (tmp_path / "data").mkdir()
    spec = build_spec(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out"},
                      RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work",
                                 env={"SSH_AUTH_SOCK": "/s", "GIT_DIR": "/g", "MEDPERF_GIT_HOME": "/h",
                                      "GNUPGHOME": "/k", "THRESHOLD": "0.5"}))
    for host_paths in (True, False):
        env = spec.environment(host_paths=host_paths)
        assert env["THRESHOLD"] == "0.5"
        assert not {"SSH_AUTH_SOCK", "GIT_DIR", "MEDPERF_GIT_HOME", "GNUPGHOME"} & set(env)
    assert env["HOME"] == "/tmp/home"
