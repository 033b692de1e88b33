"""`medperf-git storage ls|move|cleanup`: where this machine keeps data, MedPerf's spellings."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_git.cli._context import pass_workspace
from medperf_git.cli._options import json_option, yes_option
from medperf_git.cli._output import out


@click.command()
@json_option
@pass_workspace
def ls(ws, as_json):
    """Show the profile's folders: what lives where."""
    from medperf_git.flows.storage import folders

    rows = folders(ws)
    if as_json:
        out.json([{"name": f.name, "path": str(f.path), "holds": f.why} for f in rows])
        return
    out.table([(f.name, f.path, f.why) for f in rows], ["Folder", "Path", "Holds"])
    out.next_step("medperf-git storage move --target PATH", "to move the data folder to another disk")


@click.command()
@click.option("--target", "-t", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The new data folder: a new or empty folder, e.g. on a bigger disk.")
@yes_option
@pass_workspace
def move(ws, target, yes):
    """Move the data folder (prepared datasets, results, caches) to TARGET, and point the profiles at it."""
    from medperf_git.flows.dataset import Cancelled
    from medperf_git.flows.storage import move as flow

    if not out.confirm(f"Move {ws.data_root} to {Path(target).absolute()}?", yes=yes):
        raise Cancelled("nothing was moved")
    bar = _SizedBar()
    try:
        result = flow(ws, target, progress=bar, sized=bar.start)
    finally:
        bar.close()
    out.success(f"Moved {result.bytes / 2**20:.1f} MiB from {result.old} to {result.new}")
    out.info(f"Profiles using it now: {', '.join(result.profiles) or 'none'}")
    out.next_step("medperf-git storage ls")


class _SizedBar:
    """A progress bar whose size is known only once the flow has measured what it moves."""

    def __init__(self):
        self._bar = None

    def start(self, total: int) -> None:
        self._bar = out.progress(total, "Moving")

    def __call__(self, advance: int) -> None:
        if self._bar is not None:
            self._bar(advance)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@click.command()
@pass_workspace
def cleanup(ws):
    """Remove scratch folders: running tasks' tmp and what interrupted commands left half-made."""
    from medperf_git.flows.storage import cleanup as flow

    removed = flow(ws)
    for path in removed:
        out.info(f"Removed {path}")
    out.success(f"Cleaned up {len(removed)} folder(s)")
    out.next_step("medperf-git storage ls")
