"""Running models on a prepared dataset: the compatibility test and `benchmark run`.

Each model's run is built in a staging folder and renamed into place only when it is complete,
so an interrupted run keeps the finished results and restarts the unfinished one cleanly.
"""

from __future__ import annotations

import datetime
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git import __version__
from medperf_git.errors import ContainerFailed, MedperfGitError, PolicyDenied, RecordNotFound, UsageError
from medperf_git.flows._containers import ContainerRunner, RunSettings, container_provenance
from medperf_git.flows.session import RegistrySession
from medperf_git.records.yamlio import YamlError, load_yaml_file
from medperf_git.workspace.datasets import LocalDataset
from medperf_git.workspace.executions import Execution, Executions

ISOLATION_ORDER = {"none": 0, "sandbox": 1, "container": 2}


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class ModelOutcome:
    """One row of the summary table."""

    model: int
    name: str | None = None
    partial: bool = False
    cached: bool = False
    error: str | None = None


@dataclass
class RunSummary:
    benchmark: int
    dataset: int
    outcomes: list[ModelOutcome] = field(default_factory=list)

    @property
    def cached(self) -> list[ModelOutcome]:
        return [o for o in self.outcomes if o.cached and not o.error]

    @property
    def failed(self) -> list[ModelOutcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def ran(self) -> list[ModelOutcome]:
        return [o for o in self.outcomes if not o.cached and not o.error]


def registered_dataset(s: RegistrySession, ds: LocalDataset, benchmark: dict[str, Any]) -> dict[str, Any]:
    """The registry's record for a local dataset, checked against the data and the benchmark."""
    if ds.registry_id is None:
        raise UsageError(f"dataset {ds.uid[:12]} is not registered yet",
                         hint=f"run `medperf-git dataset submit --data_uid {ds.uid[:12]}` first")
    record = s.record("dataset", ds.registry_id)
    if record["generated_uid"] != ds.generated_uid:
        raise MedperfGitError(f"registry dataset {ds.registry_id} has UID {record['generated_uid']}, but the local "
                              f"data has {ds.generated_uid}")
    if record["data_preparation"] != benchmark["data_preparation"]:
        raise PolicyDenied(f"dataset {ds.registry_id} was prepared with container {record['data_preparation']}, "
                           f"but benchmark {benchmark['id']} prepares data with container "
                           f"{benchmark['data_preparation']}",
                           hint="prepare the data again with "
                                f"`medperf-git dataset create --benchmark {benchmark['id']}`")
    return record


def association_state(s: RegistrySession, benchmark: int, component: str, cid: int) -> str:
    """approved, revoked, or missing (pending requests are not on main yet)."""
    record = s.association(benchmark, component, cid)
    if record is None:
        return "missing"
    return "revoked" if record.get("revoked") else "approved"


def execute_model(s: RegistrySession, runner: ContainerRunner, benchmark: dict[str, Any], model: int | str,
                  ds: LocalDataset, name: str, *, ignore_model_errors: bool = False,
                  executions: Executions | None = None, logs: Path | None = None) -> Execution:
    """Infer with ``model`` and evaluate with the benchmark's metrics; returns the finished execution.

    The tasks' logs go to ``logs`` (default: the registry's logs folder), outside the staging folder, so a
    failed task's log stays where its error says.
    """
    executions = executions or s.executions
    final = executions.root / name
    staging = executions.root / f".staging-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    predictions = staging / "predictions"
    predictions.mkdir(parents=True)
    logs = logs or s.logs_dir / "executions" / name
    partial = False
    settings = runner.settings
    settings.step(f"Running model {model} on the dataset (infer)")
    try:
        infer = runner.run(model, "infer", {"data_path": ds.data_dir, "output_path": predictions}, logs)
    except ContainerFailed:
        if not ignore_model_errors:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        partial = True
        infer = None
    settings.step(f"Calculating metrics with container {benchmark['metrics']} (evaluate)")
    results_file = staging / "results.yaml"
    try:
        evaluate = runner.run(benchmark["metrics"], "evaluate",
                              {"predictions": predictions, "labels": ds.labels_dir, "output_path": results_file,
                               "local_outputs_path": staging / "local_outputs"}, logs)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    from medperf_git.hashing import sha256_file

    try:
        metrics = load_yaml_file(results_file)
    except YamlError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ContainerFailed(f"the metrics container wrote an invalid results file: {exc.message}",
                              hint=f"its log is {logs / 'evaluate.log'}") from None
    if not isinstance(metrics, dict) or not metrics:
        shutil.rmtree(staging, ignore_errors=True)
        raise ContainerFailed("the metrics container wrote no metrics (results.yaml is empty)",
                              hint=f"its log is {logs / 'evaluate.log'}")
    ran = evaluate if infer is None else infer
    containers = {"model": container_provenance(model, infer) if infer else
                  {"id": model, **runner.resolve(model).pins},
                  "metrics": container_provenance(benchmark["metrics"], evaluate)}
    if ds.info.get("preparation"):
        containers["data_preparation"] = ds.info["preparation"]
    info = {
        "name": name, "benchmark": benchmark["id"], "model": model, "dataset": ds.registry_id,
        "dataset_uid": ds.generated_uid, "partial": partial, "executed_at": now(),
        "results_hash": sha256_file(results_file),
        "provenance": {"dataset_uid": ds.generated_uid, "containers": containers, **ran.provenance(),
                       "isolation": min((evaluate.isolation, (infer or evaluate).isolation),
                                        key=ISOLATION_ORDER.__getitem__),
                       "tool_version": __version__},
        "submitted": None,
    }
    execution = Execution(staging, info)
    execution.save()
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    return Execution(final, info)


def _models_of(s: RegistrySession, benchmark: dict[str, Any]) -> list[int]:
    """The reference model first, then approved, unrevoked models by priority (highest first), ties by id."""
    rows = []
    for record in s.all_associations("model", benchmark["id"]):
        if not record.get("revoked"):
            rows.append((-(record.get("priority") or 0), record["model"]))
    ordered = [benchmark["reference_model"]]
    ordered += [m for _, m in sorted(rows) if m != benchmark["reference_model"]]
    return ordered


def _prepared_run(s: RegistrySession, benchmark: int, data_uid: str) -> tuple[dict[str, Any], LocalDataset, int]:
    """The benchmark, the local dataset and its registry id, once the dataset may run the benchmark's models."""
    s.fetch(tolerate=True)
    bench = s.record("benchmark", benchmark)
    ds = s.local_dataset(data_uid)
    record = registered_dataset(s, ds, bench)
    dataset_id = record["id"]
    state = association_state(s, benchmark, "dataset", dataset_id)
    if state == "approved":
        return bench, ds, dataset_id
    if state == "revoked":
        raise PolicyDenied(f"dataset {dataset_id} is not associated with benchmark {benchmark} (it was revoked)",
                           hint="see `medperf-git association ls`")
    from medperf_git.flows.dataset import pending_request

    request = pending_request(s, benchmark, "dataset", dataset_id)
    if request is not None:
        raise PolicyDenied(f"dataset {dataset_id} is not associated with benchmark {benchmark} yet: your request, "
                           f"submission {request.number}, waits for approval by "
                           f"{', '.join(request.waiting_for) or 'the benchmark committee'}",
                           hint=f"see `medperf-git submission show {request.number}`; run this again once it is merged")
    raise PolicyDenied(f"dataset {dataset_id} is not associated with benchmark {benchmark} (no approved association)",
                       hint="request it with "
                            f"`medperf-git dataset associate --benchmark_uid {benchmark} --data_uid {dataset_id}`")


def _check_models(s: RegistrySession, bench: dict[str, Any], models: list[int] | None) -> list[int]:
    allowed = _models_of(s, bench)
    if not models:
        return allowed
    unknown = [m for m in models if m not in allowed]
    if unknown:
        raise PolicyDenied(f"model{'s' if len(unknown) > 1 else ''} {', '.join(map(str, unknown))} "
                           f"{'are' if len(unknown) > 1 else 'is'} not associated with benchmark {bench['id']}",
                           hint=f"models of benchmark {bench['id']}: {', '.join(map(str, allowed))}")
    return [m for m in allowed if m in models]


def _run_one(s: RegistrySession, runner: ContainerRunner, bench: dict[str, Any], ds: LocalDataset, dataset_id: int,
             model: int, *, no_cache: bool, rerun_finalized: bool, ignore_model_errors: bool) -> ModelOutcome:
    """One model, by MedPerf's caching rules: a result is reused unless --no-cache (not for submitted ones) or
    --rerun-finalized / --new-result, which runs it again as a new result (-2, -3)."""
    benchmark = bench["id"]
    latest = s.executions.latest(benchmark, model, dataset_id)
    submitted = latest is not None and latest.submitted is not None
    if latest is not None and not rerun_finalized and (not no_cache or submitted):
        return ModelOutcome(model, latest.name, latest.partial, cached=True)
    name = s.executions.next_name(benchmark, model, dataset_id) if latest is None or submitted else latest.name
    execution = execute_model(s, runner, bench, model, ds, name, ignore_model_errors=ignore_model_errors)
    return ModelOutcome(model, execution.name, execution.partial)


def run_benchmark(s: RegistrySession, *, benchmark: int, data_uid: str, models: list[int] | None = None,
                  no_cache: bool = False, rerun_finalized: bool = False, ignore_model_errors: bool = False,
                  settings: RunSettings | None = None, jobs: int = 1) -> RunSummary:
    """Every model of the benchmark (or those listed) on the dataset; a failing model is a row, not the end.

    With ``jobs`` above 1, up to that many models run at once (threads that wait on processes or cluster jobs);
    the rows come in the same order, with the same results, as one after another.
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be 1 or more, not {jobs}")
    bench, ds, dataset_id = _prepared_run(s, benchmark, data_uid)
    runner = ContainerRunner(s, settings or RunSettings())
    chosen = _check_models(s, bench, models)

    def one(model: int, runner: ContainerRunner) -> ModelOutcome:
        try:
            return _run_one(s, runner, bench, ds, dataset_id, model, no_cache=no_cache,
                            rerun_finalized=rerun_finalized, ignore_model_errors=ignore_model_errors)
        except (ContainerFailed, MedperfGitError) as exc:
            if isinstance(exc, RecordNotFound | UsageError):
                raise
            return ModelOutcome(model, None, error=exc.message.splitlines()[0])

    summary = RunSummary(benchmark, dataset_id)
    if jobs == 1 or len(chosen) < 2:
        summary.outcomes = [one(model, runner) for model in chosen]
    else:
        from medperf_git.flows._parallel import side_by_side

        summary.outcomes = side_by_side(runner, chosen, [bench["metrics"]], one, jobs)
    return summary


def run_model(s: RegistrySession, *, benchmark: int, data_uid: str, model: int, no_cache: bool = False,
              new_result: bool = False, ignore_model_errors: bool = False,
              settings: RunSettings | None = None) -> ModelOutcome:
    """One model on the dataset (MedPerf's `result create`): its first error is the command's error."""
    bench, ds, dataset_id = _prepared_run(s, benchmark, data_uid)
    _check_models(s, bench, [model])
    return _run_one(s, ContainerRunner(s, settings or RunSettings()), bench, ds, dataset_id, model,
                    no_cache=no_cache, rerun_finalized=new_result, ignore_model_errors=ignore_model_errors)
