"""The data owner's dataset flows: prepare locally, publish what describes it, ask to join, check it.

Nothing here ever publishes data: the dataset record holds names, hashes and statistics only, and
every publishing flow hands its exact payload to a ``confirm`` callback before anything leaves the
machine.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medperf_git import __version__
from medperf_git.errors import (
    ContainerFailed,
    HashMismatch,
    MedperfGitError,
    PolicyDenied,
    RecordInvalid,
    UsageError,
)
from medperf_git.flows._containers import ContainerRunner, RunSettings, container_provenance
from medperf_git.flows.execution import association_state, execute_model, registered_dataset
from medperf_git.flows.session import RegistrySession
from medperf_git.records.layout import record_path, result_name
from medperf_git.records.yamlio import YamlError, load_yaml_file
from medperf_git.workspace.datasets import READY, LocalDataset

if TYPE_CHECKING:
    from medperf_git.hashing.tree import TreeHash
    from medperf_git.runners.base import RunResult

Confirm = Callable[[dict[str, Any]], bool]
AUDIENCE = "everyone who can read the registry"


class Cancelled(MedperfGitError):
    """The user declined a prompt: the CLI says "Cancelled", not "Error", and exits 1."""

    exit_code = 1
    cancelled = True


@dataclass
class AlreadyRegistered:
    """Data this machine or the registry already knows: the dataset that holds it."""

    registry_id: int | None
    local: LocalDataset | None
    owner: str | None = None


@dataclass
class CreateResult:
    dataset: LocalDataset
    benchmark: int
    reused: bool
    runner: str
    isolation: str
    statistics: dict[str, Any] = field(default_factory=dict)
    registered: AlreadyRegistered | None = None  # the registered dataset these data already are, if any
    prepared: bool = True  # False: already registered from the same folders, so nothing ran


def check_folder(path: Path, option: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise UsageError(f"{option} {path} does not exist")
    if not path.is_dir():
        raise UsageError(f"{option} {path} is not a folder")
    if not any(path.iterdir()):
        raise UsageError(f"{option} {path} is empty")
    return path.absolute()


def check_text(value: str | None, option: str, limit: int, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise UsageError(f"{option} must not be empty")
    if len(value) > limit or "\n" in value and option != "--description":
        raise UsageError(f"{option} must be one line of at most {limit} characters")
    return value


class Background:
    """Run a read-only job (hashing) on a daemon thread while a container works, then collect it.

    The thread is a daemon so that an interrupted command exits at once instead of waiting for it.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True)
        self._thread.start()

    def _run(self, fn, args, kwargs) -> None:
        try:
            self._result = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread by result()
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


@dataclass
class Prepared:
    run: RunResult | None  # the prepare task: what ran, with its pins (None when submitted as prepared)
    statistics: dict[str, Any]
    hash: TreeHash  # of the prepared data and labels


def prepare_into(runner: ContainerRunner, prep_id: int | str, data_path: Path, labels_path: Path, staging: Path, *,
                 logs: Path | None = None, hash_progress: Callable[[int], None] | None = None,
                 as_prepared: bool = False, metadata_path: Path | None = None) -> Prepared:
    """prepare, sanity_check and statistics into ``staging``; then the prepared data's tree-v1 and manifest.

    ``logs`` lives outside ``staging`` so that a failed task's log stays where its error says. ``as_prepared``
    (MedPerf's --submit-as-prepared): the raw data is copied in as prepared, and only the checks run.
    """
    from medperf_git.hashing import dataset_hashes, write_manifest

    settings = runner.settings
    logs = logs or staging / "logs"
    prepared = {"data_path": staging / "data", "labels_path": staging / "labels"}
    metadata = {"metadata_path": staging / "metadata"}
    result = None
    if as_prepared:
        settings.step("Copying the data in as prepared (--submit-as-prepared)")
        shutil.copytree(data_path, prepared["data_path"])
        shutil.copytree(labels_path, prepared["labels_path"])
        if metadata_path is not None:
            shutil.copytree(metadata_path, metadata["metadata_path"])
        else:
            metadata["metadata_path"].mkdir()
    else:
        settings.step(f"Preparing the data with container {prep_id} (prepare)")
        result = runner.run(prep_id, "prepare", {"data_path": data_path, "labels_path": labels_path,
                                                 "output_path": prepared["data_path"],
                                                 "output_labels_path": prepared["labels_path"],
                                                 **metadata, "report_file": staging / "report.yaml"}, logs)
    # The checks only read the prepared data, so it is hashed meanwhile on the other core.
    prepared_hash_job = Background(dataset_hashes, prepared["data_path"], prepared["labels_path"],
                                    progress=hash_progress)
    settings.step("Checking the prepared data (sanity_check)")
    checked = runner.run(prep_id, "sanity_check", {**prepared, **metadata}, logs)
    settings.step("Computing statistics (statistics)")
    runner.run(prep_id, "statistics", {**prepared, **metadata, "output_path": staging / "statistics.yaml"}, logs)
    try:
        statistics = load_yaml_file(staging / "statistics.yaml")
    except YamlError as exc:
        raise ContainerFailed(f"the statistics task wrote invalid YAML: {exc.message}",
                              hint=f"its log is {logs / 'statistics.log'}") from None
    if not isinstance(statistics, dict) or not statistics:
        raise ContainerFailed("the statistics task wrote no statistics (statistics.yaml is empty)",
                              hint=f"its log is {logs / 'statistics.log'}")
    settings.step("Hashing the prepared data")
    prepared_hash = prepared_hash_job.result()
    write_manifest(staging / "manifest.tree-v1", prepared_hash)
    return Prepared(result or checked, statistics, prepared_hash)


def raw_hashes(data_path: Path, labels_path: Path, progress: Callable[[int], None] | None = None) -> dict[str, str]:
    """The raw data's tree-v1 and MedPerf's own hash of it, from one read of the files."""
    from medperf_git.hashing import dataset_hashes, medperf_from_lines

    th = dataset_hashes(data_path, labels_path, progress=progress)
    copies = 2 if len(th.lines) and Path(data_path).resolve() == Path(labels_path).resolve() else 1
    return {"input_data_hash": th.digest, "medperf_input_data_hash": medperf_from_lines(th.lines, copies)}


def prepared_fields(prepared: Prepared, prep_id: int) -> dict[str, Any]:
    """What a finished preparation adds to a local dataset's info."""
    from medperf_git.hashing import medperf_from_lines

    run = prepared.run
    return {"generated_uid": prepared.hash.digest, "medperf_generated_uid": medperf_from_lines(prepared.hash.lines),
            "statistics": prepared.statistics, "preparation": container_provenance(prep_id, run),
            "runner": run.runner, "isolation": run.isolation,
            "prepared_at": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
            "tool_version": __version__}


def registered_twin(s: RegistrySession, data_path: Path, labels_path: Path, prep_id: int,
                    hash_progress: Callable[[int], None] | None = None) -> AlreadyRegistered | None:
    """A dataset of these raw data, prepared with ``prep_id``, that is already registered (here or on main).

    Only datasets made from the same folders are candidates, so new data costs no extra hashing.
    """
    raw = {"data_path": str(data_path), "labels_path": str(labels_path)}
    candidates = [ds for ds in s.datasets.all() if ds.info.get("raw") == raw and ds.registry_id is not None
                  and ds.info.get("data_preparation") == prep_id]
    if not candidates:
        return None
    found = raw_hashes(data_path, labels_path, hash_progress)["input_data_hash"]
    return next((AlreadyRegistered(ds.registry_id, ds, s.profile.handle) for ds in candidates
                 if ds.info.get("input_data_hash") == found), None)


def create(s: RegistrySession, *, benchmark: int, name: str, description: str = "", location: str = "",
           data_path: Path, labels_path: Path, settings: RunSettings | None = None,
           hash_progress: Callable[[int], None] | None = None) -> CreateResult:
    """Prepare raw data with the benchmark's preparation container, then hash it; everything stays local.

    Data already registered from the same folders is not prepared again: the result names that dataset.
    """
    settings = settings or RunSettings()
    name = check_text(name, "--name", 128, required=True)
    description = check_text(description, "--description", 4096)
    location = check_text(location, "--location", 256)
    data_path = check_folder(data_path, "--data_path")
    labels_path = check_folder(labels_path, "--labels_path")
    s.fetch(tolerate=True)
    bench = s.record("benchmark", benchmark)
    if bench.get("retired"):
        raise PolicyDenied(f"benchmark {benchmark} is retired and takes no new datasets")
    prep_id = bench["data_preparation"]
    stores = s.datasets
    s.sync_dataset_ids()
    twin = registered_twin(s, data_path, labels_path, prep_id, hash_progress)
    if twin is not None and twin.local is not None:
        return CreateResult(twin.local, benchmark, True, twin.local.info.get("runner", ""),
                            twin.local.info.get("isolation", ""), twin.local.info.get("statistics") or {},
                            registered=twin, prepared=False)
    key = hashlib.sha256(f"{data_path}\0{labels_path}".encode()).hexdigest()[:16]
    staging = stores.staging_dir(key)
    # The raw data is hashed while the preparation container reads it (both only read it).
    raw_job = Background(raw_hashes, data_path, labels_path, progress=hash_progress)
    try:
        prepared = prepare_into(ContainerRunner(s, settings), prep_id, data_path, labels_path, staging,
                                logs=s.logs_dir / "datasets" / key, hash_progress=hash_progress)
        settings.step("Hashing the raw data")
        raw = raw_job.result()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    info = {
        "name": name, "description": description, "location": location, "benchmark": benchmark,
        "data_preparation": prep_id,
        "raw": {"data_path": str(data_path), "labels_path": str(labels_path)},
        **raw, **prepared_fields(prepared, prep_id), "registry_id": None, "submission": None,
    }
    final = stores.path_for(prepared.hash.digest)
    reused = final.exists()
    if reused:
        existing = LocalDataset(final, load_yaml_file(final / "dataset.yaml"))
        info["registry_id"] = existing.registry_id
        info["submission"] = existing.info.get("submission")
        shutil.rmtree(staging, ignore_errors=True)
        dataset = LocalDataset(final, {**existing.info, **{k: v for k, v in info.items()
                                                           if k not in ("registry_id", "submission")}})
    else:
        dataset = LocalDataset(staging, info)
        dataset.save()
        (staging / READY).write_text("")
        os.rename(staging, final)
        dataset = LocalDataset(final, info)
    dataset.save()
    s.sync_dataset_ids()
    keys = s.index.generated_uids().get(dataset.generated_uid) or []
    twin = AlreadyRegistered(int(keys[0]), dataset, (s.find("dataset", keys[0]) or {}).get("owner")) if keys else None
    return CreateResult(dataset, benchmark, reused, prepared.run.runner, prepared.run.isolation,
                        prepared.statistics, registered=twin)


def list_local(s: RegistrySession) -> list[LocalDataset]:
    s.fetch(tolerate=True)
    s.sync_dataset_ids()
    return s.datasets.all()


# Publishing ------------------------------------------------------------------------------------


def as_published(value: Any) -> Any:
    """Metrics or statistics as the registry holds them: integer keys become text, as MedPerf's JSON upload
    makes them, so that a container writing ``{0: 12}`` for class 0 publishes ``{'0': 12}``."""
    if isinstance(value, dict):
        return {str(k) if type(k) is int and str(k) not in value else k: as_published(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_published(v) for v in value]
    return value


def published_number_problems(field: str, value: Any) -> list[str]:
    """What the registry's lint would refuse in published numbers, one line each (``field.key: why``)."""
    from medperf_git.records.schemas import validate_definition

    return [f"{'.'.join([field, *map(str, p.path)])}: {p.message}"
            for p in validate_definition("published_numbers", value)]


def problem_listing(problems: list[str], limit: int = 10) -> str:
    """Problems one per indented line, the first ``limit`` of them (a hostile file may hold thousands)."""
    shown = problems[:limit] + ([f"... and {len(problems) - limit} more"] if len(problems) > limit else [])
    return "\n".join(f"  {line}" for line in shown)


@dataclass(frozen=True)
class Origin:
    """Which container task wrote published numbers, for the benchmark they serve: named when refused."""

    task: str  # "statistics" or "evaluate"
    container: int
    benchmark: int

    def __str__(self) -> str:
        role = "data preparation" if self.task == "statistics" else "metrics"
        return f"the {self.task} task of {role} container {self.container}"

    @classmethod
    def of_statistics(cls, info: dict[str, Any]) -> Origin:
        return cls("statistics", info["data_preparation"], info["benchmark"])

    @classmethod
    def of_metrics(cls, info: dict[str, Any]) -> Origin:
        """As the execution's provenance records it."""
        return cls("evaluate", info["provenance"]["containers"]["metrics"]["id"], info["benchmark"])


def require_published_numbers(what: str, field: str, value: Any, origin: Origin) -> None:
    """Refuse, before anything is pushed, metrics or statistics that are more than numbers.

    A hostile container could write patient identifiers into them; ``-y`` skips the question, so
    this check, the same rule the registry's lint applies, is what stops them leaving the machine.
    """
    problems = published_number_problems(field, value)
    if not problems:
        return
    raise RecordInvalid(f"{what} cannot be published: the {field} written by {origin} hold more than numbers:\n"
                        + problem_listing(problems),
                        hint=f"nothing was published. The registry takes only numbers, and lists and maps of "
                             f"numbers, under short labels: ask the owners of benchmark {origin.benchmark} to fix "
                             f"container {origin.container}")


@dataclass
class PublishOutcome:
    number: int | None
    merged: bool
    record: dict[str, Any]
    path: str
    waiting_for: list[str] = field(default_factory=list)
    already_open: bool = False  # the same request was open already: it was not made again


def pending_request(s: RegistrySession, benchmark: int, component: str, cid: int) -> PublishOutcome | None:
    """The open submission that already asks for this association, as the outcome of asking again."""
    from medperf_git.flows.association import list_associations

    for row in list_associations(s, benchmark=benchmark, component=component, status="pending", everyone=True):
        if row.component_id == cid and row.submission is not None:
            record = {"benchmark": benchmark, component: cid, "initiated_by": row.initiated_by}
            return PublishOutcome(row.submission, False, record, record_path("association", cid, benchmark, component),
                                  row.must_act, already_open=True)
    return None


def dataset_record(ds: LocalDataset, dataset_id: int, owner: str) -> dict[str, Any]:
    """The dataset record a local dataset publishes: names, hashes and statistics, never data."""
    info = ds.info
    record = {"schema_version": 1, "kind": "dataset", "id": dataset_id, "name": info["name"]}
    if info.get("description"):
        record["description"] = info["description"]
    if info.get("location"):
        record["location"] = info["location"]
    record["owner"] = owner
    if info.get("benchmark") is not None:  # MedPerf's `dataset submit -p PREP` names no benchmark
        record["benchmark"] = info["benchmark"]
    record.update({"data_preparation": info["data_preparation"], "input_data_hash": info["input_data_hash"],
                   "generated_uid": info["generated_uid"]})
    for key in ("medperf_input_data_hash", "medperf_generated_uid"):  # to match a MedPerf registration
        if info.get(key):
            record[key] = info[key]
    record["statistics"] = as_published(info["statistics"])
    record["tool_version"] = info.get("tool_version", __version__)
    return record


def submit(s: RegistrySession, data_uid: str, confirm: Confirm) -> PublishOutcome:
    """Publish the dataset's description (never its data); it merges once checks pass."""
    from medperf_git.flows._publish import publish
    from medperf_git.flows.submission import next_record_id

    s.require_identity()
    s.fetch(tolerate=True)
    ds = s.local_dataset(data_uid)
    if ds.registry_id is not None:
        raise UsageError(f"dataset {ds.uid[:12]} is already registered as dataset {ds.registry_id}",
                         hint=f"next: `medperf-git dataset associate --benchmark_uid {ds.info.get('benchmark') or 'B'} "
                              f"--data_uid {ds.registry_id}`")
    if not ds.ready:
        raise UsageError(f"dataset {ds.uid[:12]} is not prepared yet",
                         hint=f"run `medperf-git dataset prepare --data_uid {ds.uid[:12]}`" if ds.info.get("uid")
                         else "run `medperf-git dataset create` again")
    taken = s.index.generated_uids().get(ds.generated_uid)
    if taken:
        raise UsageError(f"a dataset with this UID is already registered (dataset {taken[0]}) by someone else")
    dataset_id = next_record_id(s, "dataset")
    record = dataset_record(ds, dataset_id, s.profile.handle)
    require_published_numbers(f"dataset {ds.uid[:12]}", "statistics", record["statistics"],
                              Origin.of_statistics(ds.info))
    from medperf_git.flows.confidential import preview, seal_record

    bench = s.find("benchmark", record["benchmark"]) if "benchmark" in record else None
    sealed = seal_record(s, record, bench)  # a committee benchmark's datasets keep their statistics among it
    if not confirm(preview(sealed, record["statistics"])):
        raise Cancelled("nothing was submitted")
    outcome = publish(s, {"dataset": sealed}, title=f"Dataset {record['name']}", kind="dataset")
    ds.info["submission"] = outcome.number
    if outcome.merged:
        ds.info["registry_id"] = outcome.record["id"]
    ds.save()
    return outcome


def associate(s: RegistrySession, *, benchmark: int, data_uid: str, confirm: Confirm,
              settings: RunSettings | None = None, no_cache: bool = False) -> PublishOutcome:
    """Run the reference model and the metrics on the data (the compatibility test), then ask to join.

    A request already open is not made again; ``no_cache`` runs the test again even if it ran before.
    """
    from medperf_git.flows._publish import publish

    s.require_identity()
    settings = settings or RunSettings()
    s.fetch(tolerate=True)
    bench = s.record("benchmark", benchmark)
    ds = s.local_dataset(data_uid)
    record = registered_dataset(s, ds, bench)
    if record["owner"] != s.profile.handle:
        raise PolicyDenied(f"dataset {record['id']} belongs to {record['owner']}, not to you ({s.profile.handle})")
    state = association_state(s, benchmark, "dataset", record["id"])
    if state == "approved":
        raise UsageError(f"dataset {record['id']} is already associated with benchmark {benchmark}",
                         hint=f"next: `medperf-git benchmark run --benchmark {benchmark} --data_uid {record['id']}`")
    open_request = pending_request(s, benchmark, "dataset", record["id"])
    if open_request is not None:  # asked before: nothing to run or publish again
        return open_request
    reference = bench["reference_model"]
    name = result_name(benchmark, reference, record["id"])
    execution = s.executions.get(name)
    if no_cache or execution is None or execution.info.get("dataset_uid") != ds.generated_uid:
        settings.step(f"Running the compatibility test: reference model {reference}, then metrics")
        execution = execute_model(s, ContainerRunner(s, settings), bench, reference, ds, name)
    results = as_published(execution.metrics())
    require_published_numbers(f"the compatibility test of dataset {record['id']}", "results", results,
                              Origin.of_metrics(execution.info))
    association = {"schema_version": 1, "kind": "association", "benchmark": benchmark, "dataset": record["id"],
                   "initiated_by": s.profile.handle,
                   "compatibility_test": {"results": results,
                                          "provenance": {"result": execution.name,
                                                         **execution.info["provenance"]}}}
    if not confirm(association):
        raise Cancelled("no association was requested")
    return publish(s, {"association": association}, title=f"Dataset {record['id']} joins benchmark {benchmark}",
                   kind="association")


# Checking --------------------------------------------------------------------------------------


@dataclass
class CheckResult:
    dataset: LocalDataset
    expected: str
    found: str
    added: list[str]
    removed: list[str]
    changed: list[str]

    @property
    def ok(self) -> bool:
        return self.expected == self.found


def check(s: RegistrySession, data_uid: str, progress: Callable[[int], None] | None = None) -> CheckResult:
    """Re-hash the prepared data and name every file that changed since it was prepared."""
    from medperf_git.hashing import dataset_hashes, diff_manifests, read_manifest

    ds = s.datasets.find(data_uid)
    found = dataset_hashes(ds.data_dir, ds.labels_dir, progress=progress)
    diff = diff_manifests(read_manifest(ds.manifest_file), found.lines) if ds.manifest_file.exists() else None
    return CheckResult(ds, ds.generated_uid, found.digest, diff.added if diff else [],
                       diff.removed if diff else [], diff.changed if diff else [])


def require_match(result: CheckResult) -> None:
    if not result.ok:
        raise HashMismatch(f"dataset {result.dataset.uid[:12]}", result.expected, result.found)
