"""Compatibility tests: data through preparation, a model and the metrics, with any part replaced
by a local container config. A test is cached by exactly what went into it."""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_git.errors import RecordNotFound, UnsafeArchive, UsageError
from medperf_git.flows._containers import ContainerRunner, RunSettings
from medperf_git.flows.session import RegistrySession
from medperf_git.records.yamlio import YamlError, load_yaml_file
from medperf_git.workspace.atomic import staged_dir, write_yaml
from medperf_git.workspace.datasets import LocalDataset
from medperf_git.workspace.executions import Executions

REPORT = "report.yaml"


@dataclass
class TestReport:
    key: str
    data: dict[str, Any]  # what went in, the demo's prepared uid, the results, their provenance

    @property
    def results(self) -> dict[str, Any]:
        return self.data["results"]

    @property
    def cached(self) -> bool:
        return bool(self.data.get("cached"))


def parse_part(value: str | int | None) -> int | str | None:
    """A container id (all digits) or the path of a local container_config.yaml."""
    if value is None or isinstance(value, int):
        return value
    if value.isdigit():
        return int(value)
    path = Path(value).expanduser().absolute()
    if not path.is_file():
        raise UsageError(f"{value} is neither a container id nor a container_config.yaml file")
    return str(path)


def _demo_paths(root: Path) -> tuple[Path, Path]:
    paths_file = root / "paths.yaml"
    if not paths_file.is_file():
        raise UsageError("the demo dataset has no paths.yaml at its top level",
                         hint="it must hold data_path and labels_path, relative to the archive's root")
    try:
        paths = load_yaml_file(paths_file)
    except YamlError as exc:
        raise UsageError(f"the demo dataset's paths.yaml: {exc.reason}") from None
    found = []
    for key in ("data_path", "labels_path"):
        value = paths.get(key) if isinstance(paths, dict) else None
        if not isinstance(value, str) or not value:
            raise UsageError(f"the demo dataset's paths.yaml has no {key}")
        target = (root / value).resolve()
        if value.startswith("/") or (root.resolve() not in target.parents and target != root.resolve()):
            raise UnsafeArchive(f"the demo dataset's paths.yaml: {key} '{value}' points outside the archive")
        if not target.is_dir():
            raise UsageError(f"the demo dataset's paths.yaml: {key} '{value}' is not a folder in the archive")
        found.append(target)
    return found[0], found[1]


def _tests_dir(s: RegistrySession) -> Path:
    return s.data_dir / "tests"


@dataclass
class _Plan:
    """What a test takes in, read from the registry before anything runs (so tests can run side by side)."""

    key: str
    runner: ContainerRunner
    runner_name: str
    inputs: dict[str, Any]
    benchmark: int | None
    prep: int | str | None
    model: int | str
    metrics: int | str
    ds: LocalDataset | None = None
    demo: Any = None
    demo_pin: dict[str, Any] | None = None


def run_test(s: RegistrySession, *, benchmark: int | None = None, data_preparation: int | str | None = None,
             model: int | str | None = None, metrics: int | str | None = None, data_uid: str | None = None,
             demo: Any = None, no_cache: bool = False, settings: RunSettings | None = None) -> TestReport:
    """Run (or reuse) a compatibility test; ``demo`` is an ArchiveInput, else the benchmark's demo data."""
    plan = _plan(s, benchmark=benchmark, data_preparation=data_preparation, model=model, metrics=metrics,
                 data_uid=data_uid, demo=demo, runner=ContainerRunner(s, settings or RunSettings()))
    return _execute(s, plan, no_cache=no_cache)


@dataclass
class TestOutcome:
    """One model's test among several: its report, or the first line of its error."""

    model: int | str
    report: TestReport | None = None
    error: str | None = None


def run_tests(s: RegistrySession, *, models: list[int | str], jobs: int = 1, benchmark: int | None = None,
              data_preparation: int | str | None = None, metrics: int | str | None = None,
              data_uid: str | None = None, no_cache: bool = False,
              settings: RunSettings | None = None) -> list[TestOutcome]:
    """The same test for several models, up to ``jobs`` at once; a failing model is an outcome, not the end."""
    from medperf_git.errors import ContainerFailed, MedperfGitError
    from medperf_git.flows._parallel import in_parallel, labelled_settings

    settings = settings or RunSettings()
    plans: list[_Plan | TestOutcome] = []
    for model in dict.fromkeys(models):
        try:
            plans.append(_plan(s, benchmark=benchmark, data_preparation=data_preparation, model=model,
                               metrics=metrics, data_uid=data_uid, demo=None,
                               runner=ContainerRunner(s, labelled_settings(settings, model) if jobs > 1 else settings)))
        except (ContainerFailed, MedperfGitError) as exc:
            if isinstance(exc, UsageError):
                raise
            plans.append(TestOutcome(model, error=exc.message.splitlines()[0]))

    def one(plan: _Plan | TestOutcome) -> TestOutcome:
        if isinstance(plan, TestOutcome):
            return plan
        try:
            return TestOutcome(plan.model, _execute(s, plan, no_cache=no_cache))
        except (ContainerFailed, MedperfGitError) as exc:
            return TestOutcome(plan.model, error=exc.message.splitlines()[0])

    return in_parallel(one, plans, jobs)


def _plan(s: RegistrySession, *, benchmark: int | None, data_preparation: int | str | None,
          model: int | str | None, metrics: int | str | None, data_uid: str | None, demo: Any,
          runner: ContainerRunner) -> _Plan:
    from medperf_git.flows.container import ArchiveInput, pin_archive

    s.fetch(tolerate=True)
    bench = s.record("benchmark", benchmark) if benchmark is not None else {}
    prep = parse_part(data_preparation) or bench.get("data_preparation")
    model = parse_part(model) or bench.get("reference_model")
    metrics = parse_part(metrics) or bench.get("metrics")
    if model is None or metrics is None:
        raise UsageError("give --benchmark, or both --model and --metrics")
    inputs: dict[str, Any] = {"model": model, "metrics": metrics}
    pins = {role: {**runner.resolve(part).pins, "source_key": runner.resolve(part).source_key}
            for role, part in (("model", model), ("metrics", metrics))}
    plan = _Plan("", runner, runner.settings.runner or s.profile.runner or "auto", inputs, benchmark, prep, model,
                 metrics)
    if data_uid is not None:
        if data_preparation is not None:
            raise UsageError("--data-preparation is not used with --data_uid: that data is already prepared")
        plan.ds = s.local_dataset(data_uid)
        inputs["data"] = {"dataset": plan.ds.uid}
    else:
        if demo is None:
            if not bench.get("demo_dataset"):
                raise UsageError("there is no data to test on: give --data_uid, or a benchmark with a demo dataset")
            demo = ArchiveInput(bench["demo_dataset"]["url"], bench["demo_dataset"]["hash"])
        if prep is None:
            raise UsageError("give --benchmark or --data-preparation to prepare the demo data")
        plan.demo, plan.demo_pin = demo, pin_archive(s, "the demo dataset", demo)
        inputs["data"] = {"demo": {"url": plan.demo_pin["url"], "hash": plan.demo_pin["hash"]}}
        inputs["data_preparation"] = prep
        pins["data_preparation"] = {**runner.resolve(prep).pins, "source_key": runner.resolve(prep).source_key}
    # The runner is part of what went in: a test passed under docker says nothing of the sandbox.
    plan.key = hashlib.sha256(json.dumps({"inputs": inputs, "pins": pins, "runner": plan.runner_name},
                                         sort_keys=True, default=str).encode()).hexdigest()[:24]
    return plan


def _execute(s: RegistrySession, plan: _Plan, *, no_cache: bool) -> TestReport:
    """Run a planned test, touching only files (no registry reads): safe in a thread of its own."""
    from medperf_git.flows.dataset import prepare_into
    from medperf_git.flows.execution import execute_model
    from medperf_git.runners.archives import safe_extract
    from medperf_git.runners.fetch import fetch

    folder = _tests_dir(s) / plan.key
    if not no_cache and (folder / REPORT).exists():
        report = load_yaml_file(folder / REPORT)
        return TestReport(plan.key, {**report, "cached": True})
    logs = s.logs_dir / "tests" / plan.key
    runner, prep, ds, demo_pin = plan.runner, plan.prep, plan.ds, plan.demo_pin
    # Built under a temporary name: the previous report (--no-cache) stays until this one is complete.
    with staged_dir(folder) as work:
        if ds is None:
            archive = fetch(demo_pin["url"], demo_pin["hash"], s.ws.downloads_dir, allow_file=True) \
                if plan.demo.location.startswith(("https://", "http://", "file://")) else Path(plan.demo.location)
            safe_extract(archive, work / "demo")
            data_path, labels_path = _demo_paths(work / "demo")
            prepared = prepare_into(runner, prep, data_path, labels_path, work / "prepared", logs=logs)
            ds = LocalDataset(work / "prepared", {"generated_uid": prepared.hash.digest, "registry_id": None,
                                                  "preparation": {"id": prep, **prepared.run.pins}
                                                  if isinstance(prep, int) else {"config": prep,
                                                                                 **prepared.run.pins}})
        execution = execute_model(s, runner, {"id": plan.benchmark or 0, "metrics": plan.metrics}, plan.model, ds,
                                  "b0m0d0", executions=Executions(work / "executions"), logs=logs)
        report = {"inputs": plan.inputs, "runner": plan.runner_name, "generated_uid": ds.generated_uid,
                  "results": execution.metrics(), "provenance": execution.info["provenance"],
                  "created_at": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()}
        if plan.ds is None:
            report["demo"] = {"url": demo_pin["url"], "hash": demo_pin["hash"], "generated_uid": ds.generated_uid}
        write_yaml(work / REPORT, report)
    return TestReport(plan.key, report)


def list_tests(s: RegistrySession) -> list[TestReport]:
    folder = _tests_dir(s)
    reports = []
    for child in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not child.name.startswith(".") and (child / REPORT).is_file():
            try:
                reports.append(TestReport(child.name, load_yaml_file(child / REPORT)))
            except YamlError:
                continue
    return reports


def get_test(s: RegistrySession, key: str) -> TestReport:
    matches = [r for r in list_tests(s) if r.key.startswith(key)]
    if len(matches) != 1:
        raise RecordNotFound(f"no single test report matches '{key}'" if not matches else
                             f"'{key}' matches {len(matches)} test reports; give more characters",
                             hint="see `medperf-git test ls`")
    return matches[0]
