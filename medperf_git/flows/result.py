"""Results: view them locally, and publish one with the exact pins that produced it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medperf_git.errors import HashMismatch, PolicyDenied, UsageError
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.dataset import (
    Cancelled,
    Confirm,
    Origin,
    PublishOutcome,
    as_published,
    require_published_numbers,
)
from medperf_git.flows.execution import ModelOutcome, association_state
from medperf_git.flows.session import RegistrySession
from medperf_git.records.layout import record_path
from medperf_git.workspace.executions import Execution

PIN_KEYS = ("config_hash", "parameters_hash", "image", "source", "additional_files")


@dataclass
class ResultView:
    execution: Execution
    metrics: dict[str, Any]
    state: str  # local | submitted (#N) | published
    flags: list[str] = field(default_factory=list)  # e.g. "model 4's association was revoked"

    def to_dict(self) -> dict[str, Any]:
        info = self.execution.info
        return {"name": self.execution.name, "benchmark": info["benchmark"], "model": info["model"],
                "dataset": info["dataset"], "partial": self.execution.partial, "state": self.state,
                "flags": self.flags, "executed_at": info.get("executed_at"), "metrics": self.metrics}


def _state(s: RegistrySession, execution: Execution) -> str:
    info = execution.info
    if s.find("result", f"{info['benchmark']}/{execution.name}"):
        return "published"
    if execution.submitted:
        return f"submitted (#{execution.submitted.get('number')})"
    return "local"


def _flags(s: RegistrySession, execution: Execution) -> list[str]:
    """Results stay when an association is revoked; they are flagged so that nobody mistakes them."""
    info = execution.info
    flags = []
    for component in ("dataset", "model"):
        record = s.association(info["benchmark"], component, info[component])
        if record and record.get("revoked"):
            flags.append(f"{component} {info[component]}'s association was revoked: {record['revoked']['reason']}")
    return flags


def _view(s: RegistrySession, execution: Execution) -> ResultView:
    return ResultView(execution, execution.metrics(), _state(s, execution), _flags(s, execution))


def show(s: RegistrySession, name: str) -> ResultView:
    return _view(s, s.executions.require(name))


def published(s: RegistrySession, name: str) -> dict[str, Any] | None:
    """A result on main by name (``b1m4d1``), its metrics as this reader may see them; None if not there."""
    import re

    from medperf_git.flows.confidential import reveal

    found = re.match(r"^b([1-9][0-9]*)m[1-9][0-9]*d[1-9][0-9]*(-[0-9]+)?$", name)
    s.fetch(tolerate=True)
    record = s.find("result", f"{found.group(1)}/{name}") if found else None
    return None if record is None else published_view(record, reveal(s, record))


def published_view(record: dict[str, Any], revealed) -> dict[str, Any]:
    shown = {k: record[k] for k in ("name", "benchmark", "model", "dataset", "owner", "partial", "created_at")
             if k in record}
    shown.update(state="published", **revealed.to_dict("metrics"))
    if isinstance(record.get("encrypted"), dict):
        shown["readers"] = sorted({r.get("handle") for r in record["encrypted"].get("recipients") or []})
    shown["provenance"] = {k: record.get("provenance", {}).get(k) for k in ("runner", "isolation")}
    return shown


def list_published(s: RegistrySession, *, benchmark: int | None = None, model: int | None = None,
                   dataset: int | None = None) -> list[dict[str, Any]]:
    """Results on main, each with its metrics when this reader may read them (decrypted locally)."""
    from medperf_git.flows.confidential import my_key, published_results, reveal

    s.fetch(tolerate=True)
    key = my_key(s)
    return [published_view(r, reveal(s, r, key))
            for r in published_results(s, benchmark=benchmark, model=model, dataset=dataset)]


def list_local(s: RegistrySession, *, benchmark: int | None = None, model: int | None = None,
               dataset: int | None = None, unsubmitted: bool = False) -> list[ResultView]:
    s.fetch(tolerate=True)
    rows = []
    for execution in s.executions.all():
        info = execution.info
        if (benchmark and info["benchmark"] != benchmark or model and info["model"] != model
                or dataset and info["dataset"] != dataset):
            continue
        row = _view(s, execution)
        if unsubmitted and row.state != "local":
            continue
        rows.append(row)
    return rows


def _check_pins(s: RegistrySession, execution: Execution) -> None:
    """The local result must still match what is registered: containers' pins, the dataset, the file."""
    from medperf_git.hashing import sha256_file

    info = execution.info
    found = sha256_file(execution.results_file)
    if found != info.get("results_hash"):
        raise HashMismatch(f"result {execution.name}'s results.yaml", info.get("results_hash", "?"), found,
                           hint="the local result was changed after it ran; run the model again")
    dataset = s.record("dataset", info["dataset"])
    if dataset["generated_uid"] != info["dataset_uid"]:
        raise HashMismatch(f"dataset {info['dataset']}", dataset["generated_uid"], info["dataset_uid"])
    for role, pinned in info["provenance"]["containers"].items():
        record = s.record("container", pinned["id"])
        from medperf_git.hashing import canonical_json_hash

        current = {"config_hash": canonical_json_hash(record["config"]),
                   "parameters_hash": canonical_json_hash(record.get("parameters") or {})}
        current.update({k: record[k] for k in ("source", "additional_files") if record.get(k)})
        for key, value in current.items():
            if pinned.get(key) != value:
                raise HashMismatch(f"the {role} container {pinned['id']} ({key})", str(value), str(pinned.get(key)),
                                   hint="the container changed since this result ran; run the model again")


def result_record(s: RegistrySession, execution: Execution) -> dict[str, Any]:
    info = execution.info
    return {"schema_version": 1, "kind": "result", "name": execution.name, "benchmark": info["benchmark"],
            "model": info["model"], "dataset": info["dataset"], "owner": s.profile.handle,
            "metrics": as_published(execution.metrics()), "partial": execution.partial,
            "provenance": info["provenance"], "created_at": info["executed_at"]}


def latest_name(s: RegistrySession, benchmark: int, data_uid: str, model: int) -> str:
    """The newest local result of a model on a dataset (MedPerf's `result submit -b -d -m`)."""
    ds = s.local_dataset(data_uid)
    if ds.registry_id is None:
        raise UsageError(f"dataset {ds.uid[:12]} is not registered, so it has no results",
                         hint=f"publish it first: `medperf-git dataset set_operational --data_uid {ds.uid[:12]}`")
    latest = s.executions.latest(benchmark, model, ds.registry_id)
    if latest is None:
        raise UsageError(f"model {model} has no result on dataset {ds.registry_id} for benchmark {benchmark}",
                         hint=f"run it: `medperf-git result create -b {benchmark} -d {ds.registry_id} -m {model}`")
    return latest.name


def submit(s: RegistrySession, name: str | None, confirm: Confirm, *, benchmark: int | None = None,
           data_uid: str | None = None, model: int | None = None) -> PublishOutcome:
    """Publish one local result, named, or the newest of ``model`` on ``data_uid`` for ``benchmark``."""
    from medperf_git.flows._publish import publish

    s.require_identity()
    s.fetch(tolerate=True)
    if name is None:
        if benchmark is None or data_uid is None or model is None:
            raise UsageError("give --result NAME, or all of --benchmark, --data_uid and --model_uid")
        name = latest_name(s, benchmark, data_uid, model)
    execution = s.executions.require(name)
    info = execution.info
    path = record_path("result", execution.name, info["benchmark"])
    if s.find("result", f"{info['benchmark']}/{execution.name}"):
        raise UsageError(f"result {name} was already submitted ({path} is on main)",
                         hint=f"to publish a new run, `medperf-git benchmark run --benchmark {info['benchmark']} "
                              f"--data_uid {info['dataset']} --rerun-finalized`")
    if execution.submitted and execution.submitted.get("state") != "closed":
        raise UsageError(f"result {name} was already submitted (submission {execution.submitted.get('number')})",
                         hint=f"see `medperf-git submission show {execution.submitted.get('number')}`")
    bench = s.record("benchmark", info["benchmark"])
    if association_state(s, info["benchmark"], "dataset", info["dataset"]) != "approved":
        raise PolicyDenied(f"dataset {info['dataset']} has no approved association with benchmark "
                           f"{info['benchmark']}", hint="see `medperf-git association ls`")
    if info["model"] != bench["reference_model"] and \
            association_state(s, info["benchmark"], "model", info["model"]) != "approved":
        raise PolicyDenied(f"model {info['model']} has no approved association with benchmark {info['benchmark']}")
    _check_pins(s, execution)
    record = result_record(s, execution)
    require_published_numbers(f"result {name}", "metrics", record["metrics"], Origin.of_metrics(info))
    from medperf_git.flows.confidential import preview, seal_record

    sealed = seal_record(s, record, bench)
    if not confirm(preview(sealed, record["metrics"])):
        raise Cancelled("no result was submitted")
    outcome = publish(s, {"result": sealed}, title=f"Result {name}", kind="result")
    execution.info["submitted"] = {"number": outcome.number, "state": "merged" if outcome.merged else "open"}
    execution.save()
    return outcome


def run_and_submit(s: RegistrySession, *, benchmark: int, data_uid: str, model: int, confirm: Confirm,
                   no_cache: bool = False, new_result: bool = False, ignore_model_errors: bool = False,
                   settings: RunSettings | None = None) -> tuple[ModelOutcome, PublishOutcome]:
    """MedPerf's top-level `run`: `result create`, then `result submit` of what it made.

    A result submitted already is not run again without ``new_result``, so submitting it fails, as MedPerf's does.
    """
    from medperf_git.flows.execution import run_model

    outcome = run_model(s, benchmark=benchmark, data_uid=data_uid, model=model, no_cache=no_cache,
                        new_result=new_result, ignore_model_errors=ignore_model_errors, settings=settings)
    if outcome.cached and s.executions.require(str(outcome.name)).submitted:
        raise UsageError(f"result {outcome.name} is submitted already, so it was not run again; add --new-result "
                         "to run it and submit a new result")
    return outcome, submit(s, outcome.name, confirm)
