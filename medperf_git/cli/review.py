"""`medperf-git review ...`: submissions that await your approval."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import json_option, yes_option
from medperf_git.cli._output import out


@click.command()
@json_option
@pass_session
def ls(s, as_json):
    """List open submissions that need your approval (not those you opened)."""
    from medperf_git.flows.review import awaiting_me

    found, offline = awaiting_me(s)
    if offline:
        out.warn(f"the registry cannot be reached ({offline}); showing the local copy")
    if as_json:
        out.json([a.to_dict() for a in found])
        return
    if not found:
        out.info("Nothing awaits your approval.")
        return
    out.table([(a.number, a.kind, a.author, a.title, "; ".join(a.needs)) for a in found],
              ["#", "kind", "author", "title", "needs"])
    out.next_step(f"medperf-git review show {found[0].number}")


@click.command()
@click.argument("number", type=int)
@json_option
@pass_session
def show(s, number, as_json):
    """Show submission NUMBER as an approver sees it."""
    from medperf_git.cli._submission_view import render_assessment
    from medperf_git.flows.review import show as flow

    assessment = flow(s, number)
    render_assessment(assessment, as_json)
    if not as_json and assessment.submission.state == "open":
        out.next_step(f"medperf-git review approve {number}", f"or `review reject {number} --reason TEXT`")


@click.command()
@click.argument("number", type=int)
@click.option("--head", "head", metavar="SHA",
              help="Approve only if the submission's head is still this commit (for scripts).")
@yes_option
@pass_session
def approve(s, number, head, yes):
    """Approve submission NUMBER with a signed commit; merge it when policy is then satisfied.

    The approval binds to the head you saw: the one `review show` displayed last (or --head); if the
    author changed the submission since, nothing is approved.
    """
    from medperf_git.cli._submission_view import render_assessment
    from medperf_git.flows.review import approve as flow, prepare_approval

    assessment = prepare_approval(s, number, head)
    click.echo("You are about to approve:", err=True)
    render_assessment(assessment, False, to_stderr=True)
    if not out.confirm(f"Approve submission #{number} with your signature?", yes=yes):
        out.info("Nothing was approved.")
        return
    result = flow(s, number, expected_head=assessment.submission.head, shown=assessment)
    if result.already_merged_by:
        out.success(f"Submission #{number} was merged meanwhile by {result.already_merged_by}")
    elif result.merged:
        out.success(f"Approved and merged submission #{number} as {result.submission.merged_commit[:12]}")
    else:
        out.success(f"Approved submission #{number}")
        for item in result.waiting:
            out.info(f"still missing: {item}")
    out.next_step("medperf-git review ls")


@click.command()
@click.argument("number", type=int)
@click.option("--reason", required=True, help="Why it is rejected (the author sees it).")
@yes_option
@pass_session
def reject(s, number, reason, yes):
    """Reject (close) submission NUMBER with a reason."""
    from medperf_git.flows.review import reject as flow

    if not out.confirm(f"Reject submission #{number}?", yes=yes):
        from medperf_git.flows.dataset import Cancelled

        raise Cancelled("nothing was rejected")
    sub = flow(s, number, reason)
    out.success(f"Rejected submission #{sub.number}: {sub.close_reason}")
    out.next_step("medperf-git review ls")

