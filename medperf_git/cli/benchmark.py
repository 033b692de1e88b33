"""``benchmark ls`` and ``benchmark view``: the benchmarks on the registry's main branch."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_workspace
from medperf_git.cli._options import json_option

HEADERS = ("UID", "Name", "Description", "Data Preparation Container", "Reference Model", "Metrics", "Owners",
           "State")


def _row(r) -> list:
    from medperf_git.cli._read import shorten

    d = r.data
    return [r.id, r.name, shorten(d.get("description")), d.get("data_preparation"), d.get("reference_model"),
            d.get("metrics"), ", ".join(r.owners), r.state]


@click.command("ls")
@click.option("--mine", is_flag=True, help="Only the benchmarks you own (your profile's handle).")
@click.option("--owner", metavar="HANDLE", help="Only the benchmarks this person owns.")
@click.option("-n", "--name", help="Only names containing this (case-, '-' and '_'-insensitive).")
@click.option("-d", "--data_preparation", "--data-preparation", "data_preparation", type=int, metavar="ID",
              help="Only benchmarks with this data preparation container.")
@click.option("--state", type=click.Choice(["active", "retired"]), help="Only active or only retired benchmarks.")
@json_option
@pass_workspace
def ls(ws, mine: bool, owner: str | None, name: str | None, data_preparation: int | None, state: str | None,
       as_json: bool) -> None:
    """List the registry's benchmarks."""
    from medperf_git.cli._read import IndexProgress, show_listing
    from medperf_git.flows import catalog

    with IndexProgress(enabled=not as_json) as progress:
        listing = catalog.list_benchmarks(ws, mine=mine, owner=owner, name=name, data_preparation=data_preparation,
                                          state=state, progress=progress)
    show_listing(listing, as_json, HEADERS, _row, "medperf-git benchmark view ID", "see one benchmark in full")


@click.command("view")
@click.argument("benchmark_id", metavar="ID", type=int)
@json_option
@pass_workspace
def view(ws, benchmark_id: int, as_json: bool) -> None:
    """Show one benchmark's record."""
    from medperf_git.cli._read import IndexProgress, show_record
    from medperf_git.flows import catalog

    with IndexProgress(enabled=not as_json) as progress:
        shown = catalog.view(ws, "benchmark", benchmark_id, progress=progress)
    show_record(shown, as_json, f"medperf-git dataset create --benchmark {benchmark_id} --data_path DATA "
                "--labels_path LABELS --name NAME", "prepare your data for this benchmark")
