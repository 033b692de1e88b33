"""`medperf-git dataset ls|view|create|submit|associate|check`: the datasets registered on the registry's
main branch (with ``--local``, those prepared on this machine), and the data owner's steps."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import benchmark_option, data_uid_option, yes_option
from medperf_git.cli._output import out
from medperf_git.cli._publish import COMPATIBILITY_INTRO, apply_no_wait, confirmer, no_wait_option, report
from medperf_git.cli._read import RecordKind, read_commands, shorten
from medperf_git.cli._run_options import run_options, settings_from

HEADERS = ("UID", "Name", "Data Preparation Container UID", "Benchmark", "Owner", "Location")


def _row(r) -> list:
    d = r.data
    return [r.id, r.name, d.get("data_preparation"), d.get("benchmark"), r.owner, shorten(d.get("location"), 30)]


def _list_local(s, as_json: bool) -> None:
    """The datasets prepared on this machine, with their registry ids once submitted."""
    from medperf_git.flows.dataset import list_local as flow

    datasets = flow(s)
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


@click.command()
@click.option("--name", required=True, help="A name for your dataset.")
@click.option("--description", default="", help="A short description.")
@click.option("--location", default="", help="Where the data comes from, e.g. the hospital's name.")
@click.option("--data_path", "--data-path", "data_path", required=True, type=click.Path(path_type=Path),
              help="Folder with the raw data, as the benchmark's preparation container expects it.")
@click.option("--labels_path", "--labels-path", "labels_path", required=True, type=click.Path(path_type=Path),
              help="Folder with the raw labels.")
@benchmark_option(help="Id of the benchmark whose preparation container prepares the data.")
@run_options
@pass_session
def create(s, name, description, location, data_path, labels_path, benchmark, runner, gpus, python, timeout):
    """Prepare your data locally with a benchmark's preparation container. Nothing is published."""
    from medperf_git.flows import dataset as flow

    settings = settings_from(runner, gpus, python, timeout)
    result = flow.create(s, benchmark=benchmark, name=name, description=description, location=location,
                         data_path=data_path, labels_path=labels_path, settings=settings)
    ds = result.dataset
    if result.reused:
        out.info(f"These data were prepared before; the local dataset {ds.uid[:12]} was kept.")
    out.success(f"Dataset prepared with the {result.runner} runner (isolation: {result.isolation})")
    out.echo(f"Generated UID: {ds.uid}")
    out.info(f"Statistics: {', '.join(f'{k}={v}' for k, v in result.statistics.items() if not isinstance(v, dict))}")
    problems = flow.published_number_problems("statistics", flow.as_published(result.statistics))
    if problems:
        # Said now rather than at `dataset submit`: only the benchmark's owners can fix their container.
        out.warn("these statistics cannot be published (the registry takes only numbers), so `dataset submit` "
                 "will refuse them:\n" + flow.problem_listing(problems))
        out.next_step(f"ask the owners of benchmark {benchmark} to fix its data preparation container")
        return
    out.next_step(f"medperf-git dataset submit --data_uid {ds.uid}",
                  "publish the dataset's description; the data stays here")


@click.command()
@data_uid_option(help="Prefix (6+ characters) of the local generated UID, or the registry id.")
@yes_option
@no_wait_option
@pass_session
def submit(s, data_uid, yes, no_wait=False):
    """Publish your prepared dataset's description (hashes, statistics), never the data."""
    apply_no_wait(s, no_wait)
    from medperf_git.flows import dataset as flow

    outcome = flow.submit(s, data_uid, confirmer(
        "Do you approve the registration of the presented data to the registry?", yes))
    report(outcome, f"the dataset is registered with id {outcome.record.get('id')}",
           f"medperf-git dataset associate --benchmark_uid {outcome.record.get('benchmark')} "
           f"--data_uid {outcome.record.get('id')}")


@click.command()
@benchmark_option(help="Id of the benchmark to join.")
@data_uid_option(help="Registry id of your dataset (see `dataset ls --mine`), or a local UID prefix.")
@yes_option
@run_options
@pass_session
def associate(s, benchmark, data_uid, yes, runner, gpus, python, timeout):
    """Ask to join a benchmark; first runs its reference model on your data as a compatibility test."""
    from medperf_git.flows import dataset as flow

    settings = settings_from(runner, gpus, python, timeout)
    confirm = confirmer(f"Please confirm that you would like to associate the dataset with benchmark {benchmark}.",
                        yes, intro=COMPATIBILITY_INTRO,
                        audience=f"{flow.AUDIENCE} (the benchmark committee reviews it)")
    outcome = flow.associate(s, benchmark=benchmark, data_uid=data_uid, confirm=confirm, settings=settings)
    report(outcome, "the association is approved",
           f"medperf-git benchmark run --benchmark {benchmark} --data_uid {outcome.record.get('dataset')}",
           "medperf-git association ls", "check whether the committee has approved it")


@click.command()
@data_uid_option(help="Prefix (6+ characters) of the local generated UID, or the registry id.")
@pass_session
def check(s, data_uid):
    """Re-hash your prepared data and name the files that changed since it was prepared."""
    from medperf_git.flows import dataset as flow

    result = flow.check(s, data_uid, progress=None)
    if result.ok:
        out.success(f"Data hash matches: {result.found}")
        return
    for label, paths in (("changed", result.changed), ("added", result.added), ("removed", result.removed)):
        for path in paths:
            out.echo(f"{label}: {path}")
    flow.require_match(result)
