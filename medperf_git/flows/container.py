"""`container submit`: register a container with its config, parameters and exact pins.

Every pin is computed here (or checked, when the author gives it): the sha256 of each archive's
bytes and the tree-v1 of its extracted files, or an image's digest or id. A mismatch stops
everything before anything is published.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_git.errors import HashMismatch, UsageError
from medperf_git.flows._registry import RegistryView
from medperf_git.flows.dataset import Cancelled, Confirm, PublishOutcome
from medperf_git.lint.facts import normalize_name
from medperf_git.records.yamlio import load_yaml_file
from medperf_git.workspace.workspace import Workspace


@dataclass
class ArchiveInput:
    """An archive given as a URL or a local path, with the hash the author expects (if any)."""

    location: str
    expected: str | None = None
    url: str | None = None  # where a local path will be published


def _is_url(text: str) -> bool:
    return text.startswith(("https://", "http://", "file://"))


def pin_archive(view: RegistryView, what: str, given: ArchiveInput) -> dict[str, Any]:
    """{url, hash, tree} for an archive; refuses a hash mismatch and a local path without a URL."""
    from medperf_git.hashing import normalize_sha256, sha256_file, tree_hash
    from medperf_git.runners.archives import safe_extract
    from medperf_git.runners.fetch import fetch

    expected = normalize_sha256(given.expected) if given.expected else None
    if _is_url(given.location):
        if given.location.startswith("file://") and not view.allow_file_urls:
            raise UsageError(f"{what}: file:// URLs are not allowed by this registry")
        url = given.location
        local = fetch(url, expected, view.ws.downloads_dir, allow_file=view.allow_file_urls)
        found = sha256_file(local)
    else:
        local = Path(given.location).expanduser().absolute()
        if not local.is_file():
            raise UsageError(f"{what}: {local} is not a file")
        found = sha256_file(local)
        if expected and expected != found:
            raise HashMismatch(f"{what} {local}", expected, found)
        if given.url:
            url = given.url
        elif view.allow_file_urls:
            url = local.as_uri()
        else:
            raise UsageError(f"{what}: {local} is a local file; say where it will be published",
                             hint="add its https:// URL, e.g. --source-url or --additional-files-url")
    with tempfile.TemporaryDirectory(prefix="pin-", dir=view.ws.data_root if view.ws.data_root.exists()
                                     else None) as tmp:
        safe_extract(local, Path(tmp) / "x")
        tree = tree_hash({"files": Path(tmp) / "x"}).digest
    return {"url": url, "hash": found, "tree": tree}


def pin_image(reference: str, image_hash: str | None) -> dict[str, Any]:
    """{reference, digest|image_id}: the given hash, or what the local engine reports."""
    from medperf_git.hashing import normalize_sha256

    if image_hash:
        return {"reference": reference, "digest": normalize_sha256(image_hash)}
    try:
        import docker

        client = docker.from_env()
        image = client.images.get(reference)
    except Exception as exc:  # noqa: BLE001 - any engine problem means we cannot pin it here
        raise UsageError(f"cannot inspect image {reference} on this machine ({type(exc).__name__})",
                         hint="give its digest with --image-hash sha256:...") from None
    pin = {"reference": reference, "image_id": image.id}
    digests = [d.split("@", 1)[1] for d in image.attrs.get("RepoDigests") or [] if "@" in d]
    if digests:
        pin["digest"] = digests[0]
    return pin


def container_record(view: RegistryView, *, container_id: int, name: str, config_path: Path,
                     parameters_path: Path | None, description: str | None, source: ArchiveInput | None,
                     additional_files: ArchiveInput | None, image: str | None,
                     image_hash: str | None) -> dict[str, Any]:
    from medperf_git.runners.config import load_config

    config = load_config(config_path)
    parameters: dict[str, Any] = {}
    if parameters_path is not None:
        loaded = load_yaml_file(parameters_path)
        if loaded is not None and not isinstance(loaded, dict):
            raise UsageError(f"{parameters_path}: parameters must be a mapping")
        parameters = loaded or {}
    if source is None and image is None:
        raise UsageError("a container needs at least one pin: --source (an archive) and/or --image")
    record: dict[str, Any] = {"schema_version": 1, "kind": "container", "id": container_id, "name": name,
                              "owner": view.ws.profile.handle}
    if description:
        record["description"] = description
    record["config"] = config.data
    record["parameters"] = parameters
    if image:
        record["image"] = pin_image(image, image_hash)
    if source:
        record["source"] = pin_archive(view, "--source", source)
    if additional_files:
        record["additional_files"] = pin_archive(view, "--additional-files", additional_files)
    return record


def check_unique_name(view: RegistryView, kind: str, name: str) -> None:
    taken = view.index.names(kind).get(normalize_name(name))
    if taken:
        raise UsageError(f"the name '{name}' is taken by {kind} {taken[0]} (names compare case- and -/_-insensitively)",
                         hint="choose another --name")


def submit(ws: Workspace, *, name: str, config_path: Path, parameters_path: Path | None = None,
           description: str | None = None, source: ArchiveInput | None = None,
           additional_files: ArchiveInput | None = None, image: str | None = None, image_hash: str | None = None,
           confirm: Confirm) -> PublishOutcome:
    from medperf_git.flows._publish import next_id, publish, require_identity

    require_identity(ws)
    view = RegistryView.open(ws)
    check_unique_name(view, "container", name)
    record = container_record(view, container_id=next_id(view, "container"), name=name, config_path=config_path,
                              parameters_path=parameters_path, description=description, source=source,
                              additional_files=additional_files, image=image, image_hash=image_hash)
    if not confirm(record):
        raise Cancelled("no container was submitted")
    return publish(view, {"container": record}, title=f"Container {name}", kind="container")
