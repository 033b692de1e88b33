"""`medperf-git model ls|view|associate`: models are the registry's containers with an infer task."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import container_submit_options, refuse_decryption_key, yes_option
from medperf_git.cli._publish import COMPATIBILITY_INTRO, confirmer, no_wait_option, report, submit_container
from medperf_git.cli._read import RecordKind, read_commands
from medperf_git.cli._run_options import run_options, settings_from

ls, view = read_commands(RecordKind(
    "model", ("UID", "Name", "Owner", "Type", "State"), lambda r: [r.id, r.name, r.owner, "container", r.state],
    lister="list_models",
    ls_help="List the registry's models (containers with an infer task).",
    filters=(click.option("-b", "--benchmark", "--benchmark_uid", "--benchmark-uid", "benchmark", type=int,
                          metavar="ID",
                          help="Only the models of this benchmark (its reference model and approved associations)."),),
    view_help="Show one model's record.",
    view_next=("medperf-git model associate --benchmark BENCHMARK --model {id}", "ask to join a benchmark")))


@click.command()
@click.option("--benchmark", "--benchmark_uid", "-b", "benchmark", type=int, required=True, help="Benchmark id.")
@click.option("--model", "--model_uid", "-m", "model", type=int, required=True, help="Model (container) id.")
@yes_option
@click.option("--no-cache", "no_cache", is_flag=True, help="Run the compatibility test again even if it ran.")
@run_options
@pass_session
def associate(s, benchmark, model, yes, no_cache, runner, gpus, python, timeout):
    """Test a model on the benchmark's demo data, then ask the committee to associate it."""
    from medperf_git.flows.association import associate_model
    confirm = confirmer(f"Associate model {model} with benchmark {benchmark}?", yes, intro=COMPATIBILITY_INTRO)
    outcome = associate_model(s, benchmark=benchmark, model=model, confirm=confirm,
                              settings=settings_from(runner, gpus, python, timeout), no_cache=no_cache)
    report(outcome, f"model {model} is associated with benchmark {benchmark}", "medperf-git association ls",
           "medperf-git association ls")


@click.command()
@container_submit_options
@click.option("--asset-path", "--asset_path", "asset_path", hidden=True, help="MedPerf's file assets (no meaning).")
@click.option("--asset-url", "--asset_url", "asset_url", hidden=True, help="MedPerf's file assets (no meaning).")
@no_wait_option
@pass_session
def submit(s, operational, decryption_key, asset_path, asset_url, **options):
    """Register a model: a container whose config has an infer task, with its exact pins (MedPerf's spellings)."""
    refuse_decryption_key(decryption_key)
    if asset_path or asset_url:
        raise click.UsageError("--asset-path/--asset-url: file-asset models have no meaning here; a model is a "
                               "container: give -m container_config.yaml")
    submit_container(s, required_tasks=("infer",), what="model", **options)
