"""``container ls`` and ``container view``: the containers on the registry's main branch."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_workspace
from medperf_git.cli._options import json_option
from medperf_git.cli._output import out

HEADERS = ("UID", "Name", "Owner", "Tasks", "State")


def _row(r) -> list:
    return [r.id, r.name, r.owner, ", ".join(r.tasks), r.state]


@click.command("ls")
@click.option("--mine", is_flag=True, help="Only the containers you own (your profile's handle).")
@click.option("--owner", metavar="HANDLE", help="Only the containers this person owns.")
@click.option("-n", "--name", help="Only names containing this (case-, '-' and '_'-insensitive).")
@click.option("-t", "--task", help="Only containers with this task (prepare, infer, evaluate, ...).")
@click.option("--state", type=click.Choice(["active", "retired"]), help="Only active or only retired containers.")
@json_option
@pass_workspace
def ls(ws, mine: bool, owner: str | None, name: str | None, task: str | None, state: str | None,
       as_json: bool) -> None:
    """List the registry's containers."""
    from medperf_git.cli._read import IndexProgress, show_listing
    from medperf_git.flows import catalog

    with IndexProgress(enabled=not as_json) as progress:
        listing = catalog.list_containers(ws, mine=mine, owner=owner, name=name, task=task, state=state,
                                          progress=progress)
    show_listing(listing, as_json, HEADERS, _row, "medperf-git container view ID", "see one container in full")


@click.command("view")
@click.argument("container_id", metavar="ID", type=int)
@json_option
@pass_workspace
def view(ws, container_id: int, as_json: bool) -> None:
    """Show one container's record.

    An image pin that the submitter's engine did not check is shown as unverified (with --json, in
    the added key image_pin_status, which is not part of the record).
    """
    from medperf_git.cli._read import IndexProgress, show_record, warn_all
    from medperf_git.flows import catalog
    from medperf_git.flows.container import image_pin_status

    with IndexProgress(enabled=not as_json) as progress:
        shown = catalog.view(ws, "container", container_id, progress=progress)
    status = image_pin_status(shown.record.data)
    if status is None or not as_json:
        show_record(shown, as_json)
    else:
        warn_all(shown.warnings)
        out.json({**shown.record.data, "image_pin_status": status[0]})
    if status is not None and status[1] is not None:
        out.warn(f"image pin unverified: {status[1]}")
    elif status is not None and not as_json:
        out.info("Image pin: checked by the submitter's engine at registration (self-reported)")
