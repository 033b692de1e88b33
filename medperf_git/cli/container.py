"""``container ls`` and ``container view``: the containers on the registry's main branch."""

from __future__ import annotations

import click

from medperf_git.cli._output import out
from medperf_git.cli._read import RecordKind, read_commands, show_record, warn_all


def _show(shown, as_json: bool) -> None:
    """The record, and whether its image pin was checked (with --json, in the added key image_pin_status)."""
    from medperf_git.flows.container import image_pin_status

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


ls, view = read_commands(RecordKind(
    "container", ("UID", "Name", "Owner", "Tasks", "State"),
    lambda r: [r.id, r.name, r.owner, ", ".join(r.tasks), r.state], lister="list_containers",
    ls_help="List the registry's containers.",
    filters=(click.option("-t", "--task", help="Only containers with this task (prepare, infer, evaluate, ...)."),),
    view_help="""Show one container's record.

    An image pin that the submitter's engine did not check is shown as unverified (with --json, in
    the added key image_pin_status, which is not part of the record).
    """, show=_show))
