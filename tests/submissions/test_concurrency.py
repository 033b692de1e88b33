"""Real concurrent processes against one registry, on disk and served by ``git daemon``.

Each person runs in their own process with their own MEDPERF_GIT_HOME and key. Whatever the
interleaving: main's first-parent chain stays linear, no merge is lost, nothing is merged twice
and no submission number repeats.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from medperf_git.flows.person import register
from medperf_git.flows.session import RegistrySession
from medperf_git.registry.git import GitRepo
from medperf_git.workspace.config import Config
from tests.submissions.helpers import assert_linear_history, merges_of, pull_numbers
from tests.support.actors import make_actor, seed_registry

OPEN_SCRIPT = """
import sys
from medperf_git.flows.submission import open_submission
from medperf_git.flows.session import RegistrySession
from tests.submissions.helpers import container
handle = sys.argv[1]
changes = {"containers/1.yaml": container(1, handle)}
result = open_submission(RegistrySession.load(), changes, "model of " + handle, "container")
print(result.submission.number, result.merged, result.renumbered, result.waiting)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def git_daemon(tmp_path):
    """``git daemon`` serving tmp_path on 127.0.0.1, pushes enabled; stopped after the test."""
    port = _free_port()
    proc = subprocess.Popen(["git", "daemon", "--export-all", "--enable=receive-pack", f"--base-path={tmp_path}",
                             f"--port={port}", "--listen=127.0.0.1", "--reuseaddr", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("git daemon did not start")
    yield f"git://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["bare-path", "git-daemon"])
def world(request, tmp_path):
    """(registry path on disk, {handle: actor}) with every profile pointing at the chosen transport."""
    handles = ["admin", "admin2", "bo", "mo", "do", "eve"]
    path, actors = seed_registry(tmp_path, handles, admins=["admin", "admin2"])
    newcomers = {h: make_actor(tmp_path, h, str(path)) for h in ("p1", "p2", "p3")}
    actors.update(newcomers)
    if request.param == "git-daemon":
        if shutil.which("git") is None:
            pytest.skip("git is not installed")
        url = request.getfixturevalue("git_daemon") + "/" + path.name
        for actor in actors.values():
            config = Config.load(actor.home / "config.yaml")
            config.profiles["default"].registry = url
            config.save()
    return path, actors


def _env(actor) -> dict[str, str]:
    env = dict(os.environ)
    env["MEDPERF_GIT_HOME"] = str(actor.home)
    env["PYTHONPATH"] = os.getcwd()
    return env


def _run_together(commands: list[tuple[object, list[str]]]) -> list[subprocess.CompletedProcess]:
    """Start every process, then wait for all: they race for the same refs."""
    procs = [subprocess.Popen(argv, env=_env(actor), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for actor, argv in commands]
    results = []
    for proc, (_, argv) in zip(procs, commands, strict=True):
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(argv, proc.returncode, out, err))
    return results


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "medperf_git", *args]


def _register(actor) -> int:
    with actor.active():
        result = register(RegistrySession.load(), handle=actor.handle, name=actor.name, email=actor.email,
                          key=actor.key)
    return result.opened.submission.number


def test_people_opening_at_once_get_distinct_numbers_and_ids(world):
    path, actors = world
    people = [actors[h] for h in ("bo", "mo", "do", "eve")]
    results = _run_together([(a, [sys.executable, "-c", OPEN_SCRIPT, a.handle]) for a in people])
    for result in results:
        assert result.returncode == 0, result.stderr
    # Distinct numbers, each merged exactly once; a herd that lost a number together spreads over the
    # next free ones, so numbers (and the ids that settle in their order) may skip one, never repeat.
    numbers = pull_numbers(path)
    assert len(numbers) == 4 and numbers[0] == 1
    merged = merges_of(path)
    assert sorted(merged) == numbers and all(len(m) == 1 for m in merged.values())
    files = GitRepo(path).out("ls-tree", "--name-only", "main", "containers/").split()
    assert len([f for f in files if f.endswith(".yaml")]) == 4
    assert_linear_history(path)


def test_two_approvers_merge_different_submissions_at_once(world):
    path, actors = world
    one, two = _register(actors["p1"]), _register(actors["p2"])
    results = _run_together([(actors["admin"], _cli("review", "approve", str(one), "-y")),
                             (actors["admin2"], _cli("review", "approve", str(two), "-y"))])
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "merged" in result.stderr
    merged = merges_of(path)
    assert sorted(merged) == [one, two] and all(len(m) == 1 for m in merged.values())
    assert_linear_history(path)
    main = GitRepo(path).out("ls-tree", "--name-only", "main", "people/").split()
    assert {"people/p1.yaml", "people/p2.yaml"} <= set(main)


def test_one_submission_approved_twice_at_once_merges_once(world):
    path, actors = world
    number = _register(actors["p3"])
    results = _run_together([(actors["admin"], _cli("review", "approve", str(number), "-y")),
                             (actors["admin2"], _cli("review", "approve", str(number), "-y"))])
    outcomes = []
    for result in results:
        # The loser either sees the merge already done, or is told clearly that it is merged.
        assert result.returncode in (0, 1), result.stderr
        outcomes.append(result.stderr)
    assert any("Approved and merged" in text for text in outcomes), outcomes
    merged = merges_of(path)
    assert list(merged) == [number] and len(merged[number]) == 1
    assert pull_numbers(path) == [number]
    assert_linear_history(path)
