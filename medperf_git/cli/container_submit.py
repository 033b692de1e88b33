"""`medperf-git container submit`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from medperf_git.cli._context import pass_workspace
from medperf_git.cli._options import yes_option
from medperf_git.cli._output import out
from medperf_git.cli._publish import apply_no_wait, confirmer, no_wait_option, report


def _warn_unchecked(confirm: Callable[[dict], bool]) -> Callable[[dict], bool]:
    """Say, before asking, that the image pin goes out unchecked and why: the record shows it too."""

    def ask(record: dict) -> bool:
        check = record.get("image_check") or {}
        if check.get("checked") is False:
            out.warn(f"the image pin of {record['image']['reference']} could not be checked on this machine: "
                     f"{check.get('detail')}. It will be published marked unchecked, and readers will see it as "
                     "unverified; submit from a machine whose Docker engine can reach the image to have it checked.")
        return confirm(record)

    return ask


@click.command()
@click.option("--name", "-n", required=True, help="A unique name for the container.")
@click.option("--config", "-m", "config_path", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Its container_config.yaml (MedPerf's format) or mlcube.yaml.")
@click.option("--parameters", "-p", "parameters_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Its parameters.yaml.")
@click.option("--description", help="A short description.")
@click.option("--source", metavar="URL_OR_PATH", help="Archive of its source (project, Dockerfile, config).")
@click.option("--source-hash", metavar="H", help="Expected sha256 of the source archive.")
@click.option("--source-url", "--url", "source_url", metavar="URL",
              help="Where a local --source archive will be published.")
@click.option("--additional-files", "-a", metavar="URL_OR_PATH", help="Archive of additional files (e.g. weights).")
@click.option("--additional-hash", metavar="H", help="Expected sha256 of the additional-files archive.")
@click.option("--additional-files-url", metavar="URL", help="Where a local --additional-files archive goes.")
@click.option("--image", metavar="REF", help="Its container image, e.g. registry.example.org/prep:1.0.")
@click.option("--image-hash", metavar="H", help="Image digest (sha256:...); read from a local engine if omitted.")
@yes_option
@no_wait_option
@pass_workspace
def submit(ws, name, config_path, parameters_path, description, source, source_hash, source_url, additional_files,
           additional_hash, additional_files_url, image, image_hash, yes, no_wait=False):
    """Register a container (data preparator, model or metrics) with its exact pins."""
    apply_no_wait(ws, no_wait)
    from medperf_git.flows import container as flow
    outcome = flow.submit(
        ws, name=name, config_path=config_path, parameters_path=parameters_path, description=description,
        source=flow.ArchiveInput(source, source_hash, source_url) if source else None,
        additional_files=flow.ArchiveInput(additional_files, additional_hash, additional_files_url)
        if additional_files else None, image=image, image_hash=image_hash,
        confirm=_warn_unchecked(confirmer("Do you approve the registration of this container?", yes)))
    report(outcome, f"container '{name}' has id {outcome.record.get('id')}",
           f"medperf-git container view {outcome.record.get('id')}")
