"""Finding 4: an approval approves what the approver saw, never a head swapped in meanwhile."""

from __future__ import annotations

import pytest

from medperf_git.flows.session import RegistrySession
from medperf_git.flows.submission import open_submission
from tests.attacks.hostile import dataset, record, tutorial_target
from tests.support.tutorial_registry import commit_records

REQUEST = {"schema_version": 1, "kind": "association", "benchmark": 1, "dataset": 1, "initiated_by": "testdo"}


@pytest.fixture
def opened(tmp_path):
    """testdo's dataset 1 and its association request, which benchmark 1's owner testbo must approve."""
    target = tutorial_target(tmp_path)
    commit_records(target.registry, target.actors["testadmin"], {"datasets/1.yaml": dataset()}, "dataset 1")
    with target.actors["testdo"].active():
        sub = open_submission(RegistrySession.load(), {"associations/1/dataset-1.yaml": record(REQUEST).encode()},
                              "Associate dataset 1", "association").submission
    return target, sub.number, sub.head


def _swap(target, number: int, head: str) -> str:
    """The author pushes new content on the submission's head, by hand."""
    swapped = target.commit(target.tree(head, {"README.md": "# the author's own README\n"}), [head],
                            "More", "testdo")
    target.set_ref(f"refs/pull/{number}/head", swapped)
    return swapped


def test_a_head_swapped_after_review_show_is_not_approved(opened, invoke):
    target, number, head = opened
    before = target.main
    with target.actors["testbo"].active():
        shown = invoke("review", "show", str(number))
        assert shown.exit_code == 0 and head[:12] in shown.output
        swapped = _swap(target, number, head)
        refused = invoke("review", "approve", str(number), "-y")
    assert refused.exit_code != 0, refused.output
    assert "changed since you reviewed it" in refused.output and head[:12] in refused.output
    assert target.git("rev-parse", f"refs/pull/{number}/head") == swapped  # no approval was pushed
    assert target.main == before


def test_head_pins_what_a_script_approves(opened, invoke):
    target, number, head = opened
    swapped = _swap(target, number, head)
    with target.actors["testbo"].active():
        stale = invoke("review", "approve", str(number), "--head", head, "-y")
        assert stale.exit_code != 0 and "changed since you reviewed it" in stale.output
        bad = invoke("review", "approve", str(number), "--head", "not-a-sha", "-y")
        assert bad.exit_code == 2 and "--head" in bad.output
        current = invoke("review", "approve", str(number), "--head", swapped[:12], "-y")
    assert current.exit_code == 0 and "You are about to approve" in current.output, current.output


def test_without_review_show_the_command_shows_what_it_approves_even_with_y(opened, invoke):
    target, number, head = opened
    with target.actors["testbo"].active():
        approved = invoke("review", "approve", str(number), "-y")
    assert approved.exit_code == 0, approved.output
    assert "You are about to approve" in approved.output and "associations/1/dataset-1.yaml" in approved.output
    assert "Approved and merged" in approved.output


def test_a_second_request_for_the_same_association_is_refused(opened):
    from medperf_git.errors import UsageError

    target, number, _ = opened
    again = pytest.raises(UsageError, match=f"already requested in submission #{number}")
    with target.actors["testbo"].active(), again:
        open_submission(RegistrySession.load(), {"associations/1/dataset-1.yaml": record(
            dict(REQUEST, initiated_by="testbo")).encode()}, "Associate dataset 1 again", "association")
    assert target.git("for-each-ref", "--count=9", "refs/pull/").count("/meta") == 1
