"""`medperf-git submission ...`: your submissions (pull requests to the registry)."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import json_option, yes_option
from medperf_git.cli._output import out


@click.command()
@click.option("--mine", is_flag=True, help="Only submissions you opened.")
@click.option("--state", type=click.Choice(["open", "merged", "closed"]), help="Only submissions in this state.")
@json_option
@pass_session
def ls(s, mine, state, as_json):
    """List submissions, and prepared ones that have not reached the registry yet."""
    from medperf_git.flows.submission import list_submissions

    subs, pending, offline = list_submissions(s, mine=mine, state=state)
    if offline:
        out.warn(f"the registry cannot be reached ({offline}); showing the local copy")
    if as_json:
        out.json({"submissions": [s.to_dict() for s in subs], "outbox": [e.to_dict() for e in pending]})
        return
    rows = [(s.number, s.state, s.kind, s.author, s.title, s.events[0].at if s.events else "") for s in subs]
    out.table(rows, ["#", "state", "kind", "author", "title", "opened"])
    for entry in pending:
        out.warn(f"not sent yet: '{entry.title}' ({entry.kind}, prepared {entry.created})"
                 + (f": {entry.error}" if entry.error else "") + "; run the command that prepared it again")
    out.next_step("medperf-git submission show N", "records, checks and who must approve")


@click.command()
@click.argument("number", type=int)
@json_option
@pass_session
def show(s, number, as_json):
    """Show submission NUMBER: its records, lint findings, who must approve and what is missing."""
    from medperf_git.cli._submission_view import render_assessment
    from medperf_git.flows.submission import show_submission

    render_assessment(show_submission(s, number), as_json)
    if not as_json:
        out.next_step(f"medperf-git submission withdraw {number}", "if you no longer want it merged")


@click.command()
@click.argument("number", type=int)
@click.option("--reason", help="Why (recorded in the submission's history).")
@yes_option
@pass_session
def withdraw(s, number, reason, yes):
    """Withdraw (close) your submission NUMBER without merging it."""
    from medperf_git.flows.submission import withdraw as flow

    if not out.confirm(f"Withdraw submission #{number}?", yes=yes):
        from medperf_git.flows.dataset import Cancelled

        raise Cancelled("nothing was withdrawn")
    sub = flow(s, number, reason)
    out.success(f"Submission #{sub.number} is closed: {sub.close_reason}")
    out.next_step("medperf-git submission ls --mine")


@click.command()
@click.argument("number", type=int)
@pass_session
def renumber(s, number):
    """Move the new records of submission NUMBER to free ids (after an id collision) and re-sign."""
    from medperf_git.flows.submission import renumber as flow

    result = flow(s, number)
    if not result.renumbered:
        out.info(f"Submission #{number} has no id collision; nothing to renumber.")
    for old, new in result.renumbered.items():
        out.info(f"{old} -> {new}")
    if result.merged:
        out.success(f"Submission #{number} is merged")
        out.next_step("medperf-git submission ls --mine")
    else:
        out.info(result.waiting or "waiting for approvals")
        out.next_step(f"medperf-git submission show {number}")
