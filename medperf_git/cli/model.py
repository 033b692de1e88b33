"""``model ls`` and ``model view``: models are the registry's containers with an infer task."""

from __future__ import annotations

import click

from medperf_git.cli._read import RecordKind, read_commands

ls, view = read_commands(RecordKind(
    "model", ("UID", "Name", "Owner", "Type", "State"), lambda r: [r.id, r.name, r.owner, "container", r.state],
    lister="list_models",
    ls_help="List the registry's models (containers with an infer task).",
    filters=(click.option("-b", "--benchmark", "--benchmark_uid", "--benchmark-uid", "benchmark", type=int,
                          metavar="ID",
                          help="Only the models of this benchmark (its reference model and approved associations)."),),
    view_help="Show one model's record.",
    view_next=("medperf-git model associate --benchmark BENCHMARK --model {id}", "ask to join a benchmark")))
