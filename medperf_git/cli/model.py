"""``model ls`` and ``model view``: models are the registry's containers with an infer task."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_workspace
from medperf_git.cli._options import json_option

HEADERS = ("UID", "Name", "Owner", "Type", "State")


def _row(r) -> list:
    return [r.id, r.name, r.owner, "container", r.state]


@click.command("ls")
@click.option("--mine", is_flag=True, help="Only the models you own (your profile's handle).")
@click.option("--owner", metavar="HANDLE", help="Only the models this person owns.")
@click.option("-n", "--name", help="Only names containing this (case-, '-' and '_'-insensitive).")
@click.option("-b", "--benchmark", "--benchmark_uid", "--benchmark-uid", "benchmark", type=int, metavar="ID",
              help="Only the models of this benchmark (its reference model and approved associations).")
@click.option("--state", type=click.Choice(["active", "retired"]), help="Only active or only retired models.")
@json_option
@pass_workspace
def ls(ws, mine: bool, owner: str | None, name: str | None, benchmark: int | None, state: str | None,
       as_json: bool) -> None:
    """List the registry's models (containers with an infer task)."""
    from medperf_git.cli._read import IndexProgress, show_listing
    from medperf_git.flows import catalog

    with IndexProgress(enabled=not as_json) as progress:
        listing = catalog.list_models(ws, mine=mine, owner=owner, name=name, benchmark=benchmark, state=state,
                                      progress=progress)
    show_listing(listing, as_json, HEADERS, _row, "medperf-git model view ID", "see one model in full")


@click.command("view")
@click.argument("model_id", metavar="ID", type=int)
@json_option
@pass_workspace
def view(ws, model_id: int, as_json: bool) -> None:
    """Show one model's record."""
    from medperf_git.cli._read import IndexProgress, show_record
    from medperf_git.flows import catalog

    with IndexProgress(enabled=not as_json) as progress:
        shown = catalog.view(ws, "model", model_id, progress=progress)
    show_record(shown, as_json, f"medperf-git model associate --benchmark BENCHMARK --model {model_id}",
                "ask to join a benchmark")
