"""``benchmark ls`` and ``benchmark view``: the benchmarks on the registry's main branch."""

from __future__ import annotations

import click

from medperf_git.cli._read import RecordKind, read_commands, shorten

HEADERS = ("UID", "Name", "Description", "Data Preparation Container", "Reference Model", "Metrics", "Owners",
           "State")


def _row(r) -> list:
    d = r.data
    return [r.id, r.name, shorten(d.get("description")), d.get("data_preparation"), d.get("reference_model"),
            d.get("metrics"), ", ".join(r.owners), r.state]


ls, view = read_commands(RecordKind(
    "benchmark", HEADERS, _row, lister="list_benchmarks",
    ls_help="List the registry's benchmarks.",
    filters=(click.option("-d", "--data_preparation", "--data-preparation", "data_preparation", type=int,
                          metavar="ID", help="Only benchmarks with this data preparation container."),),
    view_help="Show one benchmark's record.",
    view_next=("medperf-git dataset create --benchmark {id} --data_path DATA --labels_path LABELS --name NAME",
               "prepare your data for this benchmark")))
