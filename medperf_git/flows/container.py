"""`container submit`: register a container with its config, parameters and exact pins.

Every pin is computed here (or checked, when the author gives it): the sha256 of each archive's
bytes and the tree-v1 of its extracted files, or an image's digest or id, asked of this machine's
Docker-API engine. A mismatch stops everything before anything is published. An image pin that no
engine here could check is published with ``image_check.checked: false`` and the reason, and
readers show it as unverified.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medperf_git.errors import HashMismatch, UsageError
from medperf_git.flows.dataset import Cancelled, Confirm, PublishOutcome
from medperf_git.flows.session import RegistrySession
from medperf_git.records.layout import normalize_name
from medperf_git.records.yamlio import load_yaml_file

if TYPE_CHECKING:
    from medperf_git.runners.docker import ImageCheck


@dataclass
class ArchiveInput:
    """An archive given as a URL or a local path, with the hash the author expects (if any)."""

    location: str
    expected: str | None = None
    url: str | None = None  # where a local path will be published


def _is_url(text: str) -> bool:
    return text.startswith(("https://", "http://", "file://"))


def _published_url(s: RegistrySession, what: str, local: Path, url: str | None) -> str:
    """Where a local archive will be published: the URL given, else its file:// URL where the registry allows it."""
    if url:
        return url
    if s.allow_file_urls:
        return local.as_uri()
    raise UsageError(f"{what}: {local} is a local file; say where it will be published",
                     hint="add its https:// URL, e.g. --source-url or --additional-files-url")


def pin_archive(s: RegistrySession, what: str, given: ArchiveInput) -> dict[str, Any]:
    """{url, hash, tree} for an archive; refuses a hash mismatch and a local path without a URL."""
    from medperf_git.hashing import normalize_sha256, sha256_file, tree_hash
    from medperf_git.runners.archives import safe_extract
    from medperf_git.runners.fetch import fetch

    expected = normalize_sha256(given.expected) if given.expected else None
    if _is_url(given.location):
        if given.location.startswith("file://") and not s.allow_file_urls:
            raise UsageError(f"{what}: file:// URLs are not allowed by this registry")
        url = given.location
        local = fetch(url, expected, s.ws.downloads_dir, allow_file=s.allow_file_urls)
        found = sha256_file(local)
    else:
        local = Path(given.location).expanduser().absolute()
        if not local.is_file():
            raise UsageError(f"{what}: {local} is not a file")
        found = sha256_file(local)
        if expected and expected != found:
            raise HashMismatch(f"{what} {local}", expected, found)
        url = _published_url(s, what, local, given.url)
    with tempfile.TemporaryDirectory(prefix="pin-", dir=s.ws.data_root if s.ws.data_root.exists()
                                     else None) as tmp:
        safe_extract(local, Path(tmp) / "x")
        tree = tree_hash({"files": Path(tmp) / "x"}).digest
    return {"url": url, "hash": found, "tree": tree}


ZERO_DIGEST = "sha256:" + "0" * 64
# The image_check field holds the engine's own words; keep them within the schema's bound.
_DETAIL_MAX = 500


def _archived_image_check(s: RegistrySession, reference: str, wanted: str | None) -> ImageCheck:
    """A DockerArchive or SIF at a URL: its pin is the sha256 of the file, checked by fetching it."""
    from medperf_git.errors import DownloadError
    from medperf_git.hashing import sha256_file
    from medperf_git.runners.docker import ImageCheck
    from medperf_git.runners.fetch import fetch

    try:
        local = fetch(reference, wanted, s.ws.downloads_dir, allow_file=s.allow_file_urls)
    except DownloadError as exc:
        if wanted is None:
            raise
        return ImageCheck({"reference": reference, "digest": wanted}, False, None, f"not downloaded: {exc}")
    return ImageCheck({"reference": reference, "digest": sha256_file(local)}, True, None, "downloaded and hashed")


def pin_image(s: RegistrySession, reference: str, image_hash: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The image pin and its ``image_check``: a given hash is compared with what this machine's engine reports.

    A pin no runner will find fails only on a data owner's machine, so it is refused here when an
    engine can tell (HashMismatch); when none can, it is published marked unchecked, with the reason.
    """
    from medperf_git.flows.submission import now
    from medperf_git.hashing import normalize_sha256
    from medperf_git.runners.docker import check_image_pin

    wanted = normalize_sha256(image_hash) if image_hash else None
    if _is_url(reference):
        check = _archived_image_check(s, reference, wanted)
    else:
        check = check_image_pin(reference, wanted)
    if not check.checked and ZERO_DIGEST in (check.pin.get("digest"), check.pin.get("image_id")):
        raise UsageError(f"image {reference}: {ZERO_DIGEST} is a placeholder, not a digest",
                         hint="give the digest the registry or `docker image inspect` reports")
    record_check: dict[str, Any] = {"checked": check.checked}
    if check.engine:
        record_check["engine"] = check.engine
    record_check["detail"] = check.detail[:_DETAIL_MAX]
    record_check["at"] = now()
    return check.pin, record_check


def image_pin_status(record: dict[str, Any]) -> tuple[str, str | None] | None:
    """``("checked", None)`` or ``("unverified", hint)`` for a container's image pin; None without one.

    ``image_check`` is the submitter's own report, so a record without it (an older client, or a
    hand-written record) is unverified too; "checked" is only ever a claim, never proof.
    """
    pin = record.get("image")
    if not isinstance(pin, dict):
        return None
    check = record.get("image_check")
    if isinstance(check, dict) and check.get("checked") is True:
        return "checked", None
    reference = pin.get("reference", "?")
    why = check.get("detail") if isinstance(check, dict) else "no check was recorded when it was registered"
    if pin.get("digest") and not _is_url(reference):
        from medperf_git.runners.docker import pinned_reference

        how = f"`docker pull {pinned_reference(reference, pin['digest'])}`"
    elif pin.get("image_id"):
        how = f"`docker image inspect {pin['image_id']}`"
    else:
        how = f"the sha256 of {reference}"
    return "unverified", (f"the submitter's machine could not check this image pin ({why}); check it with {how}. "
                          "Runners check it again before running it.")


def container_record(s: RegistrySession, *, container_id: int, name: str, config_path: Path,
                     parameters_path: Path | None, description: str | None, source: ArchiveInput | None,
                     additional_files: ArchiveInput | None, image: str | None,
                     image_hash: str | None, required_tasks: tuple[str, ...] = (),
                     private_weights: bool = False) -> dict[str, Any]:
    from medperf_git.runners.config import load_config

    config = load_config(config_path)
    missing = [task for task in required_tasks if task not in config.tasks]
    if missing:
        raise UsageError(f"{config_path} has no {', '.join(missing)} task, so it is not a model",
                         hint="a model's container_config.yaml declares an infer task; register other containers "
                              "with `medperf-git container submit`")
    if source is None and image is None:
        image = config.image  # MedPerf's way: the image the config names
    parameters: dict[str, Any] = {}
    if parameters_path is not None:
        loaded = load_yaml_file(parameters_path)
        if loaded is not None and not isinstance(loaded, dict):
            raise UsageError(f"{parameters_path}: parameters must be a mapping")
        parameters = loaded or {}
    if source is None and image is None:
        raise UsageError(f"{config_path} names no image, and a container needs at least one pin",
                         hint="give --image REF (a registry image) and/or --source ARCHIVE (its project)")
    record: dict[str, Any] = {"schema_version": 1, "kind": "container", "id": container_id, "name": name,
                              "owner": s.profile.handle}
    if description:
        record["description"] = description
    record["config"] = config.data
    record["parameters"] = parameters
    if image:
        record["image"], record["image_check"] = pin_image(s, image, image_hash)
    if source:
        record["source"] = pin_archive(s, "--source", source)
    if additional_files and private_weights:
        record["additional_files"] = pin_private_archive(s, additional_files)
    elif additional_files:
        record["additional_files"] = pin_archive(s, "--additional-files", additional_files)
    elif private_weights:
        raise UsageError("--private-weights needs --additional-file: the archive of weights to encrypt")
    return record


def pin_private_archive(s: RegistrySession, given: ArchiveInput) -> dict[str, Any]:
    """Encrypt a local weights archive (flows/weights.py) and pin the ciphertext: {url, hash, private}."""
    from medperf_git.flows.weights import seal_archive
    from medperf_git.hashing import normalize_sha256, sha256_file
    from medperf_git.records.weights import PRIVATE_FORMAT
    from medperf_git.runners.archives import safe_extract

    local = Path(given.location).expanduser().absolute()
    if _is_url(given.location) or not local.is_file():
        raise UsageError(f"--private-weights: {given.location} must be a local archive (it is encrypted here, "
                         "then you publish the encrypted file)")
    if given.expected and normalize_sha256(given.expected) != sha256_file(local):
        raise HashMismatch(f"--additional-files {local}", normalize_sha256(given.expected), sha256_file(local))
    with tempfile.TemporaryDirectory(prefix="pin-", dir=s.ws.data_root if s.ws.data_root.exists() else None) as tmp:
        safe_extract(local, Path(tmp) / "x")  # refuse now what no runner could unpack later
    sealed, recipient = seal_archive(s, local)
    url = _published_url(s, "--private-weights", sealed, given.url)
    return {"url": url, "hash": sha256_file(sealed), "private": {"format": PRIVATE_FORMAT, "recipient": recipient}}


def check_unique_name(s: RegistrySession, kind: str, name: str) -> None:
    taken = s.index.names(kind).get(normalize_name(name))
    if taken:
        raise UsageError(f"the name '{name}' is taken by {kind} {taken[0]} (names compare case- and -/_-insensitively)",
                         hint="choose another --name")


def submit(s: RegistrySession, *, name: str, config_path: Path, parameters_path: Path | None = None,
           description: str | None = None, source: ArchiveInput | None = None,
           additional_files: ArchiveInput | None = None, image: str | None = None, image_hash: str | None = None,
           required_tasks: tuple[str, ...] = (), private_weights: bool = False, confirm: Confirm) -> PublishOutcome:
    """Register a container (``required_tasks=("infer",)``: a model) with its exact pins; with no ``image`` and
    no ``source``, the image its config names is pinned, as MedPerf does. ``private_weights`` encrypts the
    additional-files archive and keeps its key here (flows/weights.py)."""
    from medperf_git.flows._publish import publish
    from medperf_git.flows.submission import next_record_id

    s.require_identity()
    s.fetch(tolerate=True)
    check_unique_name(s, "container", name)
    record = container_record(s, container_id=next_record_id(s, "container"), name=name, config_path=config_path,
                              parameters_path=parameters_path, description=description, source=source,
                              additional_files=additional_files, image=image, image_hash=image_hash,
                              required_tasks=required_tasks, private_weights=private_weights)
    if not confirm(record):
        raise Cancelled("no container was submitted")
    return publish(s, {"container": record}, title=f"Container {name}", kind="container")
