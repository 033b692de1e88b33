"""Options shared by many commands, with MedPerf's spellings as aliases."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click

RUNNER_CHOICES = ["auto", "docker", "apptainer", "singularity", "sandbox", "local"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
yes_option = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")


def data_uid_option(required: bool = True, help: str = "Registry id, or a prefix of the local generated UID."):
    return click.option("--data_uid", "--data-uid", "-d", "data_uid", required=required, help=help)


def benchmark_option(required: bool = True, help: str = "Benchmark id."):
    return click.option("--benchmark", "--benchmark_uid", "--benchmark-uid", "-b", "benchmark",
                        type=int, required=required, help=help)


def with_options(func: Callable, options: Sequence[Callable]) -> Callable:
    """Apply click options (and arguments) to ``func``, listed in the order ``--help`` shows them."""
    for option in reversed(options):
        func = option(func)
    return func
