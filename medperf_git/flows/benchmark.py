"""Benchmark committees: submit a benchmark (after a compatibility test on its demo data) and set
its association policy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from medperf_git.errors import PolicyDenied, UsageError
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.container import ArchiveInput, check_unique_name, pin_archive
from medperf_git.flows.dataset import Cancelled, Confirm, PublishOutcome
from medperf_git.flows.session import RegistrySession

ROLE_TASKS = {"data_preparation": ("prepare", "sanity_check", "statistics"), "reference_model": ("infer",),
              "metrics": ("evaluate",)}
POLICY_MODES = ("never", "always", "allowlist")


def check_roles(s: RegistrySession, containers: dict[str, int]) -> None:
    """Each container exists and has the tasks its role needs; the error names the option."""
    for role, cid in containers.items():
        record = s.record("container", cid)
        tasks = set((record.get("config") or {}).get("tasks") or {})
        missing = [t for t in ROLE_TASKS[role] if t not in tasks]
        if missing:
            option = "--" + role.replace("_", "-")
            raise UsageError(f"{option} {cid}: container '{record['name']}' has no {', '.join(missing)} task "
                             f"(it has: {', '.join(sorted(tasks)) or 'none'})",
                             hint=f"a {role.replace('_', ' ')} container needs: {', '.join(ROLE_TASKS[role])}")


def compatibility_test(s: RegistrySession, settings: RunSettings, *, data_preparation: int, model: int,
                       metrics: int, demo: ArchiveInput, no_cache: bool = False) -> Any:
    """The demo data through preparation, the model and the metrics (cached by what went in)."""
    from medperf_git.flows.compat import run_test

    return run_test(s, data_preparation=data_preparation, model=model, metrics=metrics, demo=demo,
                    settings=settings, no_cache=no_cache)


def submit(s: RegistrySession, *, name: str, description: str, docs_url: str | None, demo: ArchiveInput | None,
           data_preparation: int, reference_model: int, metrics: int, owners: list[str] | None = None,
           min_isolation: str | None = None, result_visibility: str = "public",
           skip_compatibility_tests: bool = False, settings: RunSettings | None = None,
           confirm: Confirm) -> PublishOutcome:
    """Open the submission of a new benchmark; the registry admins approve it."""
    from medperf_git.flows._publish import publish
    from medperf_git.flows.submission import next_record_id

    s.require_identity()
    s.fetch(tolerate=True)
    check_unique_name(s, "benchmark", name)
    check_roles(s, {"data_preparation": data_preparation, "reference_model": reference_model, "metrics": metrics})
    everyone = [s.profile.handle] + [h for h in (owners or []) if h != s.profile.handle]
    for handle in everyone:
        s.record("person", handle)
    record: dict[str, Any] = {"schema_version": 1, "kind": "benchmark", "id": next_record_id(s, "benchmark"),
                              "name": name, "description": description}
    if docs_url:
        record["docs_url"] = docs_url
    record.update({"owners": everyone, "data_preparation": data_preparation, "reference_model": reference_model,
                   "metrics": metrics})
    if skip_compatibility_tests:
        record["skip_compatibility_tests"] = True
        if demo is not None:
            record["demo_dataset"] = {k: v for k, v in pin_archive(s, "--demo-url", demo).items() if k != "tree"}
    else:
        if demo is None:
            raise UsageError("--demo-url is needed to run the compatibility test",
                             hint="or pass --skip-compatibility-tests")
        result = compatibility_test(s, settings or RunSettings(), data_preparation=data_preparation,
                                    model=reference_model, metrics=metrics, demo=demo)
        record["demo_dataset"] = result.data["demo"]
        record["compatibility_test"] = {"results": result.results, "provenance": result.data["provenance"]}
    record["association_policy"] = {"datasets": {"mode": "never"}, "models": {"mode": "never"}}
    record["approvals_required"] = 1
    if min_isolation:
        record["min_isolation"] = min_isolation
    if result_visibility != "public":
        from medperf_git.flows.confidential import recipients

        record["result_visibility"] = result_visibility
        recipients(s, record, None)  # every owner has a key to encrypt to
    if not confirm(record):
        raise Cancelled("no benchmark was submitted")
    return publish(s, {"benchmark": record}, title=f"Benchmark {name}", kind="benchmark")


def read_allowlist(s: RegistrySession, path: Path) -> list[str]:
    """The handles an allowlist file names: one email (as MedPerf's are) or handle per line; emails are matched
    to people records. Blank lines and lines starting with # are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the allowlist {path}: {exc}") from None
    handles = []
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        where = f"{path}:{number}"
        if "@" in entry:
            person = s.person_by_email(entry)
            if person is None:
                raise UsageError(f"{where}: nobody in the registry has the email {entry}",
                                 hint="they register with `medperf-git auth login -e EMAIL`; or write their handle")
            handles.append(person["handle"])
        elif s.find("person", entry) is None:
            raise UsageError(f"{where}: nobody in the registry has the handle {entry}",
                             hint="fix the line: an email or a handle of the registry's people/ folder")
        else:
            handles.append(entry)
    if not handles:
        raise UsageError(f"the allowlist {path} names nobody", hint="write one email or handle per line")
    return sorted(set(handles))


def owned(s: RegistrySession, benchmark: int, what: str) -> dict[str, Any]:
    """The benchmark's record on main, when this profile is one of its owners (who alone change ``what``)."""
    s.require_identity()
    s.fetch(tolerate=True)
    current = s.record("benchmark", benchmark)
    if s.profile.handle not in current["owners"]:
        raise PolicyDenied(f"only benchmark {benchmark}'s owners ({', '.join(current['owners'])}) may change "
                           f"{what}")
    return current


def update_policy(s: RegistrySession, *, benchmark: int, datasets: str | None, models: str | None,
                  dataset_allowlist: Path | None = None, model_allowlist: Path | None = None,
                  confirm: Confirm) -> PublishOutcome:
    """Change who joins without the committee's approval: never, always, or an allowlist (emails or handles)."""
    from medperf_git.flows._publish import publish

    current = owned(s, benchmark, "its association policy")
    if datasets is None and models is None:
        raise UsageError("give --dataset_auto_approve_mode and/or --model_auto_approve_mode "
                         "(never, always or allowlist)")
    record = copy.deepcopy(current)
    policy = record.setdefault("association_policy", {})
    for kind, mode, allowlist in (("dataset", datasets, dataset_allowlist), ("model", models, model_allowlist)):
        if mode is None:
            continue
        if mode not in POLICY_MODES:
            raise UsageError(f"--{kind}_auto_approve_mode must be one of {', '.join(POLICY_MODES)}")
        entry: dict[str, Any] = {"mode": mode}
        if mode == "allowlist":
            if allowlist is None:
                raise UsageError(f"allowlist mode needs --{kind}_auto_approve_file FILE, one email or handle a line")
            entry["allowlist"] = read_allowlist(s, allowlist)
        policy[f"{kind}s"] = entry
    if record == current:
        raise UsageError("the association policy is already set that way")
    if not confirm(record):
        raise Cancelled("the policy was not changed")
    return publish(s, {"benchmark": record}, title=f"Association policy of benchmark {benchmark}",
                   kind="benchmark")
