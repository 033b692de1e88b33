"""`medperf-git container ls|view|submit|run|runners`: the containers on the registry's main branch,
registering one, running one task of a local one (MedPerf's run_test, for container authors), and which
runners can run here."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from pathlib import Path

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import RUNNER_CHOICES, json_option, yes_option
from medperf_git.cli._output import out
from medperf_git.cli._publish import apply_no_wait, confirmer, no_wait_option, report
from medperf_git.cli._read import RecordKind, read_commands, show_record, warn_all
from medperf_git.cli._run_options import task_line


def _show(shown, as_json: bool) -> None:
    """The record, and whether its image pin was checked (with --json, in the added key image_pin_status)."""
    from medperf_git.flows.container import image_pin_status

    status = image_pin_status(shown.record.data)
    if status is None or not as_json:
        show_record(shown, as_json)
    else:
        warn_all(shown.warnings)
        out.json({**shown.record.data, "image_pin_status": status[0]})
    if status is not None and status[1] is not None:
        out.warn(f"image pin unverified: {status[1]}")
    elif status is not None and not as_json:
        out.info("Image pin: checked by the submitter's engine at registration (self-reported)")


ls, view = read_commands(RecordKind(
    "container", ("UID", "Name", "Owner", "Tasks", "State"),
    lambda r: [r.id, r.name, r.owner, ", ".join(r.tasks), r.state], lister="list_containers",
    ls_help="List the registry's containers.",
    filters=(click.option("-t", "--task", help="Only containers with this task (prepare, infer, evaluate, ...)."),),
    view_help="""Show one container's record.

    An image pin that the submitter's engine did not check is shown as unverified (with --json, in
    the added key image_pin_status, which is not part of the record).
    """, show=_show))


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
@pass_session
def submit(s, name, config_path, parameters_path, description, source, source_hash, source_url, additional_files,
           additional_hash, additional_files_url, image, image_hash, yes, no_wait=False):
    """Register a container (data preparator, model or metrics) with its exact pins."""
    apply_no_wait(s, no_wait)
    from medperf_git.flows import container as flow
    outcome = flow.submit(
        s, name=name, config_path=config_path, parameters_path=parameters_path, description=description,
        source=flow.ArchiveInput(source, source_hash, source_url) if source else None,
        additional_files=flow.ArchiveInput(additional_files, additional_hash, additional_files_url)
        if additional_files else None, image=image, image_hash=image_hash,
        confirm=_warn_unchecked(confirmer("Do you approve the registration of this container?", yes)))
    report(outcome, f"container '{name}' has id {outcome.record.get('id')}",
           f"medperf-git container view {outcome.record.get('id')}")


def _mounts(items: tuple[str, ...]) -> dict[str, Path]:
    mounts = {}
    for item in items:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise click.BadParameter(f"'{item}' is not LABEL=PATH", param_hint="--mount")
        mounts[label] = Path(path).expanduser().absolute()
    return mounts


def _profile():
    """The active profile's runner settings, if there is a usable config; a container author may have none."""
    from medperf_git.cli._context import AppContext
    from medperf_git.errors import MedperfGitError

    app = click.get_current_context().find_object(AppContext) or AppContext()
    try:
        return app.workspace
    except MedperfGitError:
        return None


@click.command()
@click.option("--config", "-c", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The container_config.yaml (or mlcube.yaml); its folder holds the project and the Dockerfile.")
@click.option("--task", "-t", required=True, help="The task to run: prepare, sanity_check, statistics, infer, "
                                                  "evaluate, or any task the config declares.")
@click.option("--mount", "-m", "mounts", multiple=True, metavar="LABEL=PATH",
              help="A host path for a label the task declares (repeatable), e.g. data_path=./data.")
@click.option("--parameters", "--parameters_file", "--parameters-file", "parameters",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="parameters.yaml to give the task [default: parameters.yaml beside the config, if any].")
@click.option("--additional-files", "--additional_files", "additional_files",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder mounted as the task's additional_files (e.g. model weights) "
                   "[default: additional_files/ beside the config, if any].")
@click.option("--runner", type=click.Choice(RUNNER_CHOICES), help="How to run it [default: the profile's, or auto].")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Wall-clock limit in seconds.")
@click.option("--gpus", help="GPUs: all, a number, or device=0,1.")
@click.option("--python", help="Interpreter for the sandbox and local runners, instead of a made environment.")
@click.option("--output-dir", "--output_dir", "output_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the run's logs and scratch go [default: under $MEDPERF_GIT_HOME/runs].")
def run(config_path, task, mounts, parameters, additional_files, runner, timeout, gpus, python, output_dir):
    """Run one TASK of a local container, streaming its output, as the registry's runners will.

    Mount labels are the task's volumes (MedPerf's labels: data_path, labels_path, output_path, ...);
    parameters_file and additional_files are provided for every task.
    """
    from medperf_git.records.yamlio import load_yaml_file
    from medperf_git.runners import RunOptions, load_config, resolve_container, run_task
    from medperf_git.workspace.workspace import home_dir

    ws = _profile()
    profile = ws.profile if ws else None
    runner = runner or (profile.runner if profile else "auto")
    gpus = gpus if gpus is not None else (profile.gpus if profile else None)
    python = python or (profile.python if profile else None)
    if timeout is None and profile and task in profile.timeouts:
        timeout = float(profile.timeouts[task])
    config = load_config(config_path)
    if parameters is None and (config_path.parent / "parameters.yaml").is_file():
        parameters = config_path.parent / "parameters.yaml"
    if additional_files is None and (config_path.parent / "additional_files").is_dir():
        additional_files = config_path.parent / "additional_files"
    params = (load_yaml_file(parameters) or {}) if parameters else {}
    if not isinstance(params, dict):
        raise click.BadParameter(f"{parameters} must hold a mapping", param_hint="--parameters")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = (output_dir or home_dir() / "runs" / f"{stamp}-{task}-{os.getpid()}").absolute()
    cache_dir = ws.cache_dir if ws else home_dir() / "data" / "cache"
    container = resolve_container(config, cache_dir=cache_dir, parameters=params,
                                  additional_files_dir=additional_files)
    out.info(f"Running task '{task}' of {config_path} (runner: {runner})")
    options = RunOptions(logs_dir=run_dir / "logs", work_dir=run_dir / "work", runner=runner, gpus=gpus,
                         timeout=timeout, python=python, on_output=task_line,
                         cache_dir=cache_dir)
    result = run_task(container, task, _mounts(mounts), options)
    out.success(f"Task '{task}' finished in {result.duration:.1f} s under the {result.runner} runner "
                f"(isolation: {result.isolation})")
    out.info(f"Log: {result.log_path}")
    if result.image:
        out.info(f"Image: {result.image.get('reference')} ({result.image.get('image_id', '')})")
    out.next_step("medperf-git container submit --help",
                  "once every task runs, publish the container to the registry")


@click.command()
@click.option("--best", is_flag=True, help="Print only the name of the best runner here (local if none isolates).")
@json_option
def runners(best, as_json):
    """Show each runner's isolation and whether it can run on this machine."""
    from medperf_git.runners.base import AUTO_ORDER, ISOLATION, runner_class

    rows = []
    for name in (*AUTO_ORDER, "local"):
        why = runner_class(name)().available()
        rows.append({"runner": name, "isolation": ISOLATION[name], "available": why is None, "reason": why or ""})
    if best:
        out.echo(next((r["runner"] for r in rows if r["available"] and r["runner"] != "local"), "local"))
        return
    if as_json:
        out.json(rows)
        return
    out.table([(r["runner"], r["isolation"], "yes" if r["available"] else "no", r["reason"]) for r in rows],
              ["runner", "isolation", "available", "why not"])
