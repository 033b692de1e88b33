"""`medperf-git result ls|view|submit|create|show_local_results|reencrypt`: local results, results on main
(decrypted for their readers), and running one model."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import (
    benchmark_option,
    data_uid_option,
    format_option,
    json_option,
    model_run_options,
    output_option,
    yes_option,
)
from medperf_git.cli._output import out
from medperf_git.cli._publish import apply_no_wait, confirmer, no_wait_option, report
from medperf_git.cli._run_options import run_options, settings_from


@click.command()
@click.option("--benchmark", "-b", type=int, help="Only results of this benchmark.")
@click.option("--model", "-m", type=int, help="Only results of this model.")
@click.option("--dataset", "-d", type=int, help="Only results on this dataset (registry id).")
@click.option("--unsubmitted", is_flag=True, help="Only results not submitted yet.")
@click.option("--mine", "-user", "mine", is_flag=True, help="Your results (all local results are yours).")
@click.option("--published", is_flag=True,
              help="The results on the registry's main instead, with their metrics where you may read them.")
@json_option
@pass_session
def ls(s, benchmark, model, dataset, unsubmitted, mine, published, as_json):
    """List your local results and whether they are published (--published: everyone's, on main)."""
    from medperf_git.flows.result import list_local, list_published

    if published:
        shown = list_published(s, benchmark=benchmark, model=model, dataset=dataset)
        if as_json:
            out.json(shown)
            return
        out.table([(r["name"], r["benchmark"], r["model"], r["dataset"], r["owner"], r["partial"],
                    r.get("encrypted") or _metrics_text(r["metrics"])) for r in shown],
                  ["UID", "Benchmark", "Model", "Dataset", "Owner", "Partial", "Metrics"])
        if shown:
            out.next_step(f"medperf-git result view {shown[0]['name']}")
        return

    rows = list_local(s, benchmark=benchmark, model=model, dataset=dataset, unsubmitted=unsubmitted)
    if as_json:
        out.json([r.to_dict() for r in rows])
        return
    out.table([(r.execution.name, r.execution.info["benchmark"], r.execution.info["model"],
                r.execution.info["dataset"], r.execution.partial, r.state, "; ".join(r.flags)) for r in rows],
              ["UID", "Benchmark", "Model", "Dataset", "Partial", "State", "Flags"])
    pending = [r for r in rows if r.state == "local"]
    if pending:
        out.next_step(f"medperf-git result submit --result {pending[0].execution.name}")


@click.command()
@click.argument("name")
@json_option
@format_option
@output_option
@pass_session
def view(s, name, as_json, fmt, output):
    """Show a result's metrics and state: yours, local, or one on main (for example `result view b1m4d1`).

    A result of a committee benchmark is decrypted with your profile's key when you are one of its readers;
    anyone else is told it is encrypted for the committee, without numbers.
    """
    from medperf_git.flows.result import published, show

    if s.executions.get(name) is None:
        shown = published(s, name)
        if shown is not None:
            out.document(shown, "json" if as_json else fmt, output)
            if shown.get("encrypted") and not as_json:
                out.info(f"Result {name} is {shown['encrypted']}: only {', '.join(shown.get('readers') or [])} "
                         "can read its metrics.")
            out.next_step(f"medperf-git benchmark view {shown['benchmark']}")
            return
    result = show(s, name)
    out.document(result.to_dict(), "json" if as_json else fmt, output)
    if result.state == "local" and not as_json:
        out.next_step(f"medperf-git result submit --result {name}")


@click.command("show-local-results")
@click.argument("name")
@format_option
@output_option
@pass_session
def show_local_results(s, name, fmt, output):
    """Print a local result's metrics, as its metrics container wrote them (MedPerf's show_local_results)."""
    from medperf_git.flows.result import show

    result = show(s, name)
    out.document(result.metrics, fmt, output)
    if result.state == "local":
        out.next_step(f"medperf-git result submit --result {name}")


@click.command()
@model_run_options
@run_options
@pass_session
def create(s, benchmark, data_uid, model, ignore_model_errors, no_cache, new_result, runner, gpus, python, timeout):
    """Run one model of a benchmark on your dataset (MedPerf's `result create`); nothing is published."""
    from medperf_git.flows.execution import run_model

    outcome = run_model(s, benchmark=benchmark, data_uid=data_uid, model=model, no_cache=no_cache,
                        new_result=new_result, ignore_model_errors=ignore_model_errors,
                        settings=settings_from(runner, gpus, python, timeout))
    _show_outcome(outcome)
    out.next_step(f"medperf-git result submit --result {outcome.name}")


def _show_outcome(outcome) -> None:
    if outcome.cached:
        out.info(f"Model {outcome.model} ran before: result {outcome.name} is reused (--no-cache or --new-result "
                 "run it again).")
    else:
        out.success(f"Model {outcome.model} ran: result {outcome.name}" + (" (partial)" if outcome.partial else ""))
    out.echo(outcome.name)


@click.command()
@click.option("--result", "-r", "name", help="The local result UID, e.g. b1m4d1.")
@benchmark_option(required=False, help="With -d and -m: the newest result of that model on that dataset.")
@data_uid_option(required=False, help="With -b and -m: your dataset's registry id or local UID prefix.")
@click.option("--model_uid", "--model-uid", "--model", "-m", "model", type=int, help="With -b and -d: the model.")
@click.option("--all", "submit_all", is_flag=True, help="Every local result not submitted yet.")
@yes_option
@no_wait_option
@pass_session
def submit(s, name, benchmark, data_uid, model, submit_all, yes, no_wait=False):
    """Publish a result's metrics and the pins that produced them."""
    apply_no_wait(s, no_wait)
    from medperf_git.flows import result as flow
    confirm = confirmer("Do you approve uploading the presented results to the registry?", yes,
                        intro="These are the results generated by the model, with what produced them:")

    by_run = (benchmark, data_uid, model)
    if submit_all + bool(name) + any(v is not None for v in by_run) != 1 or \
            any(v is not None for v in by_run) and None in by_run:
        raise click.UsageError("give --result NAME, or -b BENCHMARK -d DATASET -m MODEL, or --all")
    if submit_all:
        names = [r.execution.name for r in flow.list_local(s, unsubmitted=True)]
        if not names:
            out.info("Every local result is submitted already.")
            return
        for each in names:
            outcome = flow.submit(s, each, confirm)
            out.success(f"Result {each}: submission {outcome.number} "
                        + ("merged" if outcome.merged else "opened"))
        out.next_step("medperf-git result ls")
        return
    outcome = flow.submit(s, name, confirm, benchmark=benchmark, data_uid=data_uid, model=model)
    report(outcome, f"result {outcome.record.get('name')} is published at {outcome.path}", "medperf-git result ls")


def _metrics_text(metrics) -> str:
    if not isinstance(metrics, dict):
        return ""
    return ", ".join(f"{k}={v}" for k, v in list(metrics.items())[:4]) + (", ..." if len(metrics) > 4 else "")


@click.command()
@benchmark_option()
@yes_option
@pass_session
def reencrypt(s, benchmark, yes):
    """Encrypt a committee benchmark's results again to its current readers (after a key or owner change).

    One submission holds every result whose recipients are stale; the plaintext (and its sha256) stays the same.
    You must be a current reader of each result to re-encrypt it.
    """
    from medperf_git.flows.confidential import reencrypt as flow

    done = flow(s, benchmark=benchmark, confirm=confirmer("Do you approve re-encrypting these results?", yes,
                                                           medperf_asks=False))
    for name in done.unreadable:
        out.warn(f"result {name}: your key is not among its recipients; another reader re-encrypts it")
    if done.outcome is None:
        out.info(f"Every result of benchmark {benchmark} you can read is encrypted to its current readers.")
        out.next_step(f"medperf-git result ls --published --benchmark {benchmark}")
        return
    report(done.outcome, f"{len(done.records)} result(s) of benchmark {benchmark} are re-encrypted",
           f"medperf-git result ls --published --benchmark {benchmark}")
