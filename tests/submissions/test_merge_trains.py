"""Merge trains: whoever wins the race to main merges the other waiting self-service submissions in the
same push, each judged on the main it lands on; nothing that needs an approval, that collides or that
fails lint rides along, and the audit accepts every merge of the train."""

from __future__ import annotations

import yaml

from medperf_git.flows.session import RegistrySession
from medperf_git.flows.submission import open_submission
from medperf_git.registry.git import GitRepo
from tests.submissions.helpers import assert_linear_history, container, merges_of
from tests.support.actors import seed_registry


def _open(actor, changes: dict[str, bytes], title: str, *, merge: bool = False, renumber: bool = True):
    with actor.active():
        return open_submission(RegistrySession.load(), changes, title, "container", merge=merge, renumber=renumber)


def test_the_winner_merges_the_waiting_submissions_in_one_push(tmp_path, invoke):
    path, actors = seed_registry(tmp_path, ["admin", "al", "bo", "cy"])
    waiting = [_open(actors[h], {f"containers/{n}.yaml": container(n, h)}, f"model of {h}").submission.number
               for n, h in ((1, "al"), (2, "bo"))]
    before = GitRepo(path).rev_parse("refs/heads/main")
    result = _open(actors["cy"], {"containers/3.yaml": container(3, "cy")}, "model of cy", merge=True)
    assert result.merged
    repo = GitRepo(path)
    pushed = repo.out("rev-list", "--first-parent", f"{before}..refs/heads/main").split()
    assert len(pushed) == 3  # cy's merge and the two riders, all in the one push that moved main
    assert sorted(merges_of(path)) == sorted([*waiting, result.submission.number])
    with actors["cy"].active():
        session = RegistrySession.load()
        session.fetch()
        for number in waiting:
            sub = session.forge.get(number)
            assert (sub.state, sub.merged_by) == ("merged", "cy")
        assert invoke("registry", "audit", str(path)).exit_code == 0
    assert_linear_history(path)


def test_what_needs_an_approval_collides_or_fails_lint_does_not_ride(tmp_path, invoke):
    from medperf_git.flows.person import register
    from tests.support.actors import make_actor

    path, actors = seed_registry(tmp_path, ["admin", "al", "bo", "cy", "di"])
    ed = make_actor(tmp_path, "ed", str(path))
    with ed.active():  # registration is closed: ed's person record waits for the admins
        needs_approval = register(RegistrySession.load(), handle="ed", name="Ed", email="ed@example.org")
    bo_first = _open(actors["bo"], {"containers/1.yaml": container(1, "bo")}, "bo's model")
    # al proposes bo's id as if both had picked it at the same moment (bo's is not merged yet)
    collides = _open(actors["al"], {"containers/1.yaml": container(1, "al")}, "al's model", renumber=False)
    same_name = _open(actors["di"], {"containers/4.yaml": container(4, "di", name="model-3-cy")}, "di's model")
    result = _open(actors["cy"], {"containers/3.yaml": container(3, "cy")}, "cy's model", merge=True)
    assert result.merged
    numbers = {"approval": needs_approval.opened.submission.number, "bo": bo_first.submission.number,
               "collides": collides.submission.number, "same name": same_name.submission.number}
    with actors["cy"].active():
        session = RegistrySession.load()
        session.fetch()
        states = {what: session.forge.get(n).state for what, n in numbers.items()}
        assert states == {"approval": "open", "bo": "merged", "collides": "open", "same name": "open"}
        assert invoke("registry", "audit", str(path)).exit_code == 0
    main = GitRepo(path)
    owners = {n: yaml.safe_load(main.read_path("refs/heads/main", f"containers/{n}.yaml"))["owner"] for n in (1, 3)}
    assert owners == {1: "bo", 3: "cy"}  # al's colliding record was neither merged over bo's nor renumbered by cy
    assert main.read_path("refs/heads/main", "people/ed.yaml") is None


def test_submissions_that_proposed_the_same_id_settle_on_distinct_ids_in_one_move_each(tmp_path):
    """The queue: the lowest number keeps its proposal, each next one takes the next free id, and every
    client computes the same answer, so nobody moves twice."""
    from medperf_git.flows.submission import renumber_submission

    handles = ["ann", "ben", "cat", "dan"]
    path, actors = seed_registry(tmp_path, ["admin", *handles])
    numbers = {h: _open(actors[h], {"containers/1.yaml": container(1, h)}, f"model of {h}",
                        renumber=False).submission.number for h in handles}
    moves = {}
    for h in reversed(handles):  # the order in which authors move does not matter
        with actors[h].active():
            moves[h] = renumber_submission(RegistrySession.load(), numbers[h], queue=True)
    assert moves == {"ann": {}, "ben": {"containers/1.yaml": "containers/2.yaml"},
                     "cat": {"containers/1.yaml": "containers/3.yaml"},
                     "dan": {"containers/1.yaml": "containers/4.yaml"}}
    with actors["ben"].active():
        again = renumber_submission(RegistrySession.load(), numbers["ben"], queue=True)
    assert again == {}  # settled: asking again moves nothing
    result = _open(actors["admin"], {"containers/9.yaml": container(9, "admin")}, "admin's model", merge=True)
    assert result.merged  # and its train carries all four, now that none collides
    ids = {yaml.safe_load(GitRepo(path).read_path("refs/heads/main", f"containers/{n}.yaml"))["owner"]: n
           for n in range(1, 5)}
    assert ids == {"ann": 1, "ben": 2, "cat": 3, "dan": 4}
