"""`medperf-git test run|ls|view`: compatibility tests, with any part replaced by a local config."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import json_option
from medperf_git.cli._output import out
from medperf_git.cli._run_options import jobs_option, run_options, settings_from


@click.command()
@click.option("--benchmark", "-b", type=int, help="Take the missing parts (and the demo data) from this benchmark.")
@click.option("--data-preparation", "--data_preparation", "-p", "data_preparation", metavar="ID_OR_CONFIG",
              help="Preparation container: an id or a local container_config.yaml.")
@click.option("--model", "-m", "models", metavar="ID_OR_CONFIG", multiple=True,
              help="Model: an id or a local container_config.yaml; repeat it to test several models.")
@click.option("--metrics", "-e", metavar="ID_OR_CONFIG", help="Metrics: an id or a local container_config.yaml.")
@click.option("--data_uid", "--data-uid", "-d", "data_uid", help="Test on your prepared dataset instead of demo data.")
@click.option("--no-cache", is_flag=True, help="Run again even if the same test ran before.")
@jobs_option
@run_options
@pass_session
def run(s, benchmark, data_preparation, models, metrics, data_uid, no_cache, jobs, runner, gpus, python, timeout):
    """Run a compatibility test: data through preparation, a model and the metrics."""
    from medperf_git.flows.compat import run_test

    settings = settings_from(runner, gpus, python, timeout)
    if len(models) > 1:
        _run_several(s, benchmark, data_preparation, models, metrics, data_uid, no_cache, jobs, settings)
        return
    report = run_test(s, benchmark=benchmark, data_preparation=data_preparation, model=models[0] if models else None,
                      metrics=metrics, data_uid=data_uid, no_cache=no_cache, settings=settings)
    if report.cached:
        out.info("The same test ran before; its report is reused (--no-cache runs it again).")
    out.yaml({"test": report.key, "results": report.results})
    out.success("Compatibility test passed")
    out.next_step(f"medperf-git test view {report.key}")


def _run_several(s, benchmark, data_preparation, models, metrics, data_uid, no_cache, jobs, settings) -> None:
    """One test per model, ``jobs`` at a time: each one's report or error, then the count; exit 5 if any failed."""
    from medperf_git.errors import ContainerFailed
    from medperf_git.flows.compat import run_tests

    outcomes = run_tests(s, models=list(models), jobs=jobs, benchmark=benchmark, data_preparation=data_preparation,
                         metrics=metrics, data_uid=data_uid, no_cache=no_cache, settings=settings)
    out.yaml([{"model": o.model, "test": o.report.key, "results": o.report.results} if o.report else
              {"model": o.model, "error": o.error} for o in outcomes])
    failed = [o for o in outcomes if o.error]
    if failed:
        raise ContainerFailed(f"{len(failed)} of {len(outcomes)} compatibility tests failed (model "
                              f"{', '.join(str(o.model) for o in failed)}); each error is above",
                              hint="run one with `medperf-git test run -m MODEL` to see its log")
    out.success(f"Compatibility tests passed ({len(outcomes)} models)")
    out.next_step(f"medperf-git test view {outcomes[0].report.key}")


@click.command()
@json_option
@pass_session
def ls(s, as_json):
    """List past compatibility tests."""
    from medperf_git.flows.compat import list_tests

    reports = list_tests(s)
    if as_json:
        out.json([{"uid": r.key, **r.data} for r in reports])
        return
    rows = []
    for r in reports:
        inputs = r.data.get("inputs", {})
        data = inputs.get("data", {})
        source = f"dataset {data['dataset'][:12]}" if "dataset" in data else "demo data"
        rows.append((r.key, source, inputs.get("model"), inputs.get("metrics"), r.data.get("created_at", "")))
    out.table(rows, ["UID", "Data source", "Model", "Metrics", "Created"])


@click.command()
@click.argument("uid")
@json_option
@pass_session
def view(s, uid, as_json):
    """Show one compatibility test report."""
    from medperf_git.flows.compat import get_test

    report = get_test(s, uid)
    data = {"uid": report.key, **report.data}
    out.json(data) if as_json else out.yaml(data)
