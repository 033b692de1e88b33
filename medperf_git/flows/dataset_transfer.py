"""Moving a prepared dataset (and, before it is published, its raw data) to another machine.

``export`` writes one uncompressed tar: prepared data rarely compresses, and gzip would make a
1 GiB export take minutes instead of seconds. File contents go from disk to the archive with
``sendfile``, never through Python. ``import_`` extracts it with the runners' safe extraction (its
caps on size, entries and ratio), then checks the prepared data against the dataset's tree-v1
generated UID, and the raw data against its input hash, before anything is put in place.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_git.errors import HashMismatch, UsageError
from medperf_git.flows.session import RegistrySession
from medperf_git.records.yamlio import YamlError, dump_yaml, load_yaml_file
from medperf_git.workspace.datasets import INFO, LocalDataset

CONFIG = "medperf-git-export.yaml"
FORMAT = "medperf-git dataset export"
BLOCK = 512
Progress = Callable[[int], None]
Step = Callable[[str], None]


@dataclass
class ExportResult:
    dataset: LocalDataset
    path: Path
    bytes: int
    raw_included: bool


def _members(root: Path, prefix: str) -> list[tuple[str, Path]]:
    """(name in the archive, path) of every folder and file under ``root``, folders first, sorted."""
    found: list[tuple[str, Path]] = [(prefix, root)]
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".staging"))
        rel = os.path.relpath(folder, root)
        base = prefix if rel == "." else f"{prefix}/{rel}"
        found += [(f"{base}/{d}", Path(folder, d)) for d in dirs]
        found += [(f"{base}/{f}", Path(folder, f)) for f in sorted(files)]
    return found


def _header(name: str, st: os.stat_result, is_dir: bool) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir or st.st_mode & 0o111 else 0o644
    info.size = 0 if is_dir else st.st_size
    info.mtime = int(st.st_mtime)
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def write_tar(path: Path, members: list[tuple[str, Path]], extra: dict[str, bytes],
              progress: Progress | None = None) -> int:
    """A plain tar of ``extra`` (name -> bytes) then ``members``; file data is copied by the kernel (sendfile).

    Written under a temporary name and renamed, so an interrupted export leaves no half archive.
    """
    tmp = path.with_name(f".{path.name}.partial")
    total = 0
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            for name, data in extra.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                os.write(fd, info.tobuf(tarfile.PAX_FORMAT) + data + b"\0" * (-len(data) % BLOCK))
            for name, source in members:
                st = os.lstat(source)
                if stat.S_ISDIR(st.st_mode):
                    os.write(fd, _header(name, st, True))
                    continue
                if not stat.S_ISREG(st.st_mode):
                    raise UsageError(f"{source} is not a regular file or folder; it cannot be exported",
                                     hint="remove it (a prepared dataset holds only files and folders)")
                total += _send(fd, name, source, st, progress)
            os.write(fd, b"\0" * (2 * BLOCK))
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return total


def _send(fd: int, name: str, source: Path, st: os.stat_result, progress: Progress | None) -> int:
    os.write(fd, _header(name, st, False))
    src = os.open(source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        sent = 0
        while sent < st.st_size:
            n = os.sendfile(fd, src, sent, min(st.st_size - sent, 1 << 30))
            if n == 0:
                raise UsageError(f"{source} shrank while it was exported",
                                 hint="export again once nothing writes to it")
            sent += n
            if progress is not None:
                progress(n)
    finally:
        os.close(src)
    os.write(fd, b"\0" * (-st.st_size % BLOCK))
    return st.st_size


def _raw_folders(ds: LocalDataset) -> dict[str, Path]:
    raw = ds.info.get("raw") or {}
    folders = {"data": Path(raw.get("data_path", ""))}
    labels = Path(raw.get("labels_path", ""))
    if labels != folders["data"]:
        folders["labels"] = labels
    for label, folder in folders.items():
        if not folder.is_dir():
            raise UsageError(f"the raw {label} folder {folder} of dataset {ds.uid[:12]} is gone, so it cannot be "
                             "exported with the dataset", hint="export without it: --without-raw")
    return folders


def export(s: RegistrySession, data_uid: str, output: Path, *, raw: bool | None = None,
           progress: Progress | None = None) -> ExportResult:
    """Write a dataset to one archive; its raw data too while it is not published (as MedPerf does), or as asked.

    ``output`` is a file (a name with a suffix: ``ds.tar``), or a folder that gets ``<ID>.tar``: an existing
    folder, or a new name without a suffix (MedPerf's ``-o`` is a folder it creates).
    """
    ds = s.local_dataset(data_uid)
    raw = ds.registry_id is None if raw is None else raw
    output = Path(output).expanduser().absolute()
    if output.is_dir() or not output.suffix:
        output.mkdir(parents=True, exist_ok=True)
        output = output / f"{ds.registry_id if ds.registry_id is not None else ds.uid[:12]}.tar"
    if not output.parent.is_dir():
        raise UsageError(f"{output.parent} does not exist", hint="create it, or give --output a file in a folder")
    members = _members(ds.path, "dataset")
    config: dict[str, Any] = {"format": FORMAT, "version": 1, "registry": s.clone.root, "remote": s.clone.remote,
                              "dataset": {"uid": ds.uid, "registry_id": ds.registry_id,
                                          "generated_uid": ds.info.get("generated_uid"),
                                          "input_data_hash": ds.info.get("input_data_hash")}}
    if raw:
        folders = _raw_folders(ds)
        config["raw"] = {label: {"path": f"raw/{label}", "name": folder.name} for label, folder in folders.items()}
        for label, folder in folders.items():
            members += _members(folder, f"raw/{label}")
    total = write_tar(output, members, {CONFIG: dump_yaml(config).encode()}, progress)
    return ExportResult(ds, output, total, raw)


@dataclass
class ImportResult:
    dataset: LocalDataset
    raw_paths: dict[str, str] | None  # where the raw data went, when the archive held it


def _archive_config(folder: Path, archive: Path) -> dict[str, Any]:
    try:
        config = load_yaml_file(folder / CONFIG)
    except (YamlError, OSError):
        config = None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise UsageError(f"{archive} is not a dataset exported by medperf-git (no {CONFIG} in it)",
                         hint="make one with `medperf-git dataset export --data_uid UID --output FILE`")
    return config


def _matches(data_uid: str, exported: dict[str, Any]) -> bool:
    text = str(data_uid).strip().lower()
    if text.isdigit():
        return exported.get("registry_id") == int(text)
    hexes = [str(exported.get("uid") or ""), str(exported.get("generated_uid") or "").rsplit(":", 1)[-1]]
    return len(text) >= 6 and any(h.startswith(text) for h in hexes if h)


def _verify(what: str, roots: dict[str, Path], expected: str | None, progress: Progress | None) -> None:
    from medperf_git.hashing import tree_hash

    if not expected:
        return
    found = tree_hash(roots, progress=progress).digest
    if found != expected:
        raise HashMismatch(what, expected, found, hint="the archive was changed or damaged; export it again")


def import_(s: RegistrySession, data_uid: str, archive: Path, *, raw_dataset_path: Path | None = None,
            progress: Progress | None = None, step: Step | None = None) -> ImportResult:
    """Put an exported dataset on this machine, verified: tree-v1 of the prepared data, and of the raw data."""
    from medperf_git.runners.archives import safe_extract

    step = step or (lambda text: None)
    archive = Path(archive).expanduser().absolute()
    if not archive.is_file():
        raise UsageError(f"{archive} is not a file", hint="give --input the archive `dataset export` wrote")
    s.fetch(tolerate=True)
    root = s.datasets.root
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".import-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        step(f"Extracting {archive.name}")
        safe_extract(archive, staging)
        config = _archive_config(staging, archive)
        exported = config.get("dataset") or {}
        if config.get("registry") != s.clone.root:
            raise UsageError(f"{archive} was exported from another registry ({config.get('remote')}), not from "
                             f"this profile's ({s.clone.remote})", hint="import it with that registry's profile: "
                                                                      "`medperf-git --profile NAME dataset import ...`")
        if not _matches(data_uid, exported):
            raise UsageError(f"{archive} holds dataset {exported.get('registry_id') or exported.get('uid')}, "
                             f"not {data_uid}", hint="give --data_uid the dataset the archive holds")
        info = load_yaml_file(staging / "dataset" / INFO)
        dataset = LocalDataset(root / LocalDataset(staging, info).uid, info)
        if dataset.path.exists():
            raise UsageError(f"dataset {dataset.uid[:12]} is already on this machine ({dataset.path})",
                             hint="nothing to import; delete that folder first to replace it")
        raw = config.get("raw") or {}
        if raw and raw_dataset_path is None and dataset.registry_id is None:
            raise UsageError(f"dataset {dataset.uid[:12]} is not published yet, so its raw data comes with it: "
                             "give --raw_dataset_path, a new or empty folder for it")
        if dataset.info.get("generated_uid"):
            step("Checking the prepared data (tree-v1)")
            _verify(f"the prepared data of dataset {dataset.uid[:12]}",
                    {"data": staging / "dataset" / "data", "labels": staging / "dataset" / "labels"},
                    dataset.info["generated_uid"], progress)
        if dataset.registry_id is not None:
            record = s.record("dataset", dataset.registry_id)
            if record["generated_uid"] != dataset.info.get("generated_uid"):
                raise HashMismatch(f"dataset {dataset.registry_id}", record["generated_uid"],
                                   str(dataset.info.get("generated_uid")),
                                   hint="the archive does not hold the registered dataset")
        raw_paths = _place_raw(staging, raw, raw_dataset_path, dataset, progress, step) \
            if raw and raw_dataset_path is not None else None
        os.rename(staging / "dataset", dataset.path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if raw_paths is not None:
        dataset.info["raw"] = raw_paths
        dataset.save()
    return ImportResult(dataset, raw_paths)


def _place_raw(staging: Path, raw: dict[str, Any], target: Path, dataset: LocalDataset, progress: Progress | None,
               step: Step) -> dict[str, str]:
    """Check the raw data against its input hash, then move it under ``target`` (new, or an empty folder)."""
    target = Path(target).expanduser().absolute()
    if target.is_file() or target.is_dir() and any(target.iterdir()):
        raise UsageError(f"--raw_dataset_path {target} must be a new or an empty folder")
    folders = {label: staging / entry["path"] for label, entry in raw.items()}
    step("Checking the raw data (tree-v1)")
    _verify(f"the raw data of dataset {dataset.uid[:12]}", folders, dataset.info.get("input_data_hash"), progress)
    target.mkdir(parents=True, exist_ok=True)
    placed = {}
    for label, folder in folders.items():
        destination = target / raw[label]["name"]
        if destination.exists():
            destination = target / f"{label}-{raw[label]['name']}"
        shutil.move(folder, destination)  # another disk, maybe: then a copy
        placed[label] = destination
    return {"data_path": str(placed["data"]), "labels_path": str(placed.get("labels", placed["data"]))}
