"""Each submission, review and person command hands its options, one to one, to one flow call."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from medperf_git.flows.person import RegisterResult
from medperf_git.flows.review import ApproveResult
from medperf_git.flows.submission import OpenResult
from medperf_git.forges.base import Submission
from medperf_git.policy.assess import Assessment


def _sub(**kw) -> Submission:
    return Submission(number=3, title="t", author="mo", kind="registry", base="b" * 40, head="h" * 40, **kw)


def test_submission_ls_options(invoke):
    with mock.patch("medperf_git.flows.submission.list_submissions", autospec=True,
                    return_value=([_sub()], [], None)) as flow:
        result = invoke("submission", "ls", "--mine", "--state", "open", "--json")
    assert result.exit_code == 0, result.output
    assert flow.call_args.kwargs == {"mine": True, "state": "open"}
    assert '"number": 3' in result.stdout


def test_submission_withdraw_and_renumber_options(invoke):
    with mock.patch("medperf_git.flows.submission.withdraw", autospec=True,
                    return_value=_sub(state="closed", close_reason="why")) as flow:
        result = invoke("submission", "withdraw", "3", "--reason", "why", "-y")
    assert result.exit_code == 0 and flow.call_args.args[1:] == (3, "why")
    with mock.patch("medperf_git.flows.submission.renumber", autospec=True,
                    return_value=OpenResult(_sub(), merged=True, renumbered={"datasets/1.yaml": "datasets/2.yaml"})
                    ) as flow:
        result = invoke("submission", "renumber", "3")
    assert result.exit_code == 0 and flow.call_args.args[1:] == (3,)
    assert "datasets/1.yaml -> datasets/2.yaml" in result.stderr


def test_review_reject_and_approve_options(invoke):
    with mock.patch("medperf_git.flows.review.reject", autospec=True,
                    return_value=_sub(state="closed", close_reason="no")) as flow:
        result = invoke("review", "reject", "3", "--reason", "no", "-y")
    assert result.exit_code == 0 and flow.call_args.args[1:] == (3, "no")
    assessment = Assessment(_sub(), "m" * 40, None, [("A", "datasets/2.yaml")])
    with mock.patch("medperf_git.flows.review.prepare_approval", autospec=True, return_value=assessment) as prep, \
            mock.patch("medperf_git.flows.review.approve", autospec=True,
                       return_value=ApproveResult(_sub(), "a" * 40, waiting=["1 approval missing"])) as flow:
        result = invoke("review", "approve", "3", "--head", "h" * 12, "-y")
    assert result.exit_code == 0, result.output
    assert prep.call_args.args[1:] == (3, "h" * 12)
    assert flow.call_args.args[1:] == (3,) and flow.call_args.kwargs == {"expected_head": "h" * 40, "shown": assessment}
    assert "still missing: 1 approval missing" in result.stderr
    assert "You are about to approve" in result.stderr and "datasets/2.yaml" in result.stderr  # -y shows it too


def test_person_register_options(invoke, tmp_path):
    key = tmp_path / "key"
    key.write_text("x")
    opened = OpenResult(_sub(), merged=False, waiting="needs the admins")
    with mock.patch("medperf_git.flows.person.register", autospec=True,
                    return_value=RegisterResult("h", key, False, "SHA256:x", opened)) as flow:
        result = invoke("person", "register", "--handle", "h", "--name", "N", "--email", "e@example.org",
                        "--key", str(key))
    assert result.exit_code == 0, result.output
    kwargs = dict(flow.call_args.kwargs)
    assert callable(kwargs.pop("confirm"))
    assert kwargs == {"handle": "h", "name": "N", "email": "e@example.org", "key": Path(key)}
    assert "Opened submission #3 to register 'h'" in result.stderr
