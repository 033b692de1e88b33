"""`medperf-git person register`: join a registry under a handle, with an SSH signing key."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import json_option, yes_option
from medperf_git.cli._output import out


@click.command()
@click.option("--handle", required=True, help="Your handle: lowercase letters, digits and inner dashes.")
@click.option("--name", required=True, help="Your name, as others will see it.")
@click.option("--email", required=True, help="Your email, as others will see it.")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False),
              help="An existing SSH private key to sign with (default: one is generated in the workspace).")
@yes_option
@json_option
@pass_session
def register(s, handle, name, email, key, yes, as_json):
    """Register yourself: opens the submission of people/HANDLE.yaml (admins approve it)."""
    from medperf_git.flows.dataset import AUDIENCE
    from medperf_git.flows.person import register as flow

    def confirm(record: dict) -> bool:
        if as_json and yes:
            return True
        out.preview(record, AUDIENCE)
        return out.confirm("Do you approve publishing your people record?", yes=yes)

    result = flow(s, handle=handle, name=name, email=email, key=key, confirm=confirm)
    if as_json:
        out.json(result.to_dict())
        return
    if result.key_generated:
        out.info(f"Generated your signing key ({result.fingerprint}); it stays in {result.key.parent}")
    number = result.opened.submission.number if result.opened.submission else None
    if result.opened.merged:
        out.success(f"Registered as '{handle}' (submission #{number} merged: this registry has open registration)")
        out.next_step("medperf-git benchmark ls")
    else:
        out.success(f"Opened submission #{number} to register '{handle}'")
        out.info(result.opened.waiting or "the registry admins approve it")
        out.next_step(f"medperf-git submission show {number}", "see who must approve")
