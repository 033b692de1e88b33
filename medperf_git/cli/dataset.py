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


def list_local(ws, as_json: bool) -> None:
    """The datasets prepared on this machine, with their registry ids once submitted."""
    from medperf_git.cli._output import out
    from medperf_git.flows.dataset import list_local as flow

    datasets = flow(ws)
    rows = [{"uid": d.uid, "name": d.info.get("name"), "benchmark": d.info.get("benchmark"),
             "registry_id": d.registry_id, "submission": d.info.get("submission"),
             "prepared_at": d.info.get("prepared_at")} for d in datasets]
    if as_json:
        out.json(rows)
        return
    out.table([(r["uid"], r["name"], r["benchmark"], r["registry_id"] if r["registry_id"] is not None else "-")
               for r in rows], ["UID", "Name", "Benchmark", "Registry ID"])
    unsubmitted = [r for r in rows if r["registry_id"] is None]
    if unsubmitted:
        out.next_step(f"medperf-git dataset submit --data_uid {unsubmitted[0]['uid']}")
    elif rows:
        out.next_step(f"medperf-git dataset associate --benchmark_uid {rows[0]['benchmark']} "
                      f"--data_uid {rows[0]['registry_id']}")


@click.command("ls")
@click.option("--local", is_flag=True, help="The datasets prepared on this machine (local UIDs).")
@click.option("--mine", is_flag=True, help="Only the datasets you own (your profile's handle).")
@click.option("--owner", metavar="HANDLE", help="Only the datasets this person owns.")
@click.option("-n", "--name", help="Only names containing this (case-, '-' and '_'-insensitive).")
@benchmark_option(required=False, help="Only datasets prepared for this benchmark.")
@click.option("-m", "--data_preparation", "--data-preparation", "data_preparation", type=int, metavar="ID",
              help="Only datasets prepared with this data preparation container.")
@json_option
@pass_workspace
def ls(ws, local: bool, mine: bool, owner: str | None, name: str | None, benchmark: int | None,
       data_preparation: int | None, as_json: bool) -> None:
    """List the datasets registered in the registry, or with --local those prepared here."""
    if local:
        list_local(ws, as_json)
        return
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
