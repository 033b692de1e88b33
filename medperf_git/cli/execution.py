"""`medperf-git benchmark run`: every approved model on your dataset, with the tutorial's summary."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_git.cli._context import pass_workspace
from medperf_git.cli._options import benchmark_option, data_uid_option
from medperf_git.cli._output import out
from medperf_git.cli._run_options import run_options, settings_from


def parse_models(models: str | None, models_file: Path | None) -> list[int] | None:
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
@run_options
@pass_workspace
def benchmark_run(ws, benchmark, data_uid, models, models_file, no_cache, rerun_finalized, ignore_model_errors,
                  runner, gpus, python, timeout):
    """Run every model of a benchmark on your dataset; results stay local until you submit them."""
    from medperf_git.flows.execution import run_benchmark

    summary = run_benchmark(ws, benchmark=benchmark, data_uid=data_uid, models=parse_models(models, models_file),
                            no_cache=no_cache, rerun_finalized=rerun_finalized,
                            ignore_model_errors=ignore_model_errors,
                            settings=settings_from(runner, gpus, python, timeout))
    rows = [(o.model, o.name or "", o.partial, o.cached, o.error or "") for o in summary.outcomes]
    out.table(rows, ["model", "local result UID", "partial result", "from cache", "error"])
    cached, failed, ran = summary.cached, summary.failed, summary.ran
    out.echo(f"Total number of models: {len(summary.outcomes)}")
    out.echo(f"\t{len(cached)} were skipped (already executed), of which {sum(o.partial for o in cached)} "
             "have partial results")
    out.echo(f"\t{len(failed)} failed")
    out.echo(f"\t{len(ran)} ran successfully, of which {sum(o.partial for o in ran)} have partial results")
    out.success("Done!")
    done = [o for o in summary.outcomes if o.name and not o.error]
    if done:
        out.next_step(f"medperf-git result view {done[-1].name}", "then `medperf-git result submit --result NAME`")
    if failed:
        from medperf_git.errors import ContainerFailed

        raise ContainerFailed(f"{len(failed)} of {len(summary.outcomes)} models failed; see the error column",
                              hint="their logs are under the workspace; `--ignore-model-errors` keeps partial results")
