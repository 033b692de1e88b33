"""`medperf-git dataset ...`: the datasets registered on the registry's main branch (with ``--local``, those
on this machine), and the data owner's steps, in medperf-git's order (create, then submit) and in MedPerf's
(submit registers the raw data here, prepare prepares it, set_operational publishes it)."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._dataset_local import (
    list_local,
    local_records,
    next_for,
    report_created,
    report_registered,
)
from medperf_git.cli._options import benchmark_option, data_uid_option, yes_option
from medperf_git.cli._output import out
from medperf_git.cli._publish import COMPATIBILITY_INTRO, apply_no_wait, confirmer, no_wait_option, report
from medperf_git.cli._read import RecordKind, read_commands, shorten
from medperf_git.cli._run_options import run_options, settings_from

HEADERS = ("UID", "Name", "Data Preparation Container UID", "Benchmark", "Owner", "Location")


def _row(r) -> list:
    d = r.data
    return [r.id, r.name, d.get("data_preparation"), d.get("benchmark"), r.owner, shorten(d.get("location"), 30)]


ls, view = read_commands(RecordKind(
    "dataset", HEADERS, _row, lister="list_datasets",
    ls_help="List the datasets registered in the registry, or with --local those prepared here.",
    local=list_local, local_help="The datasets on this machine (local UIDs), registered or not.",
    local_records=local_records,
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
    report_created(result, benchmark)


@click.command()
@click.option("--data_uid", "--data-uid", "data_uid",
              help="Publish this prepared dataset (a local UID prefix): medperf-git's order, after `dataset create`.")
@click.option("--benchmark", "--benchmark_uid", "-b", "benchmark", type=int,
              help="MedPerf's order: register raw data for this benchmark's preparation container.")
@click.option("--data_prep", "--data-prep", "-p", "data_preparation", type=int,
              help="MedPerf's order: register raw data for this preparation container (instead of -b).")
@click.option("--data_path", "--data-path", "-d", "data_path", type=click.Path(path_type=Path),
              help="The raw data folder.")
@click.option("--labels_path", "--labels-path", "-l", "labels_path", type=click.Path(path_type=Path),
              help="The raw labels folder (it may be the data folder).")
@click.option("--metadata_path", "--metadata-path", "-m", "metadata_path", type=click.Path(path_type=Path),
              help="With --submit-as-prepared: the metadata folder.")
@click.option("--name", help="A name for the dataset.")
@click.option("--description", default="", help="A short description.")
@click.option("--location", default="", help="Where the data comes from, e.g. the hospital's name.")
@click.option("--submit-as-prepared", "--submit_as_prepared", "as_prepared", is_flag=True,
              help="The raw data is prepared already: `dataset prepare` only checks it and computes statistics.")
@yes_option
@no_wait_option
@pass_session
def submit(s, data_uid, benchmark, data_preparation, data_path, labels_path, metadata_path, name, description,
           location, as_prepared, yes, no_wait=False):
    """Publish a prepared dataset's description (--data_uid), or register raw data here (MedPerf's order).

    MedPerf's `dataset submit -b 1 -d DATA -l LABELS --name N` registers the raw data on this machine only:
    nothing is published until `dataset set_operational`, after `dataset prepare`.
    """
    apply_no_wait(s, no_wait)
    medperf_order = (benchmark, data_preparation, data_path, labels_path, metadata_path, name)
    if data_uid is not None:
        if any(v is not None for v in medperf_order) or as_prepared:
            raise click.UsageError("--data_uid publishes a dataset prepared already; the other options register "
                                   "raw data: give one or the other")
        from medperf_git.flows import dataset as flow

        outcome = flow.submit(s, data_uid, confirmer(
            "Do you approve the registration of the presented data to the registry?", yes))
        report(outcome, f"the dataset is registered with id {outcome.record.get('id')}",
               f"medperf-git dataset associate --benchmark_uid {outcome.record.get('benchmark') or 'BENCHMARK'} "
               f"--data_uid {outcome.record.get('id')}")
        return
    needed = (("--data_path", data_path), ("--labels_path", labels_path), ("--name", name))
    missing = [option for option, value in needed if value is None]
    if missing:
        raise click.UsageError(f"give --data_uid UID, or register raw data with {', '.join(missing)}")
    from medperf_git.flows.dataset_prepare import register

    report_registered(register(s, name=name, data_path=data_path, labels_path=labels_path, benchmark=benchmark,
                               data_preparation=data_preparation, metadata_path=metadata_path,
                               description=description, location=location, as_prepared=as_prepared))


@click.command()
@data_uid_option(help="The UID `dataset submit` gave (6+ characters).")
@yes_option
@run_options
@pass_session
def prepare(s, data_uid, yes, runner, gpus, python, timeout):
    """Prepare a registered dataset with its preparation container (MedPerf's order). Nothing is published."""
    from medperf_git.flows.dataset_prepare import prepare as flow

    result = flow(s, data_uid, settings=settings_from(runner, gpus, python, timeout))
    ds = result.dataset
    if result.already:
        out.info(f"Dataset {ds.uid[:12]} is prepared already; nothing ran.")
    else:
        out.success(f"Dataset {ds.uid[:12]} prepared with the {result.runner} runner (isolation: {result.isolation})")
    out.echo(f"Generated UID: {ds.info['generated_uid'].rsplit(':', 1)[-1]}")
    next_for(ds, "associate")


@click.command("set-operational")
@data_uid_option(help="The UID `dataset submit` gave (6+ characters).")
@yes_option
@no_wait_option
@pass_session
def set_operational(s, data_uid, yes, no_wait=False):
    """Publish a prepared dataset's description: it becomes operational, with a registry id (MedPerf's order)."""
    apply_no_wait(s, no_wait)
    from medperf_git.flows.dataset_prepare import set_operational as flow

    outcome = flow(s, data_uid, confirmer("Do you approve the registration of the presented data to the registry?",
                                          yes))
    report(outcome, f"the dataset is operational, registered with id {outcome.record.get('id')}",
           f"medperf-git dataset associate --benchmark_uid {outcome.record.get('benchmark') or 'BENCHMARK'} "
           f"--data_uid {outcome.record.get('id')}")


@click.command()
@benchmark_option(help="Id of the benchmark to join.")
@data_uid_option(help="Registry id of your dataset (see `dataset ls --mine`), or a local UID prefix.")
@yes_option
@click.option("--no-cache", "no_cache", is_flag=True, help="Run the compatibility test again even if it ran.")
@run_options
@pass_session
def associate(s, benchmark, data_uid, yes, no_cache, runner, gpus, python, timeout):
    """Ask to join a benchmark; first runs its reference model on your data as a compatibility test."""
    from medperf_git.flows import dataset as flow

    settings = settings_from(runner, gpus, python, timeout)
    confirm = confirmer(f"Please confirm that you would like to associate the dataset with benchmark {benchmark}.",
                        yes, intro=COMPATIBILITY_INTRO,
                        audience=f"{flow.AUDIENCE} (the benchmark committee reviews it)")
    outcome = flow.associate(s, benchmark=benchmark, data_uid=data_uid, confirm=confirm, settings=settings,
                             no_cache=no_cache)
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


@click.command()
@data_uid_option(help="Registry id, or a prefix of the local UID.")
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path),
              help="The archive to write (a name with a suffix, e.g. ds.tar), or a folder to write ID.tar in "
                   "(as MedPerf's -o).")
@click.option("--with-raw/--without-raw", "raw", default=None,
              help="Also the raw data [default: while the dataset is not published, as MedPerf does].")
@pass_session
def export(s, data_uid, output, raw):
    """Write a dataset to one archive, to move it to another machine (`dataset import` there)."""
    from medperf_git.flows.dataset_transfer import export as flow

    with out.progress(None, "Exporting") as bar:
        result = flow(s, data_uid, output, raw=raw, progress=bar)
    out.success(f"Exported dataset {result.dataset.uid[:12]} ({result.bytes / 2**20:.1f} MiB"
                + (", with its raw data" if result.raw_included else "") + f") to {result.path}")
    out.echo(str(result.path))
    out.next_step(f"medperf-git dataset import --data_uid {result.dataset.registry_id or result.dataset.uid[:12]} "
                  f"--input {result.path.name}" + (" --raw_dataset_path DIR" if result.raw_included else ""),
                  "on the other machine")


@click.command("import")
@data_uid_option(help="The dataset the archive holds: its registry id or a prefix of its UID.")
@click.option("--input", "-i", "archive", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The archive `dataset export` wrote.")
@click.option("--raw_dataset_path", "--raw-dataset-path", "raw_dataset_path", type=click.Path(path_type=Path),
              help="A new or empty folder for the raw data the archive holds (needed before it is published).")
@pass_session
def import_(s, data_uid, archive, raw_dataset_path):
    """Put an exported dataset on this machine, checked against its tree-v1 UIDs first."""
    from medperf_git.flows.dataset_transfer import import_ as flow

    with out.progress(None, "Checking") as bar:
        result = flow(s, data_uid, archive, raw_dataset_path=raw_dataset_path, progress=bar,
                      step=lambda text: out.info(f"> {text}..."))
    ds = result.dataset
    out.success(f"Imported dataset {ds.uid[:12]}" + (f" (registry dataset {ds.registry_id})" if ds.registry_id
                                                      else "") + "; its data matches its UID")
    if result.raw_paths:
        out.info(f"Raw data: {result.raw_paths['data_path']}")
    next_for(ds, "run")
