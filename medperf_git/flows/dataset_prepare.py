"""MedPerf's order for a data owner: register the raw data, prepare it, then make it operational.

MedPerf registers a dataset on its server first (``dataset submit``), prepares it (``dataset prepare``)
and marks it ready (``dataset set_operational``). Here nothing leaves the machine before the data is
prepared: ``register`` keeps the dataset on this machine under its raw data's hash (MedPerf's
``in_uid``), ``prepare`` runs the preparation container, and ``set_operational`` publishes the
dataset's description, which is when the registry gives it an id.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_git import __version__
from medperf_git.errors import UsageError
from medperf_git.flows._containers import ContainerRunner, RunSettings
from medperf_git.flows.dataset import (
    AlreadyRegistered,
    Background,
    Confirm,
    PublishOutcome,
    check_folder,
    check_text,
    prepare_into,
    prepared_fields,
    raw_hashes,
    submit,
)
from medperf_git.flows.session import RegistrySession
from medperf_git.workspace.datasets import READY, LocalDataset, uid_hex

PREPARED_ITEMS = ("data", "labels", "metadata", "statistics.yaml", "manifest.tree-v1", "report.yaml")


@dataclass
class Registered:
    dataset: LocalDataset
    existing: bool  # registered here before, from the same folders: kept as it was
    registered: AlreadyRegistered | None = None  # the registry's dataset of these raw data, if there is one


def _preparation_container(s: RegistrySession, benchmark: int | None, data_preparation: int | None) -> int:
    from medperf_git.flows.benchmark import check_roles

    if (benchmark is None) == (data_preparation is None):
        raise UsageError("give exactly one of --benchmark (its preparation container prepares the data) or "
                         "--data_prep (a preparation container's id)")
    if benchmark is not None:
        return int(s.record("benchmark", benchmark)["data_preparation"])
    check_roles(s, {"data_preparation": int(data_preparation)})
    return int(data_preparation)


def register(s: RegistrySession, *, name: str, data_path: Path, labels_path: Path, benchmark: int | None = None,
             data_preparation: int | None = None, metadata_path: Path | None = None, description: str = "",
             location: str = "", as_prepared: bool = False,
             hash_progress: Callable[[int], None] | None = None) -> Registered:
    """Register raw data on this machine (MedPerf's `dataset submit`): hashed, not prepared, nothing published."""
    name = check_text(name, "--name", 128, required=True)
    description = check_text(description, "--description", 4096)
    location = check_text(location, "--location", 256)
    if metadata_path is not None and not as_prepared:
        raise UsageError("--metadata_path goes with --submit-as-prepared: otherwise the preparation makes it")
    data_path = check_folder(data_path, "--data_path")
    labels_path = check_folder(labels_path, "--labels_path")
    metadata = check_folder(metadata_path, "--metadata_path") if metadata_path is not None else None
    s.fetch(tolerate=True)
    prep_id = _preparation_container(s, benchmark, data_preparation)
    s.sync_dataset_ids()
    hashes = raw_hashes(data_path, labels_path, hash_progress)
    twin = _registered_raw(s, hashes["input_data_hash"], prep_id)
    uid = uid_hex(hashes["input_data_hash"])
    for ds in s.datasets.all():
        if ds.info.get("input_data_hash") == hashes["input_data_hash"] and ds.info.get("data_preparation") == prep_id:
            return Registered(ds, True, twin)
        if ds.uid == uid:  # the same raw data for another preparation container: another UID
            uid = hashlib.sha256(f"{uid}\0{prep_id}".encode()).hexdigest()
    info: dict[str, Any] = {
        "uid": uid, "name": name, "description": description, "location": location, "benchmark": benchmark,
        "data_preparation": prep_id, "raw": {"data_path": str(data_path), "labels_path": str(labels_path)},
        **hashes, "generated_uid": None, "statistics": None, "submitted_as_prepared": as_prepared,
        "registered_at": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "tool_version": __version__, "registry_id": None, "submission": None,
    }
    if metadata is not None:
        info["raw"]["metadata_path"] = str(metadata)
    dataset = LocalDataset(s.datasets.root / uid, info)
    dataset.path.mkdir(parents=True, exist_ok=True)
    dataset.save()
    return Registered(dataset, False, twin)


def _registered_raw(s: RegistrySession, input_data_hash: str, prep_id: int) -> AlreadyRegistered | None:
    """A dataset on main made from the same raw data with the same preparation container."""
    for row in s.index.query("SELECT data FROM records WHERE kind = 'dataset' AND valid = 1"):
        record = json.loads(row[0])
        if record.get("input_data_hash") == input_data_hash and record.get("data_preparation") == prep_id:
            return AlreadyRegistered(int(record["id"]), None, record.get("owner"))
    return None


@dataclass
class PrepareResult:
    dataset: LocalDataset
    already: bool  # it was prepared before: nothing ran
    runner: str = ""
    isolation: str = ""


def prepare(s: RegistrySession, data_uid: str, *, settings: RunSettings | None = None,
            hash_progress: Callable[[int], None] | None = None) -> PrepareResult:
    """Prepare a registered dataset (MedPerf's `dataset prepare`); running it again once prepared does nothing."""
    settings = settings or RunSettings()
    s.fetch(tolerate=True)
    ds = s.local_dataset(data_uid)
    if ds.registry_id is not None:
        raise UsageError(f"dataset {ds.uid[:12]} is operational (registry dataset {ds.registry_id}): its prepared "
                         "data is published and cannot be prepared again",
                         hint="to prepare new data, register it: `medperf-git dataset submit ...`")
    if ds.ready:
        return PrepareResult(ds, True, ds.info.get("runner", ""), ds.info.get("isolation", ""))
    raw = ds.info.get("raw") or {}
    data_path = check_folder(Path(raw.get("data_path", "")), "the raw data folder")
    labels_path = check_folder(Path(raw.get("labels_path", "")), "the raw labels folder")
    prep_id = ds.info["data_preparation"]
    staging = ds.path / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    raw_job = Background(raw_hashes, data_path, labels_path, progress=hash_progress)
    try:
        prepared = prepare_into(ContainerRunner(s, settings), prep_id, data_path, labels_path, staging,
                                logs=s.logs_dir / "datasets" / ds.uid, hash_progress=hash_progress,
                                as_prepared=bool(ds.info.get("submitted_as_prepared")),
                                metadata_path=Path(raw["metadata_path"]) if raw.get("metadata_path") else None)
        hashes = raw_job.result()
        for item in PREPARED_ITEMS:
            target = ds.path / item
            if target.is_dir():
                shutil.rmtree(target)
            if (staging / item).exists():
                os.replace(staging / item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    ds.info.update({**hashes, **prepared_fields(prepared, prep_id)})
    ds.save()
    (ds.path / READY).write_text("")
    return PrepareResult(ds, False, prepared.run.runner, prepared.run.isolation)


def set_operational(s: RegistrySession, data_uid: str, confirm: Confirm) -> PublishOutcome:
    """Publish a prepared dataset's description (MedPerf's `dataset set_operational`): the registry gives it an id."""
    return submit(s, data_uid, confirm)
