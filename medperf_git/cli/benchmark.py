"""`medperf-git benchmark ls|view|run|submit|update-associations-policy|update-result-visibility`: the
benchmarks on the registry's main branch, running every model of one on your dataset (with the tutorial's
summary), and the committee's submissions."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import benchmark_option, data_uid_option, yes_option
from medperf_git.cli._output import out
from medperf_git.cli._publish import confirmer, report
from medperf_git.cli._read import RecordKind, read_commands, shorten
from medperf_git.cli._run_options import jobs_option, run_options, settings_from

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


def _parse_models(models: str | None, models_file: Path | None) -> list[int] | None:
    text = models
    if models_file is not None:
        try:
            text = models_file.read_text(encoding="utf-8").strip().splitlines()[0] if models_file.read_text() else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"cannot read {models_file}: {exc}", param_hint="-f") from None
    if text is None:
        return None
    items = [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]
    if not items or not all(item.isdigit() and int(item) > 0 for item in items):
        raise click.BadParameter(f"'{text}' is not a comma-separated list of model ids",
                                 param_hint="--models" if models_file is None else "-f")
    return [int(item) for item in items]


@click.command("run")
@benchmark_option()
@data_uid_option(help="Registry id of your dataset, or a local UID prefix.")
@click.option("--models", help="Only these models, e.g. 2,4 (they must be associated with the benchmark).")
@click.option("-f", "--models-file", "models_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file with one line of comma-separated model ids (MedPerf's -f).")
@click.option("--no-cache", is_flag=True, help="Run again the models whose results are not submitted yet.")
@click.option("--rerun-finalized", is_flag=True, help="Also run again submitted results, as new results (-2, -3).")
@click.option("--ignore-model-errors", is_flag=True,
              help="Evaluate whatever a failing model predicted, as a partial result.")
@jobs_option
@run_options
@pass_session
def run(s, benchmark, data_uid, models, models_file, no_cache, rerun_finalized, ignore_model_errors, jobs,
        runner, gpus, python, timeout):
    """Run every model of a benchmark on your dataset; results stay local until you submit them."""
    from medperf_git.flows.execution import run_benchmark

    summary = run_benchmark(s, benchmark=benchmark, data_uid=data_uid, models=_parse_models(models, models_file),
                            no_cache=no_cache, rerun_finalized=rerun_finalized,
                            ignore_model_errors=ignore_model_errors,
                            settings=settings_from(runner, gpus, python, timeout), jobs=jobs)
    rows = [(o.model, o.name or "", o.partial, o.cached, o.error or "") for o in summary.outcomes]
    out.table(rows, ["model", "local result UID", "partial result", "from cache", "error"])
    cached, failed, ran = summary.cached, summary.failed, summary.ran
    out.echo(f"Total number of models: {len(summary.outcomes)}")
    out.echo(f"\t{len(cached)} were skipped (already executed), of which {sum(o.partial for o in cached)} "
             "have partial results")
    out.echo(f"\t{len(failed)} failed")
    out.echo(f"\t{len(ran)} ran successfully, of which {sum(o.partial for o in ran)} have partial results")
    if failed:  # MedPerf's run goes on past a failing model and exits 0: scripts rely on it
        out.warn(f"{len(failed)} of {len(summary.outcomes)} models failed (the error column); each one's log is "
                 "named in its error, and `--ignore-model-errors` keeps what a failing model predicted as a partial "
                 "result")
    out.success("Done!")
    done = [o for o in summary.outcomes if o.name and not o.error]
    if done:
        out.next_step(f"medperf-git result view {done[-1].name}", "then `medperf-git result submit --result NAME`")


@click.command()
@click.option("--name", "-n", required=True, help="A unique name for the benchmark.")
@click.option("--description", "-d", required=True, help="What the benchmark measures.")
@click.option("--docs-url", "--docs_url", "-u", "docs_url", help="Where its documentation is.")
@click.option("--demo-url", "--demo_url", "demo_url", metavar="URL_OR_PATH",
              help="The demo dataset tarball (with paths.yaml), for the compatibility test.")
@click.option("--demo-hash", "--demo_hash", "demo_hash", help="Expected sha256 of the demo tarball.")
@click.option("--demo-published-url", help="Where a local --demo-url tarball will be published.")
@click.option("--data-preparation-container", "--data_preparation_container", "--data-preparation",
              "--data_preparation", "-p", "data_preparation", type=int, required=True,
              help="Id of the data preparation container.")
@click.option("--reference-model", "--reference_model", "--reference-model-container", "-m", "reference_model",
              type=int, required=True, help="Id of the reference model container.")
@click.option("--evaluator-container", "--evaluator_container", "--metrics", "-e", "metrics", type=int,
              required=True, help="Id of the metrics (evaluator) container.")
@click.option("--owners", help="Other committee members' handles, comma-separated.")
@click.option("--min-isolation", type=click.Choice(["none", "sandbox", "container"]),
              help="Refuse results made with less isolation.")
@click.option("--result-visibility", "--result_visibility", "result_visibility",
              type=click.Choice(["public", "committee"]), default="public", show_default=True,
              help="committee: results are encrypted to the owners and each result's data owner.")
@click.option("--skip-compatibility-tests", "--skip_compatibility_tests", "skip_compatibility_tests", is_flag=True,
              help="Do not run the demo data through the containers.")
@click.option("--skip-demo-data-preparation", "--skip_demo_data_preparation", "skip_demo_preparation", is_flag=True,
              hidden=True, help="MedPerf's already-prepared demo data (no meaning here).")
@click.option("--operational", is_flag=True,
              help="MedPerf's OPERATION state: accepted; a merged benchmark is frozen here but for its policy.")
@yes_option
@run_options
@pass_session
def submit(s, name, description, docs_url, demo_url, demo_hash, demo_published_url, data_preparation,
           reference_model, metrics, owners, min_isolation, result_visibility, skip_compatibility_tests,
           skip_demo_preparation, operational, yes, runner, gpus, python, timeout):
    """Submit a benchmark for the registry admins' approval, after testing it on its demo data.

    MedPerf's `benchmark submit --name N --description D --demo-url URL --data-preparation-container 1
    --reference-model 2 --evaluator-container 3 --operational` works as is.
    """
    from medperf_git.flows import benchmark as flow
    from medperf_git.flows.container import ArchiveInput

    if skip_demo_preparation:
        raise click.UsageError("--skip-demo-data-preparation: here the demo data is always prepared by the "
                               "benchmark's preparation container; publish the raw demo data with paths.yaml")

    outcome = flow.submit(
        s, name=name, description=description, docs_url=docs_url,
        demo=ArchiveInput(demo_url, demo_hash, demo_published_url) if demo_url else None,
        data_preparation=data_preparation, reference_model=reference_model, metrics=metrics,
        owners=[h.strip() for h in owners.split(",") if h.strip()] if owners else None,
        min_isolation=min_isolation, result_visibility=result_visibility,
        skip_compatibility_tests=skip_compatibility_tests,
        settings=settings_from(runner, gpus, python, timeout),
        confirm=confirmer("Do you approve the submission of this benchmark?", yes, medperf_asks=False))
    report(outcome, f"benchmark {outcome.record.get('id')} is registered",
           f"medperf-git benchmark view {outcome.record.get('id')}")


MODES = click.Choice(["never", "always", "allowlist"], case_sensitive=False)
ALLOWLIST = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("update-associations-policy")
@click.option("--benchmark", "-b", type=int, required=True, help="Benchmark id.")
@click.option("--dataset_auto_approve_mode", "--dataset-auto-approve-mode", "--datasets", "datasets", type=MODES,
              help="Which dataset associations merge without the committee.")
@click.option("--dataset_auto_approve_file", "--dataset-auto-approve-file", "dataset_file", type=ALLOWLIST,
              help="For allowlist mode: the data owners, one email (as in MedPerf) or handle per line.")
@click.option("--model_auto_approve_mode", "--model-auto-approve-mode", "--models", "models", type=MODES,
              help="Which model associations merge without the committee.")
@click.option("--model_auto_approve_file", "--model-auto-approve-file", "model_file", type=ALLOWLIST,
              help="For allowlist mode: the model owners, one email or handle per line.")
@click.option("--allowlist", "allowlist", type=ALLOWLIST, help="One allowlist file for both kinds.")
@yes_option
@pass_session
def update_policy(s, benchmark, datasets, dataset_file, models, model_file, allowlist, yes):
    """Set who joins the benchmark without the committee's approval (emails map to people records)."""
    from medperf_git.flows import benchmark as flow

    outcome = flow.update_policy(s, benchmark=benchmark, datasets=datasets.lower() if datasets else None,
                                 models=models.lower() if models else None,
                                 dataset_allowlist=dataset_file or allowlist, model_allowlist=model_file or allowlist,
                                 confirm=confirmer("Do you approve this association policy?", yes,
                                                   medperf_asks=False))
    report(outcome, f"benchmark {benchmark}'s association policy is changed",
           f"medperf-git benchmark view {benchmark}")


@click.command("update-result-visibility")
@benchmark_option()
@click.option("--visibility", type=click.Choice(["public", "committee"]), required=True,
              help="committee: new results are encrypted to the owners and each result's data owner.")
@yes_option
@pass_session
def update_visibility(s, benchmark, visibility, yes):
    """Set who reads the benchmark's results from now on (the benchmark's owners decide it)."""
    from medperf_git.flows.confidential import update_visibility as flow

    outcome = flow(s, benchmark=benchmark, visibility=visibility,
                   confirm=confirmer("Do you approve this result visibility?", yes, medperf_asks=False))
    next_merged = (f"medperf-git result reencrypt --benchmark_uid {benchmark}" if visibility == "committee"
                   else f"medperf-git benchmark view {benchmark}")
    report(outcome, f"benchmark {benchmark}'s results are {visibility}", next_merged)
