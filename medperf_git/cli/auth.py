"""`medperf-git auth login|logout|status`: MedPerf's sign-in, as the registry's people records and SSH keys."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_session, pass_workspace
from medperf_git.cli._options import yes_option
from medperf_git.cli._output import out


@click.command()
@click.option("--email", "-e", required=True, help="Your email, as your people record in the registry has it.")
@yes_option
@pass_session
def login(s, email, yes):
    """Sign this profile in as the registered person with EMAIL; a newcomer is registered (a people record)."""
    from medperf_git.flows.dataset import AUDIENCE
    from medperf_git.flows.person import login as flow

    def confirm(record: dict) -> bool:
        out.info(f"Nobody in the registry has the email {email}: registering you as '{record['handle']}'.")
        out.preview(record, AUDIENCE)
        return out.confirm("Do you approve publishing your people record?", yes=yes, medperf_asks=False)

    result = flow(s, email=email, confirm=confirm)
    if result.already:
        out.info(f"Profile '{s.profile.name}' is signed in as '{result.handle}' ({email}) already.")
    elif result.registered is None:
        out.success(f"Logged in as '{result.handle}' ({email}) in profile '{s.profile.name}'")
    else:
        opened = result.registered.opened
        number = opened.submission.number if opened.submission else None
        if opened.merged:
            out.success(f"Registered and logged in as '{result.handle}' ({email}); submission {number} merged")
        else:
            out.success(f"Logged in as '{result.handle}'; your people record waits for the registry admins "
                        f"(submission {number})")
            out.next_step(f"medperf-git submission show {number}", "see who must approve")
            return
    out.next_step("medperf-git benchmark ls")


@click.command()
@pass_workspace
def logout(ws):
    """Sign this profile out: it no longer signs as anyone (your keys stay in the workspace)."""
    from medperf_git.flows.person import logout as flow

    who = flow(ws)
    out.success(f"Logged out of profile '{ws.profile.name}'" + (f" (was '{who}')" if who else ""))
    out.next_step("medperf-git auth login -e EMAIL")


@click.command()
@pass_session
def status(s):
    """Who this profile signs as."""
    from medperf_git.flows.person import status as flow

    handle, email = flow(s)
    if handle is None:
        out.echo("You are not logged in")
        out.next_step("medperf-git auth login -e EMAIL")
        return
    out.echo(f"Logged in user email address: {email or '(not in the registry yet)'}")
    out.info(f"Handle: {handle}; profile: {s.profile.name}")
