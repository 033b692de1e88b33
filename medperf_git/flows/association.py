"""Associations between a benchmark and a dataset or a model: ask, list, approve, reject, revoke.

Status is derived, never hand-written: an association in an open submission is pending; merged
into main, approved; in a submission closed unmerged, rejected (with its reason); a merged
``revoked`` field ends it.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass, field
from typing import Any

from medperf_git.errors import PolicyDenied, RecordNotFound, UsageError
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.dataset import Cancelled, Confirm, PublishOutcome, pending_request
from medperf_git.flows.session import RegistrySession
from medperf_git.records.layout import parse_path, record_path


@dataclass
class AssociationRow:
    benchmark: int
    component: str  # dataset | model
    component_id: int
    status: str  # pending | approved | rejected | revoked
    initiated_by: str | None = None
    submission: int | None = None
    must_act: list[str] = field(default_factory=list)
    reason: str | None = None
    priority: int | None = None
    change: int | None = None  # an open submission that would change this merged association

    def to_dict(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, self.component: self.component_id, "status": self.status,
                "initiated_by": self.initiated_by, "submission": self.submission, "must_act": self.must_act,
                "reason": self.reason, "priority": self.priority, "change_pending": self.change}


def _row_from_record(record: dict[str, Any], component: str) -> AssociationRow:
    revoked = record.get("revoked")
    return AssociationRow(record["benchmark"], component, record[component],
                          "revoked" if revoked else "approved", record.get("initiated_by"),
                          reason=revoked.get("reason") if revoked else None, priority=record.get("priority"))


def _component_owner(s: RegistrySession, component: str, cid: int) -> str | None:
    record = s.find("dataset" if component == "dataset" else "container", cid)
    return record.get("owner") if record else None


def list_associations(s: RegistrySession, *, benchmark: int | None = None, component: str | None = None,
                      status: str | None = None, everyone: bool = False) -> list[AssociationRow]:
    """Associations involving me (my benchmarks, datasets or models, or my requests), or everyone's.

    The state on main comes first: an open submission that changes a merged association (its priority,
    a revocation) is shown as a change pending on it, never as if the association itself were pending.
    """
    from medperf_git.flows.submission import list_submissions

    s.fetch(tolerate=True)
    rows: dict[tuple[int, str, int], AssociationRow] = {}
    for kind in ("dataset", "model"):
        for record in s.all_associations(kind):
            rows[(record["benchmark"], kind, record[kind])] = _row_from_record(record, kind)
    subs, _, _ = list_submissions(s)
    repo = s.clone.repo
    for sub in subs:
        if sub.kind != "association" or sub.state == "merged":
            continue
        fork = repo.merge_base(s.commit, sub.head)
        if not fork:
            continue
        for _, _, _, path in repo.diff_tree(fork, sub.head):
            rp = parse_path(path)
            if rp is None or rp.kind != "association":
                continue
            key = (rp.benchmark, rp.component, rp.id)
            merged = key in rows and rows[key].status in ("approved", "revoked")
            if merged and sub.state == "open":
                rows[key].change = sub.number
                continue
            if merged:
                continue
            if sub.state == "open":
                rows[key] = AssociationRow(rp.benchmark, rp.component, rp.id, "pending", sub.author, sub.number,
                                           _must_act(s, sub.number))
            elif key not in rows or rows[key].status == "rejected":
                rows[key] = AssociationRow(rp.benchmark, rp.component, rp.id, "rejected", sub.author, sub.number,
                                           reason=sub.close_reason)
    me = s.profile.handle
    result = []
    for (b, comp, cid), row in sorted(rows.items()):
        if benchmark is not None and b != benchmark or component is not None and comp != component:
            continue
        if status is not None and row.status != status:
            continue
        if not everyone:
            bench = s.find("benchmark", b) or {}
            involved = {row.initiated_by, _component_owner(s, comp, cid), *bench.get("owners", [])}
            if me not in involved:
                continue
        result.append(row)
    return result


def _must_act(s: RegistrySession, number: int) -> list[str]:
    from medperf_git.flows.submission import show_submission

    assessment = show_submission(s, number)
    verdict = assessment.verdict
    if verdict is None:
        return []
    return sorted({c for r in verdict.requirements if not r.satisfied for c in r.candidates})


def _pending_submission(s: RegistrySession, benchmark: int, component: str, cid: int) -> int:
    path = record_path("association", cid, benchmark, component)
    current = s.association(benchmark, component, cid)
    if current is not None and not current.get("revoked"):
        raise UsageError(f"the association of {component} {cid} with benchmark {benchmark} is already approved",
                         hint="see `medperf-git association ls`")
    request = pending_request(s, benchmark, component, cid)
    if request is not None:
        return request.number
    raise RecordNotFound(f"there is no pending request to associate {component} {cid} with benchmark {benchmark} "
                         f"({path})", hint="see `medperf-git association ls`")


def request_records(s: RegistrySession, assessment) -> dict[str, Any]:
    """What an open submission proposes, record by record (shown before approving it)."""
    from medperf_git.records.yamlio import YamlError, load_yaml

    records: dict[str, Any] = {}
    for status, path in assessment.changes:
        if status == "D":
            records[path] = "(deleted)"
            continue
        raw = s.clone.repo.read_path(assessment.submission.head, path)
        try:
            records[path] = load_yaml(raw or b"", path)
        except YamlError as exc:
            records[path] = f"(invalid: {exc.reason})"
    return records


def find_request(s: RegistrySession, *, benchmark: int, component: str, cid: int) -> int:
    """The number of the open submission that asks for this association."""
    s.fetch(tolerate=True)
    return _pending_submission(s, benchmark, component, cid)


def _change(s: RegistrySession, benchmark: int, component: str, cid: int, edit, title: str,
            confirm: Confirm) -> PublishOutcome:
    from medperf_git.flows._publish import publish

    s.require_identity()
    s.fetch(tolerate=True)
    current = s.association(benchmark, component, cid)
    if current is None:
        raise RecordNotFound(f"{component} {cid} has no approved association with benchmark {benchmark}",
                             hint="see `medperf-git association ls`")
    record = copy.deepcopy(current)
    edit(s, record)
    if not confirm(record):
        raise Cancelled("nothing was changed")
    return publish(s, {"association": record}, title=title, kind="association")


def set_priority(s: RegistrySession, *, benchmark: int, model: int, priority: int,
                 confirm: Confirm) -> PublishOutcome:
    """Order `benchmark run`: highest priority first, ties by model id. Benchmark owners only."""
    def edit(s: RegistrySession, record: dict[str, Any]) -> None:
        bench = s.record("benchmark", benchmark)
        if s.profile.handle not in bench["owners"]:
            raise PolicyDenied(f"only benchmark {benchmark}'s owners set priorities")
        if record.get("revoked"):
            raise UsageError(f"model {model}'s association with benchmark {benchmark} is revoked")
        record["priority"] = priority

    return _change(s, benchmark, "model", model, edit, f"Priority {priority} for model {model} in benchmark "
                   f"{benchmark}", confirm)


def revoke(s: RegistrySession, *, benchmark: int, component: str, cid: int, reason: str,
           confirm: Confirm) -> PublishOutcome:
    """End an association; results already made stay, flagged. A benchmark owner or the component owner."""
    if not reason.strip():
        raise UsageError("--reason is needed")

    def edit(s: RegistrySession, record: dict[str, Any]) -> None:
        bench = s.record("benchmark", benchmark)
        if s.profile.handle not in {*bench["owners"], _component_owner(s, component, cid)}:
            raise PolicyDenied("only a benchmark owner or the component's owner may revoke an association")
        if record.get("revoked"):
            raise UsageError(f"the association of {component} {cid} with benchmark {benchmark} is already revoked")
        at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        record["revoked"] = {"by": s.profile.handle, "at": at, "reason": reason.strip()}

    return _change(s, benchmark, component, cid, edit, f"Revoke {component} {cid} from benchmark {benchmark}",
                   confirm)


def associate_model(s: RegistrySession, *, benchmark: int, model: int, confirm: Confirm,
                    settings: RunSettings | None = None, no_cache: bool = False) -> PublishOutcome:
    """Test a model on the benchmark's demo data, then ask to join; the model owner or a committee member."""
    from medperf_git.flows._publish import publish
    from medperf_git.flows.benchmark import check_roles, compatibility_test
    from medperf_git.flows.container import ArchiveInput

    s.require_identity()
    s.fetch(tolerate=True)
    bench = s.record("benchmark", benchmark)
    container = s.record("container", model)
    check_roles(s, {"reference_model": model})
    me = s.profile.handle
    if me != container["owner"] and me not in bench["owners"]:
        raise PolicyDenied(f"model {model} belongs to {container['owner']}; only its owner or benchmark "
                           f"{benchmark}'s owners may ask to associate it")
    current = s.association(benchmark, "model", model)
    if current is not None and not current.get("revoked"):
        raise UsageError(f"model {model} is already associated with benchmark {benchmark}")
    if model == bench["reference_model"]:
        raise UsageError(f"model {model} is benchmark {benchmark}'s reference model; it needs no association")
    open_request = pending_request(s, benchmark, "model", model)
    if open_request is not None:  # asked before: nothing to test or publish again
        return open_request
    record: dict[str, Any] = {"schema_version": 1, "kind": "association", "benchmark": benchmark, "model": model,
                              "initiated_by": me}
    demo = bench.get("demo_dataset")
    if not bench.get("skip_compatibility_tests"):
        if not demo:
            raise UsageError(f"benchmark {benchmark} has no demo dataset to test the model on")
        result = compatibility_test(s, settings or RunSettings(), data_preparation=bench["data_preparation"],
                                    model=model, metrics=bench["metrics"],
                                    demo=ArchiveInput(demo["url"], demo["hash"]), no_cache=no_cache)
        record["compatibility_test"] = {"results": result.results, "provenance": result.data["provenance"]}
    record["priority"] = 0
    if not confirm(record):
        raise Cancelled("no association was requested")
    return publish(s, {"association": record}, title=f"Model {model} joins benchmark {benchmark}",
                   kind="association")
