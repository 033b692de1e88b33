"""Options shared by many commands, with MedPerf's spellings as aliases."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click

RUNNER_CHOICES = ["auto", "docker", "apptainer", "singularity", "sandbox", "local", "slurm"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
yes_option = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
format_option = click.option("--format", "-f", "fmt", type=click.Choice(["yaml", "json"]), default="yaml",
                             show_default=True, help="How to print it (MedPerf's -f).")
output_option = click.option("--output", "-o", "output", type=click.Path(dir_okay=False), metavar="FILE",
                             help="Save it to FILE instead of printing it (MedPerf's -o).")


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


def container_submit_options(func: Callable) -> Callable:
    """`container submit` and `model submit`: MedPerf's spellings first, then the source pins of medperf-git."""
    from pathlib import Path

    return with_options(func, [
        click.option("--name", "-n", required=True, help="A unique name."),
        click.option("--container-config-file", "--container_config_file", "--config", "-m", "config_path",
                     required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Its container_config.yaml (MedPerf's format) or mlcube.yaml."),
        click.option("--parameters-file", "--parameters_file", "--parameters", "-p", "parameters_path",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Its parameters.yaml."),
        click.option("--additional-file", "--additional_file", "--additional-files", "-a", "additional_files",
                     metavar="URL_OR_PATH", help="Archive of additional files (e.g. weights)."),
        click.option("--additional-hash", "--additional_hash", metavar="H",
                     help="Expected sha256 of the additional-files archive."),
        click.option("--additional-files-url", metavar="URL", help="Where a local --additional-file archive goes."),
        click.option("--private-weights", "--private_weights", "private_weights", is_flag=True,
                     help="Encrypt the --additional-file archive (age) and keep its key here; publish the .age file "
                          "it writes, and release the key with `container grant-access`."),
        click.option("--image", metavar="REF", help="Its image [default: the image its config names, as MedPerf]."),
        click.option("--image-hash", "--image_hash", metavar="H",
                     help="Image digest (sha256:...); read from a local engine if omitted."),
        click.option("--source", metavar="URL_OR_PATH", help="Archive of its source (project, Dockerfile, config)."),
        click.option("--source-hash", metavar="H", help="Expected sha256 of the source archive."),
        click.option("--source-url", "--url", "source_url", metavar="URL",
                     help="Where a local --source archive will be published."),
        click.option("--description", help="A short description."),
        click.option("--operational", is_flag=True,
                     help="MedPerf's OPERATION state: accepted; every registered container is frozen here."),
        click.option("--decryption-key", "--decryption_key", "-d", "decryption_key", hidden=True,
                     help="MedPerf's encrypted models (no meaning here)."),
        yes_option,
    ])


def refuse_decryption_key(decryption_key: str | None) -> None:
    if decryption_key is not None:
        raise click.UsageError("--decryption-key: encrypted models have no meaning here (a registered container's "
                               "pins are readable by every registry reader); submit the image unencrypted")


def model_run_options(func: Callable) -> Callable:
    """`result create` and `run`: one model on one dataset, MedPerf's spellings."""
    return with_options(func, [
        benchmark_option(),
        data_uid_option(help="Registry id of your dataset, or a local UID prefix."),
        click.option("--model_uid", "--model-uid", "--model", "-m", "model", type=int, required=True,
                     help="The model's id."),
        click.option("--ignore-model-errors", is_flag=True,
                     help="Evaluate whatever a failing model predicted, as a partial result."),
        click.option("--no-cache", is_flag=True, help="Run it again if its result is not submitted yet."),
        click.option("--new-result", "--rerun-finalized", "new_result", is_flag=True,
                     help="Run it again as a new result (-2, -3), even if its result is submitted."),
    ])
