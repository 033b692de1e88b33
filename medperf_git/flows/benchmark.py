"""Benchmark committees: submit a benchmark (after a compatibility test on its demo data) and set
its association policy."""

from __future__ import annotations

import copy
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_git.errors import PolicyDenied, UnsafeArchive, UsageError
from medperf_git.flows._containers import ContainerRunner, RunSettings
from medperf_git.flows._registry import RegistryView
from medperf_git.flows.container import ArchiveInput, check_unique_name, pin_archive
from medperf_git.flows.dataset import Cancelled, Confirm, PublishOutcome, prepare_into
from medperf_git.flows.execution import execute_model
from medperf_git.records.yamlio import YamlError, load_yaml_file
from medperf_git.workspace.datasets import LocalDataset
from medperf_git.workspace.executions import Executions
from medperf_git.workspace.workspace import Workspace

ROLE_TASKS = {"data_preparation": ("prepare", "sanity_check", "statistics"), "reference_model": ("infer",),
              "metrics": ("evaluate",)}
POLICY_MODES = ("never", "always", "allowlist")


@dataclass
class CompatibilityResult:
    demo: dict[str, Any]  # {url, hash, generated_uid}
    results: dict[str, Any]
    provenance: dict[str, Any]


def check_roles(view: RegistryView, containers: dict[str, int]) -> None:
    """Each container exists and has the tasks its role needs; the error names the option."""
    for role, cid in containers.items():
        record = view.record("container", cid)
        tasks = set((record.get("config") or {}).get("tasks") or {})
        missing = [t for t in ROLE_TASKS[role] if t not in tasks]
        if missing:
            option = "--" + role.replace("_", "-")
            raise UsageError(f"{option} {cid}: container '{record['name']}' has no {', '.join(missing)} task "
                             f"(it has: {', '.join(sorted(tasks)) or 'none'})",
                             hint=f"a {role.replace('_', ' ')} container needs: {', '.join(ROLE_TASKS[role])}")


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
        if value.startswith("/") or root.resolve() not in target.parents and target != root.resolve():
            raise UnsafeArchive(f"the demo dataset's paths.yaml: {key} '{value}' points outside the archive")
        if not target.is_dir():
            raise UsageError(f"the demo dataset's paths.yaml: {key} '{value}' is not a folder in the archive")
        found.append(target)
    return found[0], found[1]


def compatibility_test(view: RegistryView, settings: RunSettings, *, data_preparation: int, model: int,
                       metrics: int, demo: ArchiveInput) -> CompatibilityResult:
    """The demo data through preparation, the model and the metrics, in a throw-away folder."""
    from medperf_git.runners.archives import safe_extract
    from medperf_git.runners.fetch import fetch

    pin = pin_archive(view, "--demo-url", demo)
    key = hashlib.sha256(f"{pin['hash']}:{data_preparation}:{model}:{metrics}".encode()).hexdigest()[:24]
    work = view.data_dir / "tests" / key
    shutil.rmtree(work, ignore_errors=True)
    archive = Path(demo.location) if not demo.location.startswith(("https://", "http://", "file://")) else \
        fetch(pin["url"], pin["hash"], view.ws.downloads_dir, allow_file=view.allow_file_urls)
    safe_extract(archive, work / "demo")
    data_path, labels_path = _demo_paths(work / "demo")
    runner = ContainerRunner(view, settings)
    prepared = prepare_into(runner, data_preparation, data_path, labels_path, work / "prepared")
    ds = LocalDataset(work / "prepared", {"generated_uid": prepared.hash.digest, "registry_id": None,
                                          "preparation": {"id": data_preparation, **prepared.run.pins}})
    bench = {"id": 0, "metrics": metrics}
    execution = execute_model(view, runner, bench, model, ds, "b0m0d0", executions=Executions(work / "executions"))
    return CompatibilityResult({"url": pin["url"], "hash": pin["hash"], "generated_uid": prepared.hash.digest},
                               execution.metrics(), execution.info["provenance"])


def submit(ws: Workspace, *, name: str, description: str, docs_url: str | None, demo: ArchiveInput | None,
           data_preparation: int, reference_model: int, metrics: int, owners: list[str] | None = None,
           min_isolation: str | None = None, skip_compatibility_tests: bool = False,
           settings: RunSettings | None = None, confirm: Confirm) -> PublishOutcome:
    """Open the submission of a new benchmark; the registry admins approve it."""
    from medperf_git.flows._publish import next_id, publish, require_identity

    require_identity(ws)
    view = RegistryView.open(ws)
    check_unique_name(view, "benchmark", name)
    check_roles(view, {"data_preparation": data_preparation, "reference_model": reference_model, "metrics": metrics})
    everyone = [ws.profile.handle] + [h for h in (owners or []) if h != ws.profile.handle]
    for handle in everyone:
        view.record("person", handle)
    record: dict[str, Any] = {"schema_version": 1, "kind": "benchmark", "id": next_id(view, "benchmark"),
                              "name": name, "description": description}
    if docs_url:
        record["docs_url"] = docs_url
    record.update({"owners": everyone, "data_preparation": data_preparation, "reference_model": reference_model,
                   "metrics": metrics})
    if skip_compatibility_tests:
        record["skip_compatibility_tests"] = True
        if demo is not None:
            record["demo_dataset"] = {k: v for k, v in pin_archive(view, "--demo-url", demo).items() if k != "tree"}
    else:
        if demo is None:
            raise UsageError("--demo-url is needed to run the compatibility test",
                             hint="or pass --skip-compatibility-tests")
        result = compatibility_test(view, settings or RunSettings(), data_preparation=data_preparation,
                                    model=reference_model, metrics=metrics, demo=demo)
        record["demo_dataset"] = result.demo
        record["compatibility_test"] = {"results": result.results, "provenance": result.provenance}
    record["association_policy"] = {"datasets": {"mode": "never"}, "models": {"mode": "never"}}
    record["approvals_required"] = 1
    if min_isolation:
        record["min_isolation"] = min_isolation
    if not confirm(record):
        raise Cancelled("no benchmark was submitted")
    return publish(view, {"benchmark": record}, title=f"Benchmark {name}", kind="benchmark")


def update_policy(ws: Workspace, *, benchmark: int, datasets: str | None, models: str | None,
                  allowlist: list[str] | None, confirm: Confirm) -> PublishOutcome:
    """Change who joins without the committee's approval: never, always, or an allowlist of handles."""
    from medperf_git.flows._publish import publish, require_identity

    require_identity(ws)
    view = RegistryView.open(ws)
    current = view.record("benchmark", benchmark)
    if ws.profile.handle not in current["owners"]:
        raise PolicyDenied(f"only benchmark {benchmark}'s owners ({', '.join(current['owners'])}) may change its "
                           "association policy")
    if datasets is None and models is None:
        raise UsageError("give --datasets and/or --models (never, always or allowlist)")
    record = copy.deepcopy(current)
    policy = record.setdefault("association_policy", {})
    for kind, mode in (("datasets", datasets), ("models", models)):
        if mode is None:
            continue
        if mode not in POLICY_MODES:
            raise UsageError(f"--{kind} must be one of {', '.join(POLICY_MODES)}")
        entry: dict[str, Any] = {"mode": mode}
        if mode == "allowlist":
            if not allowlist:
                raise UsageError("allowlist mode needs --allowlist FILE with one handle per line")
            for handle in allowlist:
                view.record("person", handle)
            entry["allowlist"] = sorted(set(allowlist))
        policy[kind] = entry
    if record == current:
        raise UsageError("the association policy is already set that way")
    if not confirm(record):
        raise Cancelled("the policy was not changed")
    return publish(view, {"benchmark": record}, title=f"Association policy of benchmark {benchmark}",
                   kind="benchmark")
