"""Many writers at once: every submission merges with its own id, nobody is turned into an editor of
someone else's record, and two commands of one workspace do not trip over each other's refs.

Real processes, each with its own workspace, against one bare registry on disk (and, for one
workspace running two commands, the same clone).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from medperf_git.registry.git import GitRepo
from tests.submissions.helpers import assert_linear_history, merges_of
from tests.support.actors import seed_registry

SUBMITTERS = 16
SUBMIT = """
import sys
from medperf_git.flows.session import RegistrySession
from medperf_git.flows.submission import open_submission
from tests.submissions.helpers import container
handle, cid = sys.argv[1], int(sys.argv[2])
result = open_submission(RegistrySession.load(), {f"containers/{cid}.yaml": container(cid, handle)},
                         f"model {cid} of {handle}", "container")
print(result.submission.number, result.merged, result.waiting or "")
"""


def _start(actor, *argv: str) -> subprocess.Popen:
    env = dict(os.environ, MEDPERF_GIT_HOME=str(actor.home), PYTHONPATH=os.getcwd(), MEDPERF_GIT_NO_PROGRESS="1")
    return subprocess.Popen([sys.executable, *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_sixteen_people_submitting_the_same_id_at_once_all_merge_with_their_own(tmp_path, invoke):
    handles = ["admin"] + [f"writer{i}" for i in range(SUBMITTERS)]
    path, actors = seed_registry(tmp_path, handles)
    procs = {h: _start(actors[h], "-c", SUBMIT, h, "1") for h in handles[1:]}
    for handle, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{handle}: {err[-2000:]}"
        number, merged, waiting = out.split(" ", 2)
        assert merged == "True", f"{handle}: #{number} not merged: {waiting}"
    repo = GitRepo(path)
    owners = {}
    for entry in repo.ls_tree("refs/heads/main", ["containers/"]):
        if entry.path.endswith(".yaml"):
            record = yaml.safe_load(repo.read_blob(entry.sha))
            owners[record["id"]] = record["owner"]
    # Unique ids, none lost. Under contention some may be skipped, as a database's sequence skips the
    # ids of failed inserts: submission numbers are spread over a herd, and ids settle in their order.
    assert len(owners) == SUBMITTERS and min(owners) == 1
    assert sorted(owners.values()) == sorted(handles[1:])  # each submitter owns exactly one
    assert len(merges_of(path)) == SUBMITTERS
    assert_linear_history(path)
    with actors["admin"].active():
        assert json.loads(invoke("submission", "ls", "--state", "open", "--json").stdout)["submissions"] == []
        assert invoke("registry", "audit", str(path)).exit_code == 0
    clone = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(path), str(clone)], check=True)
    assert invoke("registry", "lint", str(clone)).exit_code == 0


def test_two_commands_of_one_workspace_at_once_both_succeed(tmp_path):
    """Two terminals (or the web app and the CLI): the same clone, fetching and pushing at the same time."""
    path, actors = seed_registry(tmp_path, ["admin", "bo"])
    bo = actors["bo"]
    first = _start(bo, "-m", "medperf_git", "benchmark", "ls")
    assert first.wait(timeout=120) == 0  # the clone exists; now two commands share it
    procs = [_start(bo, "-c", SUBMIT, "bo", str(n)) for n in (1, 2)]
    procs += [_start(bo, "-m", "medperf_git", "submission", "ls") for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        assert "cannot lock ref" not in err
    files = GitRepo(path).out("ls-tree", "--name-only", "refs/heads/main", "containers/").split()
    assert {"containers/1.yaml", "containers/2.yaml"} <= set(files)


def test_a_new_record_whose_id_was_taken_meanwhile_is_no_edit_of_the_other(tmp_path):
    """Policy answers "id taken: renumber", never "an edit of someone else's container, ask its owner"."""
    from medperf_git.policy.review import review_submission
    from tests.policy.policy_world import World, container, y

    world = World(tmp_path)
    mine = world.submit("mo", {"containers/5.yaml": y(container(5, "mo", "infer"))})  # id 5 was free then
    world.direct({"containers/5.yaml": y(dict(container(5, "bo", "infer"), name="bo's model"))}, "bo took 5")
    verdict = review_submission(world.repo, "refs/heads/main", mine).verdict
    assert [v.code for v in verdict.violations] == ["ID-TAKEN"] and not verdict.requirements
    assert "renumber" in (verdict.violations[0].hint or "")
    same = world.submit("mo", {"containers/6.yaml": y(container(6, "mo", "infer"))})
    world.direct({"containers/6.yaml": y(container(6, "mo", "infer"))}, "the same record, merged meanwhile")
    assert review_submission(world.repo, "refs/heads/main", same).verdict.violations == []


def test_a_merge_landing_between_listing_and_fetching_is_fetched_with_its_merged_event(tmp_path, monkeypatch):
    """The remote moves main and a submission's meta together after the fetch listed its refs: the
    merged event must come along with the main it records, or the audit would see a merge nobody
    recorded and refuse a perfectly good registry."""
    from medperf_git.flows.session import RegistrySession
    from medperf_git.registry import clone

    path, actors = seed_registry(tmp_path, ["admin", "al", "bo"])
    bo = actors["bo"]
    assert _start(bo, "-m", "medperf_git", "benchmark", "ls").wait(timeout=120) == 0
    first = _start(actors["al"], "-c", SUBMIT, "al", "1").communicate(timeout=300)  # main moves once...
    assert first[0].split()[1] == "True", first
    listing, moved = clone.remote_refs, []

    def someone_merges_right_after(*args, **kwargs):
        refs = listing(*args, **kwargs)
        if not moved:  # ... and again, right after bo's fetch listed the remote's refs
            moved.append(_start(actors["al"], "-c", SUBMIT, "al", "2").communicate(timeout=300))
        return refs

    monkeypatch.setattr(clone, "remote_refs", someone_merges_right_after)
    with bo.active():
        session = RegistrySession.load()
        session.fetch()
        assert moved and moved[0][0].split()[1] == "True", moved
        assert [session.forge.get(n).state for n in (1, 2)] == ["merged", "merged"]
        assert session.repo.rev_parse("refs/remotes/origin/main") == GitRepo(path).rev_parse("refs/heads/main")
