"""From a registry container record (or a local config) to what a runner needs, every byte verified.

Archives are fetched into a cache keyed by sha256 and checked before they are opened, extracted
safely, and cached extracted by the same hash. A record that pins the tree of the extracted files
gets it re-checked on every resolve, so a file changed in the cache is caught before it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medperf_git.errors import ContainerConfigInvalid, HashMismatch
from medperf_git.runners.base import ResolvedContainer
from medperf_git.runners.config import ContainerConfig, parse_config

PIN_FIELDS = ("image", "source", "additional_files")


def tree_of(folder: Path) -> str:
    """tree-v1 of an extracted archive; its single root is labelled ``files``."""
    from medperf_git.hashing import tree_hash

    return tree_hash({"files": folder}).digest


def _extracted(pin: dict[str, Any], what: str, cache_dir: Path, allow_file_urls: bool) -> Path:
    from medperf_git.hashing import normalize_sha256
    from medperf_git.runners.archives import safe_extract
    from medperf_git.runners.fetch import fetch

    expected = normalize_sha256(pin["hash"])
    dest = cache_dir / "extracted" / expected.split(":", 1)[1]
    if not dest.is_dir():
        archive = fetch(pin["url"], expected, cache_dir / "downloads", allow_file=allow_file_urls)
        safe_extract(archive, dest)  # staged: a crash leaves no half-extracted folder under this name
    if pin.get("tree"):
        found = tree_of(dest)
        if found != pin["tree"]:
            raise HashMismatch(f"the extracted {what} in {dest}", pin["tree"], found,
                               hint=f"delete {dest} to extract the archive again")
    return dest


def _source_root(folder: Path) -> Path:
    """An archive holding a single folder (``name/...``) has its project in that folder."""
    entries = [p for p in folder.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and not (folder / "container_config.yaml").exists():
        return entries[0]
    return folder


# Where MedPerf's layout keeps a container's run files, beside its config, then the flat layout.
PARAMETERS_FILES = ("workspace/parameters.yaml", "parameters.yaml")
ADDITIONAL_FILES = ("workspace/additional_files", "additional_files")


def local_run_files(folder: Path) -> tuple[Path | None, Path | None]:
    """The parameters file and additional-files folder of a local container, as MedPerf lays them out."""
    params = next((folder / p for p in PARAMETERS_FILES if (folder / p).is_file()), None)
    extra = next((folder / p for p in ADDITIONAL_FILES if (folder / p).is_dir()), None)
    return params, extra


def _local_parameters(folder: Path) -> tuple[dict[str, Any], str | None]:
    """The parameters beside a local config, or ({}, where they were looked for)."""
    from medperf_git.errors import RecordInvalid
    from medperf_git.records.yamlio import load_yaml_file

    path, _ = local_run_files(folder)
    if path is None:
        return {}, " and ".join(str(folder / p) for p in PARAMETERS_FILES)
    try:
        data = load_yaml_file(path)
    except RecordInvalid as exc:
        raise ContainerConfigInvalid(exc.message, hint=f"fix {path}") from exc
    if data is not None and not isinstance(data, dict):
        raise ContainerConfigInvalid(f"{path}: parameters must be a mapping, not {type(data).__name__}",
                                     hint=f"fix {path}")
    return dict(data or {}), None


def resolve_container(record_or_config: dict[str, Any] | ContainerConfig, *, cache_dir: Path,
                      allow_file_urls: bool = False, parameters: dict[str, Any] | None = None,
                      additional_files_dir: Path | None = None) -> ResolvedContainer:
    """A registry record (fetch and verify its archives) or a local config (its folder is the source).

    A local config given no ``parameters`` or ``additional_files_dir`` takes MedPerf's
    ``workspace/parameters.yaml`` and ``workspace/additional_files/`` beside it (or the same names
    without ``workspace/``); a task that mounts ``parameters_file`` when none was found is refused
    before it runs, instead of failing inside on an empty mapping.
    """
    cache_dir = Path(cache_dir)
    if isinstance(record_or_config, ContainerConfig):
        config = record_or_config
        missing = None
        folder = config.path.parent if config.path else config.source_dir
        if parameters is None and folder is not None:
            parameters, missing = _local_parameters(folder)
        if additional_files_dir is None and folder is not None:
            additional_files_dir = local_run_files(folder)[1]
        resolved = ResolvedContainer(config=config, parameters=dict(parameters or {}), source_dir=config.source_dir,
                                     additional_files_dir=Path(additional_files_dir).absolute()
                                     if additional_files_dir else None,
                                     image={"reference": config.image} if config.image else None,
                                     parameters_missing=missing)
        if config.source_dir is not None:
            resolved.source_key = tree_of(config.source_dir)
        resolved.pins = {"config_hash": config.config_hash, "parameters_hash": resolved.parameters_hash}
        return resolved

    record = record_or_config
    where = f"containers/{record.get('id', '?')}.yaml"
    if not isinstance(record.get("config"), dict):
        raise ContainerConfigInvalid(f"{where}: config: missing or not a mapping")
    source_dir = None
    source_key = None
    if record.get("source"):
        source_dir = _source_root(_extracted(record["source"], "source", cache_dir, allow_file_urls))
        source_key = record["source"]["hash"]
    config = parse_config(record["config"], f"{where} (config)", source_dir=source_dir)
    extra = private = None
    pin = record.get("additional_files")
    if pin and pin.get("private"):  # encrypted weights: only the verified ciphertext is cached
        from medperf_git.runners.fetch import fetch

        private = fetch(pin["url"], pin["hash"], cache_dir / "downloads", allow_file=allow_file_urls)
    elif pin:
        extra = _extracted(pin, "additional files", cache_dir, allow_file_urls)
    params = dict(record.get("parameters") or {}) if parameters is None else dict(parameters)
    image = dict(record["image"]) if record.get("image") else None
    resolved = ResolvedContainer(config=config, parameters=params, source_dir=source_dir,
                                 additional_files_dir=extra, image=image, source_key=source_key,
                                 allow_file_urls=allow_file_urls, private_archive=private)
    resolved.pins = {"config_hash": config.config_hash, "parameters_hash": resolved.parameters_hash}
    resolved.pins.update({k: dict(record[k]) for k in PIN_FIELDS if record.get(k)})
    return resolved


def open_private(resolved: ResolvedContainer, identity: str, scratch: Path) -> ResolvedContainer:
    """The container with its private weights decrypted and unpacked into ``scratch`` (the task's private
    folder, removed with it): the archive in clear lives there only until it is unpacked."""
    import dataclasses

    from medperf_git.errors import PolicyDenied
    from medperf_git.records.weights import WeightsError, decrypt_archive
    from medperf_git.runners.archives import safe_extract

    if resolved.private_archive is None:
        return resolved
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    clear = scratch / "weights.archive"
    dest = scratch / "additional_files"
    try:
        decrypt_archive(resolved.private_archive, clear, identity)
        safe_extract(clear, dest)
    except WeightsError as exc:
        raise PolicyDenied(str(exc), hint="ask the model's owner to release the key again") from None
    finally:
        clear.unlink(missing_ok=True)
    return dataclasses.replace(resolved, additional_files_dir=dest, private_archive=None)
