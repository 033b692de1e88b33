"""``dataset ls`` and ``dataset view``: the datasets registered on the registry's main branch.

``dataset ls`` is built from small parts (options, a row, a listing) so that the data owner's
``--local`` listing of prepared datasets can be added beside the registered one.
"""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_workspace
from medperf_git.cli._options import benchmark_option, json_option

HEADERS = ("UID", "Name", "Data Preparation Container UID", "Benchmark", "Owner", "Location")


def _row(r) -> list:
    from medperf_git.cli._read import shorten

    d = r.data
    return [r.id, r.name, d.get("data_preparation"), d.get("benchmark"), r.owner, shorten(d.get("location"), 30)]


def list_registered(ws, *, mine: bool, owner: str | None, name: str | None, benchmark: int | None,
                    data_preparation: int | None, as_json: bool) -> None:
    """The registered datasets, as a table or JSON."""
    from medperf_git.cli._read import IndexProgress, show_listing
    from medperf_git.flows import catalog

    with IndexProgress(enabled=not as_json) as progress:
        listing = catalog.list_datasets(ws, mine=mine, owner=owner, name=name, benchmark=benchmark,
                                        data_preparation=data_preparation, progress=progress)
    show_listing(listing, as_json, HEADERS, _row, "medperf-git dataset view ID", "see one dataset in full")


@click.command("ls")
@click.option("--mine", is_flag=True, help="Only the datasets you own (your profile's handle).")
@click.option("--owner", metavar="HANDLE", help="Only the datasets this person owns.")
@click.option("-n", "--name", help="Only names containing this (case-, '-' and '_'-insensitive).")
@benchmark_option(required=False, help="Only datasets prepared for this benchmark.")
@click.option("-m", "--data_preparation", "--data-preparation", "data_preparation", type=int, metavar="ID",
              help="Only datasets prepared with this data preparation container.")
@json_option
@pass_workspace
def ls(ws, mine: bool, owner: str | None, name: str | None, benchmark: int | None, data_preparation: int | None,
       as_json: bool) -> None:
    """List the datasets registered in the registry."""
    list_registered(ws, mine=mine, owner=owner, name=name, benchmark=benchmark, data_preparation=data_preparation,
                    as_json=as_json)


@click.command("view")
@click.argument("dataset_id", metavar="ID", type=int)
@json_option
@pass_workspace
def view(ws, dataset_id: int, as_json: bool) -> None:
    """Show one registered dataset's record."""
    from medperf_git.cli._read import IndexProgress, show_record
    from medperf_git.flows import catalog

    with IndexProgress(enabled=not as_json) as progress:
        shown = catalog.view(ws, "dataset", dataset_id, progress=progress)
    show_record(shown, as_json, f"medperf-git dataset associate --benchmark_uid BENCHMARK --data_uid {dataset_id}",
                "ask to join a benchmark")
