"""``dataset ls`` and ``dataset view``: the datasets registered on the registry's main branch, and with
``--local`` those prepared on this machine."""

from __future__ import annotations

import click

from medperf_git.cli._options import benchmark_option
from medperf_git.cli._read import RecordKind, read_commands, shorten

HEADERS = ("UID", "Name", "Data Preparation Container UID", "Benchmark", "Owner", "Location")


def _row(r) -> list:
    d = r.data
    return [r.id, r.name, d.get("data_preparation"), d.get("benchmark"), r.owner, shorten(d.get("location"), 30)]


def _list_local(ws, as_json: bool) -> None:
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


ls, view = read_commands(RecordKind(
    "dataset", HEADERS, _row, lister="list_datasets",
    ls_help="List the datasets registered in the registry, or with --local those prepared here.",
    local=_list_local, local_help="The datasets prepared on this machine (local UIDs).",
    filters=(benchmark_option(required=False, help="Only datasets prepared for this benchmark."),
             click.option("-m", "--data_preparation", "--data-preparation", "data_preparation", type=int, metavar="ID",
                          help="Only datasets prepared with this data preparation container.")),
    state_filter=False,
    view_help="Show one registered dataset's record.",
    view_next=("medperf-git dataset associate --benchmark_uid BENCHMARK --data_uid {id}", "ask to join a benchmark")))
