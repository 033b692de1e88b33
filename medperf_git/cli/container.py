"""`medperf-git container ls|view|submit|run|runners`: the containers on the registry's main branch,
registering one, running one task of a local one (MedPerf's run_test, for container authors), and which
runners can run here."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import (
    RUNNER_CHOICES,
    container_submit_options,
    json_option,
    refuse_decryption_key,
    yes_option,
)
from medperf_git.cli._output import out
from medperf_git.cli._publish import no_wait_option, submit_container
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
    if shown.record.data.get("additional_files", {}).get("private") and not as_json:
        out.info("Weights: private (encrypted with age); their key reaches a data owner only through an approved "
                 "association (`medperf-git container grant-access`)")
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


@click.command()
@container_submit_options
@no_wait_option
@pass_session
def submit(s, operational, decryption_key, **options):
    """Register a container (data preparator, model or metrics) with its exact pins.

    MedPerf's `container submit -n NAME -m container_config.yaml -p parameters.yaml -a weights.tar.gz`
    works as is: the image the config names is pinned by its digest, read from this machine's engine.
    """
    refuse_decryption_key(decryption_key)
    submit_container(s, **options)


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
              help="parameters.yaml to give the task [default: workspace/parameters.yaml beside the config, "
                   "as MedPerf lays it out, or parameters.yaml].")
@click.option("--additional-files", "--additional_files", "additional_files",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder mounted as the task's additional_files (e.g. model weights) "
                   "[default: workspace/additional_files/ beside the config, or additional_files/].")
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
    params = (load_yaml_file(parameters) or {}) if parameters else None  # None: MedPerf's workspace/ layout
    if params is not None and not isinstance(params, dict):
        raise click.BadParameter(f"{parameters} must hold a mapping", param_hint="--parameters")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = (output_dir or home_dir() / "runs" / f"{stamp}-{task}-{os.getpid()}").absolute()
    cache_dir = ws.cache_dir if ws else home_dir() / "data" / "cache"
    container = resolve_container(config, cache_dir=cache_dir, parameters=params,
                                  additional_files_dir=additional_files)
    out.info(f"Running task '{task}' of {config_path} (runner: {runner})")
    options = RunOptions(logs_dir=run_dir / "logs", work_dir=run_dir / "work", runner=runner, gpus=gpus,
                         timeout=timeout, python=python, on_output=task_line,
                         cache_dir=cache_dir, shm_size=getattr(profile, "shm_size", None),
                         slurm=profile.slurm if profile else {})
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
    for name in (*AUTO_ORDER, "local", "slurm"):  # slurm is never picked by auto: a cluster is chosen by name
        why = runner_class(name)().available()
        rows.append({"runner": name, "isolation": ISOLATION[name], "available": why is None, "reason": why or ""})
    if best:
        out.echo(next((r["runner"] for r in rows if r["available"] and r["runner"] in AUTO_ORDER), "local"))
        return
    if as_json:
        out.json(rows)
        return
    out.table([(r["runner"], r["isolation"], "yes" if r["available"] else "no", r["reason"]) for r in rows],
              ["runner", "isolation", "available", "why not"])


@click.command("grant-access")
@click.option("--benchmark_uid", "--benchmark-uid", "--benchmark", "-b", "benchmark", type=int, required=True,
              help="The benchmark the model is associated with.")
@click.option("--model_uid", "--model-uid", "--model", "-m", "model", type=int, required=True,
              help="Your private model's id.")
@click.option("--data_uid", "--data-uid", "--dataset", "-d", "datasets", type=int, multiple=True,
              help="Only these datasets (repeatable) [default: every associated dataset that lacks the key].")
@yes_option
@pass_session
def grant_access(s, benchmark, model, datasets, yes):
    """Release a private model's key to the owners of the datasets associated with the benchmark.

    The key is encrypted to each data owner's SSH key in the model's association (one submission);
    a run decrypts it, and the weights, only inside the task.
    """
    from medperf_git.cli._publish import confirmer, report
    from medperf_git.flows.weights import grant_access as flow

    done = flow(s, benchmark=benchmark, model=model, datasets=list(datasets) or None,
                confirm=confirmer(f"Release model {model}'s key to these data owners?", yes, medperf_asks=False))
    if done.outcome is None:
        out.info("Every associated dataset already has the key" if done.already else "No dataset to release it to")
        out.next_step(f"medperf-git association ls --benchmark {benchmark}", "see which datasets are associated")
        return
    report(done.outcome, f"dataset(s) {', '.join(map(str, done.released))} can run model {model}",
           f"medperf-git container view {model}")
