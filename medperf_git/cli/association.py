"""`medperf-git association ls|approve|reject|set-priority|revoke`, in MedPerf's terms."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import json_option, yes_option
from medperf_git.cli._output import out
from medperf_git.cli._publish import confirmer, report


def _component(data_uid: int | None, model: int | None) -> tuple[str, int]:
    if (data_uid is None) == (model is None):
        raise click.UsageError("give exactly one of --data_uid or --model")
    return ("dataset", data_uid) if data_uid is not None else ("model", model)


def _component_options(func):
    func = click.option("--model", "--model_uid", "--model-uid", "-m", "model", type=int, help="Model id.")(func)
    func = click.option("--data_uid", "--data-uid", "--dataset", "-d", "data_uid", type=int,
                        help="Dataset registry id.")(func)
    return click.option("--benchmark", "--benchmark_uid", "--benchmark-uid", "-b", "benchmark", type=int,
                        required=True, help="Benchmark id.")(func)


@click.command()
@click.option("--benchmark", type=int, metavar="ID", help="Only this benchmark.")
@click.option("-b", "benchmarks", is_flag=True,
              help="Benchmark associations (MedPerf's -b; every association here is one), e.g. `ls -bd`.")
@click.option("-t", "training", is_flag=True, hidden=True, help="MedPerf's training experiments (no meaning here).")
@click.option("--datasets", "-d", "component", flag_value="dataset", help="Only dataset associations (MedPerf's -d).")
@click.option("--models", "-m", "component", flag_value="model", help="Only model associations (MedPerf's -m).")
@click.option("--approval-status", "--approval_status", "--status", "status",
              type=click.Choice(["pending", "approved", "rejected", "revoked"], case_sensitive=False),
              help="Only associations with this status.")
@click.option("--all", "everyone", is_flag=True, help="Everyone's associations, not only those involving you.")
@json_option
@pass_session
def ls(s, benchmark, benchmarks, training, component, status, everyone, as_json):
    """Associations that involve you: their state on main first, then what open submissions ask for."""
    from medperf_git.flows.association import list_associations

    if training:
        raise click.UsageError("-t lists training experiments' associations, which have no meaning here; "
                               "use `association ls -bd` or `association ls -bm`")

    rows = list_associations(s, benchmark=benchmark, component=component,
                             status=status.lower() if status else None, everyone=everyone)
    if as_json:
        out.json([r.to_dict() for r in rows])
        return
    table = [(r.benchmark, r.component, r.component_id, r.initiated_by or "", r.status,
              ", ".join(r.must_act) if r.status == "pending" else "",
              r.submission or (f"#{r.change} (a change)" if r.change else ""), r.reason or "") for r in rows]
    out.table(table, ["Benchmark UID", "Kind", "UID", "Initiated by", "Status", "Must act", "Submission", "Reason"])
    pending = [r for r in rows if r.status == "pending" and s.profile.handle in r.must_act]
    if pending:
        r = pending[0]
        flag = "--data_uid" if r.component == "dataset" else "--model"
        out.next_step(f"medperf-git association approve --benchmark {r.benchmark} {flag} {r.component_id}")


@click.command()
@_component_options
@yes_option
@pass_session
def approve(s, benchmark, data_uid, model, yes):
    """Approve a pending association request (the same as `review approve` on its submission)."""
    from medperf_git.flows import association, review

    component, cid = _component(data_uid, model)
    number = association.find_request(s, benchmark=benchmark, component=component, cid=cid)
    assessment = review.prepare_approval(s, number)
    out.info(f"Submission {number} by {assessment.submission.author} proposes:")
    out.preview(association.request_records(s, assessment), "everyone who can read the registry, once merged")
    if not out.confirm(f"Approve the association of {component} {cid} with benchmark {benchmark}?", yes=yes,
                       medperf_asks=False):
        from medperf_git.flows.dataset import Cancelled

        raise Cancelled("nothing was approved")
    result = review.approve(s, number, expected_head=assessment.submission.head)
    if result.merged or result.already_merged_by:
        out.success(f"The association of {component} {cid} with benchmark {benchmark} is approved "
                    f"(submission {number} merged)")
    else:
        out.success(f"Your approval of submission {number} is recorded; still missing: {'; '.join(result.waiting)}")
    out.next_step("medperf-git association ls")


@click.command()
@_component_options
@click.option("--reason", default="rejected by the benchmark committee", show_default=True,
              help="Why: the requester sees it.")
@pass_session
def reject(s, benchmark, data_uid, model, reason):
    """Reject a pending association request (the same as `review reject` on its submission)."""
    from medperf_git.flows import association, review

    component, cid = _component(data_uid, model)
    number = association.find_request(s, benchmark=benchmark, component=component, cid=cid)
    review.reject(s, number, reason)
    out.success(f"Rejected the association of {component} {cid} with benchmark {benchmark} (submission {number})")
    out.next_step("medperf-git association ls")


@click.command("set-priority")
@click.option("--benchmark", "-b", type=int, required=True, help="Benchmark id.")
@click.option("--model", "--model_uid", "-m", "model", type=int, required=True, help="Model id.")
@click.option("--priority", "-p", type=int, required=True, help="Higher runs first in `benchmark run`.")
@yes_option
@pass_session
def set_priority(s, benchmark, model, priority, yes):
    """Set the order in which `benchmark run` runs a benchmark's models."""
    from medperf_git.flows.association import set_priority as flow

    outcome = flow(s, benchmark=benchmark, model=model, priority=priority,
                   confirm=confirmer("Change this priority?", yes, medperf_asks=False))
    report(outcome, f"model {model} has priority {priority} in benchmark {benchmark}", "medperf-git association ls")


@click.command()
@_component_options
@click.option("--reason", required=True, help="Why the association ends.")
@yes_option
@pass_session
def revoke(s, benchmark, data_uid, model, reason, yes):
    """End an association; its results stay, flagged."""
    from medperf_git.flows.association import revoke as flow

    component, cid = _component(data_uid, model)
    outcome = flow(s, benchmark=benchmark, component=component, cid=cid, reason=reason,
                   confirm=confirmer("Revoke this association?", yes))
    report(outcome, f"the association of {component} {cid} with benchmark {benchmark} is revoked",
           "medperf-git association ls")
