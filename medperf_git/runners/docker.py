"""The ``docker`` runner: the pinned image through the Docker Engine API (Docker, or podman's socket via DOCKER_HOST).

Nothing runs unverified: images are found by image id or pulled by digest, never run by a tag that
may have moved, and ``containers.run`` (which pulls on its own) is never used. Given only a source
pin, the image is built from the source's Dockerfile and its image id recorded. Docker Engine gives
locally built images no RepoDigest (podman does), so the image id is what identifies them.
``check_image_pin`` does the same lookups when a container is registered, so that a pin no engine
will find is refused then, not when a data owner first runs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medperf_git.errors import ContainerConfigInvalid, ContainerFailed, HashMismatch, RunnerUnavailable, UsageError
from medperf_git.runners.base import ISOLATION, RunOptions, RunResult

if TYPE_CHECKING:  # the docker SDK is an extra, imported only where it is used
    from docker import DockerClient
    from docker.models.images import Image

    from medperf_git.runners._process import LogSink
    from medperf_git.runners._spec import TaskSpec
    from medperf_git.runners.base import ResolvedContainer

BUILD_REPO = "localhost/medperf-git-build"
# The docker SDK is an extra: a machine without it is told how to get it, by every command that needs it.
INSTALL_HINT = "pip install 'medperf-git[docker]'"
API_TIMEOUT = 120
# A fixed API version spares a /version round trip per client (podman answers it slowly); 1.41 has
# everything used here (device requests, mounts) and both Docker and podman speak it.
API_VERSION = "1.41"
# How long a task's state may take to show its exit once its output has ended, before waiting for it instead.
EXIT_POLL_SECONDS = 2.0
_CLIENTS: dict[str, Any] = {}
_VERSIONS: dict[str, str] = {}


def _shared_client() -> DockerClient:
    """One client per DOCKER_HOST for the process: connecting and version probing cost real time."""
    import docker

    key = os.environ.get("DOCKER_HOST", "")
    if key not in _CLIENTS:
        _CLIENTS[key] = docker.from_env(timeout=API_TIMEOUT, version=API_VERSION)
    return _CLIENTS[key]


def _split_reference(reference: str) -> str:
    """``repo[:tag][@digest]`` -> ``repo`` (a registry port is not a tag)."""
    repo = reference.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
    return repo


def _sha(value: str) -> str:
    return value if value.startswith("sha256:") else f"sha256:{value}"


# A task may not fork without bound and take the data owner's machine down with it. Data loaders
# and BLAS pools count against it as threads, so it is generous; Docker itself sets no limit.
PIDS_LIMIT = 4096


def device_requests(gpus: Any) -> list:
    """``--gpus`` as Docker DeviceRequests: all, a count, or a list of device ids."""
    from docker.types import DeviceRequest

    if gpus is None:
        return []
    if gpus == "all":
        return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    if isinstance(gpus, int):
        return [DeviceRequest(count=gpus, capabilities=[["gpu"]])]
    return [DeviceRequest(device_ids=list(gpus), capabilities=[["gpu"]])]


def create_kwargs(spec: TaskSpec, image_id: str) -> dict[str, Any]:
    """Arguments of ``containers.create`` for one task; pure, so tests can check it without an engine."""
    from docker.types import Mount

    mounts = [Mount(target=m.target, source=str(m.host), type="bind", read_only=m.read_only) for m in spec.mounts]
    mounts.append(Mount(target="/tmp", source=str(spec.tmp_dir), type="bind", read_only=False))
    command = [*(spec.task.command or []), *spec.path_args(host_paths=False)]
    kwargs: dict[str, Any] = {
        "image": image_id, "command": command or None, "entrypoint": spec.task.entrypoint,
        "user": f"{os.getuid()}:{os.getgid()}", "environment": spec.environment(host_paths=False),
        "mounts": mounts, "network_mode": "none", "device_requests": device_requests(spec.gpus),
        "name": f"medperf-{spec.task.name.replace('_', '-')}-{secrets.token_hex(8)}",
        "labels": {"medperf-git.task": spec.task.name}, "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"], "pids_limit": PIDS_LIMIT, "detach": True,
    }
    if spec.shm_size:
        kwargs["shm_size"] = spec.shm_size
    return kwargs


def pinned_reference(reference: str, digest: str) -> str:
    """``repo[:tag]`` and a digest -> ``repo@sha256:..``: the name that pulls exactly that content."""
    return f"{_split_reference(reference)}@{_sha(digest)}"


def _repositories(image: Image) -> set[str]:
    """The repositories an image is known by, spelled alike whether the engine says docker.io/library or not."""
    names = [*(image.attrs.get("RepoTags") or []), *(image.attrs.get("RepoDigests") or [])]
    return {_plain_repository(n) for n in names}


def _plain_repository(reference: str) -> str:
    repo = _split_reference(reference)
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if repo.startswith(prefix):
            return repo[len(prefix):]
    return repo


def run_digest(image: Image, reference: str) -> str | None:
    """The repository (manifest) digest an engine knows the image by, the reference's repository first."""
    wanted = _plain_repository(reference)
    pairs = [(_plain_repository(d), d.split("@", 1)[1]) for d in image.attrs.get("RepoDigests") or [] if "@" in d]
    for repository, digest in pairs:
        if repository == wanted:
            return digest
    return pairs[0][1] if pairs else None


def _repo_digests(image: Image) -> list[str]:
    """The manifest digests an engine knows an image by (``repo@sha256:..`` -> ``sha256:..``)."""
    return [d.split("@", 1)[1] for d in image.attrs.get("RepoDigests") or [] if "@" in d]


# What an engine says when a registry answered that the digest does not exist; anything else that
# stops a pull (no network, no DNS, TLS, a login needed) means the pin could not be checked here.
_NOT_THERE = ("manifest unknown", "manifest_unknown", "name unknown", "not found", "no such image")
_NOT_REACHED = ("dial tcp", "connection refused", "no such host", "timeout", "unreachable", "tls", "x509",
                "unauthorized", "denied", "docker login", "authentication required", "pinging container registry")


def pull_failure_is_missing(message: str) -> bool:
    """True when a failed pull shows the registry has no such digest, False when it was not reached."""
    text = message.lower()
    return not any(m in text for m in _NOT_REACHED) and any(m in text for m in _NOT_THERE)


@dataclass(frozen=True)
class ImageCheck:
    """What this machine's Docker-API engine said about an image pin when it was registered."""

    pin: dict[str, str]  # reference plus digest or image_id, as the record will hold it
    checked: bool
    engine: str | None = None  # "podman 4.3.1 (API 1.41)"; None when no engine answered
    detail: str = ""  # how it was checked, or why it could not be


def check_image_pin(reference: str, wanted: str | None) -> ImageCheck:
    """Check ``wanted`` (a manifest digest or an image id) for ``reference`` on this machine's engine.

    Registration must not accept a pin that no data owner's runner will ever find: the image is
    looked up locally, else pulled by digest (the engine checks the content against it). A pin that
    names another image, or a digest the registry does not have, is a HashMismatch. With no engine,
    or no way to reach the registry, the pin comes back unchecked with the reason. ``wanted`` None
    reads the pin from the engine (pulling the reference when it is not local).
    """
    if wanted is None and "@" in reference:
        wanted = reference.partition("@")[2]
    runner = DockerRunner()
    why = runner.available()
    if why is not None:
        if wanted is None:
            raise UsageError(f"cannot read the digest of image {reference}: {why}",
                             hint="give its digest with --image-hash sha256:..., or start a Docker engine")
        return ImageCheck({"reference": reference, "digest": _sha(wanted)}, False, None, why)
    import docker  # only now: without the SDK (an extra), the pin comes back unchecked with the reason above
    import requests

    try:
        engine = runner.version()
        if wanted is None:
            return _read_pin(runner.client(), reference, engine)
        return _check_pin(runner.client(), reference, _sha(wanted), engine)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        if wanted is None:
            raise UsageError(f"cannot read the digest of image {reference}: {type(exc).__name__}: {exc}",
                             hint="give its digest with --image-hash sha256:...") from None
        return ImageCheck({"reference": reference, "digest": _sha(wanted)}, False, None,
                          f"the Docker engine failed while checking it: {type(exc).__name__}")


def _local_image(client: DockerClient, name: str) -> Image | None:
    import docker

    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def _pull(client: DockerClient, repository: str, tag: str) -> str | None:
    """Pull ``repository`` at a tag or digest; None when it came, else the engine's own error."""
    import docker

    try:
        for item in client.api.pull(repository, tag=tag, stream=True, decode=True):
            if isinstance(item, dict) and item.get("error"):
                return str(item["error"])
    except docker.errors.APIError as exc:
        return str(exc.explanation or exc)
    return None


def _read_pin(client: DockerClient, reference: str, engine: str) -> ImageCheck:
    image = _local_image(client, reference)
    how = "read from the local image"
    if image is None:
        repository, _, tag = reference.rpartition(":")
        if not repository or "/" in tag:
            repository, tag = reference, "latest"
        error = _pull(client, repository, tag)
        image = _local_image(client, reference) if error is None else None
        if image is None:
            raise UsageError(f"image {reference} is not on this machine and could not be pulled: {error}",
                             hint=f"pull or build {reference}, or give its digest with --image-hash sha256:...")
        how = "read from the pulled image"
    pin = {"reference": reference, "image_id": image.id}
    digests = _repo_digests(image)
    if digests:
        pin["digest"] = digests[0]
    return ImageCheck(pin, True, engine, how)


def _check_pin(client: DockerClient, reference: str, wanted: str, engine: str) -> ImageCheck:
    repository = _split_reference(reference)
    in_reference = reference.partition("@")[2]
    if in_reference and _sha(in_reference) != wanted:
        raise HashMismatch(f"image {reference}", wanted, _sha(in_reference),
                           hint="the reference names one digest and --image-hash another; give one of them")
    by_id = _local_image(client, wanted)
    if by_id is not None and _sha(by_id.id) == wanted and _plain_repository(reference) in _repositories(by_id):
        return ImageCheck({"reference": reference, "image_id": wanted}, True, engine, "the local image has this id")
    by_digest = _local_image(client, pinned_reference(reference, wanted))
    if by_digest is not None and wanted in _repo_digests(by_digest):
        return ImageCheck({"reference": reference, "digest": wanted}, True, engine,
                          "the local image has this digest")
    error = _pull(client, repository, wanted)
    pulled = _local_image(client, pinned_reference(reference, wanted)) if error is None else None
    if pulled is not None and wanted in _repo_digests(pulled):
        return ImageCheck({"reference": reference, "digest": wanted}, True, engine, "pulled by this digest")
    local = _local_image(client, reference)
    fix = (f"give the digest the engine reports (`docker image inspect {reference}`), or push the image "
           "and give the digest the registry reports")
    if local is not None:
        digests = "".join(f"digest {d}, " for d in _repo_digests(local))
        raise HashMismatch(f"image {reference}", wanted, f"the local {reference} with {digests}image id {local.id}",
                           hint=fix)
    if error is not None and pull_failure_is_missing(error):
        raise HashMismatch(f"image {reference}", wanted, f"no image with that digest ({error})", hint=fix)
    why = error or "the pulled image has another digest"
    return ImageCheck({"reference": reference, "digest": wanted}, False, engine,
                      f"could not pull {repository}@{wanted}: {why}")


_PULLING = ("initializing source", "pull access denied", "failed to resolve", "trying to pull", "error pulling",
            "failed to pull")


def build_failure(dockerfile: Path, error: str, base_arg: str | None) -> ContainerFailed:
    """A failed build; for a base image not pulled, why MEDPERF_GIT_BASE_IMAGE did not help and what will."""
    from medperf_git.runners.dockerfile import base_images

    text = error.strip()
    lowered = text.lower()
    if not any(m in lowered for m in (*_PULLING, *_NOT_REACHED, *_NOT_THERE)):
        return ContainerFailed(f"building the image from {dockerfile} failed: {text}",
                               hint="the build's output is in the task's log")
    bases = base_images(dockerfile)
    fixed = [image for image, from_arg in bases if not from_arg]
    ways = ("pin an image built where it can be pulled (image: REPO@sha256:...), pin an image archive made with "
            "`docker save` (container_type: DockerArchive), or run the source without an engine: --runner sandbox")
    if fixed:
        return ContainerFailed(
            f"building the image from {dockerfile} failed: its base image {fixed[0]} could not be pulled "
            f"({text.splitlines()[0]}). MEDPERF_GIT_BASE_IMAGE cannot help: this Dockerfile names its base image "
            "in a fixed FROM, not through ARG BASE_IMAGE", hint=ways)
    if not base_arg:
        return ContainerFailed(
            f"building the image from {dockerfile} failed: its base image could not be pulled ({text.splitlines()[0]})",
            hint="set MEDPERF_GIT_BASE_IMAGE to an image this engine has (its FROM takes ARG BASE_IMAGE), or " + ways)
    return ContainerFailed(
        f"building the image from {dockerfile} failed: the base image {base_arg} (MEDPERF_GIT_BASE_IMAGE) could not "
        f"be pulled ({text.splitlines()[0]})",
        hint=f"build or load {base_arg} on this engine first, or " + ways)


def _ping(client: DockerClient) -> None:
    """Ping the engine, and keep what its answer's headers say it is: podman's /version can take seconds
    under load, its ping milliseconds (``Server: Libpod/4.3.1 (linux)`` or ``Docker/24.0.7 (linux)``)."""
    response = client.api.get(client.api.base_url + "/_ping", timeout=API_TIMEOUT)
    response.raise_for_status()
    server = response.headers.get("Server", "")
    name, _, rest = server.partition("/")
    if name.lower() in ("libpod", "docker") and rest:
        engine = "podman" if name.lower() == "libpod" else "docker"
        api = response.headers.get("Api-Version", "?")
        _VERSIONS[os.environ.get("DOCKER_HOST", "")] = f"{engine} {rest.split()[0]} (API {api})"


_REMOVALS: list[threading.Thread] = []


def _remove_later(container: Any) -> None:
    """Remove an exited container from a thread of its own: the task's result does not wait for the engine's
    clean-up (50-100 ms with podman). Not a daemon: the interpreter waits for it before exiting."""

    def remove() -> None:
        with contextlib.suppress(Exception):
            container.remove(force=True)

    thread = threading.Thread(target=remove, name="medperf-git-remove")
    thread.start()
    _REMOVALS[:] = [t for t in _REMOVALS if t.is_alive()] + [thread]


def wait_for_removals(timeout: float | None = None) -> None:
    """Wait until the containers of finished tasks are removed."""
    for thread in list(_REMOVALS):
        thread.join(timeout)


def _attach(container: Any) -> Any | None:
    """The task's output from its first byte, attached before it starts (as `docker run` does); None when the
    engine refuses. Its stream ends the moment the task's output closes, where podman's log stream, which
    follows a log file by polling, ends about 0.3 s later."""
    import docker

    try:
        return container.attach(stdout=True, stderr=True, stream=True, logs=True)
    except docker.errors.APIError:
        return None


def _exit_code(container: Any) -> int:
    """The exit code of a task whose output has ended, from its state once the engine has seen the exit: podman's
    wait answers up to several hundred milliseconds after its inspect does. A task that closed its output and
    runs on is waited for."""
    deadline = time.monotonic() + EXIT_POLL_SECONDS
    while True:
        container.reload()
        state = container.attrs.get("State") or {}
        if state.get("Status") in ("exited", "stopped", "dead") and not state.get("Running"):
            return int(state.get("ExitCode", -1))
        if time.monotonic() > deadline:
            return int(container.wait(timeout=None).get("StatusCode", -1))
        time.sleep(0.02)


def _create(client: DockerClient, kwargs: dict[str, Any]) -> Any:
    """``containers.create`` without the inspect the SDK makes after it: one round trip per task saved."""
    try:
        from docker.models.containers import _create_container_args
    except ImportError:  # another SDK version: the public call, one request more
        return client.containers.create(**kwargs)
    args = {**kwargs, "version": client.api._version}  # as the SDK's own create passes it
    created = client.api.create_container(**_create_container_args(args))
    return client.containers.prepare_model({"Id": created["Id"]})


class DockerRunner:
    name = "docker"
    isolation = ISOLATION["docker"]

    def __init__(self) -> None:
        self._client = None

    def client(self) -> DockerClient:
        if self._client is None:
            import docker

            try:
                self._client = _shared_client()
            except docker.errors.DockerException as exc:
                raise RunnerUnavailable(f"no Docker engine: {exc}",
                                        hint="start Docker, or point DOCKER_HOST at podman's API socket") from exc
        return self._client

    def available(self) -> str | None:
        try:
            import docker  # noqa: F401 - only whether it is installed
        except ImportError:
            return f"the docker Python package is not installed ({INSTALL_HINT})"
        if os.environ.get("DOCKER_HOST", "") in _VERSIONS:
            return None  # it answered this process once; a run that loses it says so
        try:
            _ping(_shared_client())
        except Exception as exc:  # noqa: BLE001 - any failure means "not here", with the reason
            where = os.environ.get("DOCKER_HOST", "the default socket")
            return f"no Docker engine answers at {where} ({type(exc).__name__})"
        return None

    def version(self) -> str:
        key = os.environ.get("DOCKER_HOST", "")
        if key not in _VERSIONS:
            _ping(self.client())
        if key not in _VERSIONS:  # an engine whose ping does not say what it is
            info = self.client().version()
            names = [c.get("Name", "") for c in info.get("Components") or []]
            engine = "podman" if any("podman" in n.lower() for n in names) else "docker"
            _VERSIONS[key] = f"{engine} {info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"
        return _VERSIONS[key]

    # -- images ----------------------------------------------------------------------------------

    def _pinned_image(self, pin: dict[str, str]) -> Image:
        import docker

        client = self.client()
        reference, digest, image_id = pin["reference"], pin.get("digest"), pin.get("image_id")
        image = None
        if image_id:
            with contextlib.suppress(docker.errors.ImageNotFound):
                image = client.images.get(_sha(image_id))
        if image is None and digest:
            by_digest = f"{_split_reference(reference)}@{_sha(digest)}"
            try:
                image = client.images.get(by_digest)
            except docker.errors.ImageNotFound:
                with contextlib.suppress(docker.errors.APIError):
                    image = client.images.pull(by_digest)  # the engine checks the content against the digest
        if image is None:
            try:
                local = client.images.get(reference)
            except docker.errors.APIError:
                raise ContainerFailed(f"image {reference} ({digest or image_id}) is not on this machine and could "
                                      "not be pulled by its digest",
                                      hint=f"pull or load it, then check `docker image inspect {reference}`") from None
            found = local.id if image_id else ", ".join(local.attrs.get("RepoDigests") or []) or local.id
            raise HashMismatch(f"image {reference}", image_id or digest, found,
                               hint="the local image is not the one the registry pins; pull it again by digest")
        if image_id and _sha(image.id) != _sha(image_id):
            raise HashMismatch(f"image {reference}", _sha(image_id), image.id)
        if digest and not image_id:
            digests = [d.split("@", 1)[1] for d in image.attrs.get("RepoDigests") or [] if "@" in d]
            if digests and _sha(digest) not in digests:
                raise HashMismatch(f"image {reference}", _sha(digest), ", ".join(digests))
        return image

    def _built_image(self, container: ResolvedContainer, sink: LogSink) -> Image:
        """Build the source's Dockerfile once per (source, base image); reuse it by tag afterwards."""
        import docker

        client = self.client()
        base = os.environ.get("MEDPERF_GIT_BASE_IMAGE")
        key = hashlib.sha256(f"{container.source_key}\n{base or ''}".encode()).hexdigest()[:24]
        tag = f"{BUILD_REPO}:{key}"
        with contextlib.suppress(docker.errors.ImageNotFound):
            return client.images.get(tag)
        sink.note(f"building the image from {container.source_dir / 'Dockerfile'}"
                  + (f" with BASE_IMAGE={base}" if base else ""))
        try:
            for item in client.api.build(path=str(container.source_dir), dockerfile="Dockerfile", tag=tag, rm=True,
                                         forcerm=True, pull=False, decode=True,
                                         buildargs={"BASE_IMAGE": base} if base else None):
                if "stream" in item:
                    sink.feed(item["stream"].encode())
                if "error" in item:
                    raise build_failure(container.source_dir / "Dockerfile", str(item["error"]), base)
            return client.images.get(tag)
        except docker.errors.APIError as exc:
            raise build_failure(container.source_dir / "Dockerfile", str(exc.explanation or exc), base) from exc

    def _archived_image(self, container: ResolvedContainer, pin: dict[str, str], cache_dir: Path,
                        sink: LogSink) -> Image:
        """A DockerArchive: the tarball fetched and checked by its sha256, loaded once, its image id recorded."""
        import docker

        from medperf_git.hashing import normalize_sha256
        from medperf_git.runners.images import URL_SCHEMES, locate_archive
        from medperf_git.workspace.atomic import write_text

        client = self.client()
        reference, digest = pin["reference"], pin.get("digest")
        if not digest and reference.startswith(URL_SCHEMES):
            raise ContainerFailed(f"the image archive {reference} has no sha256 pin to check it against")
        archive = None
        if not digest:  # a local config's archive: its sha256 is what it is now
            archive, digest = locate_archive(container, cache_dir)
        marker = cache_dir / "loaded-images" / normalize_sha256(digest).split(":", 1)[1]
        known = pin.get("image_id") or (marker.read_text().strip() if marker.is_file() else None)
        image = None
        if known:
            with contextlib.suppress(docker.errors.ImageNotFound):
                image = client.images.get(_sha(known))
        if image is None:
            archive = archive or locate_archive(container, cache_dir)[0]
            sink.note(f"loading the image archive {reference}")
            with open(archive, "rb") as handle:
                loaded = client.images.load(handle)
            if not loaded:
                raise ContainerFailed(f"the image archive {reference} holds no image")
            image = loaded[0]
            write_text(marker, image.id + "\n")
        if pin.get("image_id") and _sha(image.id) != _sha(pin["image_id"]):
            raise HashMismatch(f"the image loaded from {reference}", _sha(pin["image_id"]), image.id)
        return image

    def image_for(self, container: ResolvedContainer, sink: LogSink, cache_dir: Path | None = None) -> Image:
        import docker

        pin = container.image or {}
        if container.config.container_type.startswith("Encrypted"):
            raise ContainerConfigInvalid(f"{container.config.source}: {container.config.container_type} containers "
                                         "are not supported yet", hint="publish the image unencrypted, by digest")
        from medperf_git.runners.images import image_archive

        if image_archive(container) is not None:
            from medperf_git.runners._python import default_venvs_dir

            return self._archived_image(container, pin, cache_dir or default_venvs_dir().parent, sink)
        if pin.get("digest") or pin.get("image_id"):
            return self._pinned_image(pin)
        if pin.get("reference") and "source" not in container.pins:
            # A local config naming an image the author built: use it if it is here.
            with contextlib.suppress(docker.errors.ImageNotFound):
                return self.client().images.get(pin["reference"])
        if container.source_dir is not None and (container.source_dir / "Dockerfile").is_file():
            return self._built_image(container, sink)
        if pin.get("reference"):
            raise ContainerFailed(f"image {pin['reference']} is not on this machine, and there is no Dockerfile "
                                  "to build it from", hint=f"pull or build {pin['reference']} first")
        raise ContainerConfigInvalid(f"{container.config.source}: no image and no source with a Dockerfile to run")

    # -- run -------------------------------------------------------------------------------------

    def run(self, spec: TaskSpec, options: RunOptions) -> RunResult:
        import docker
        import requests

        try:
            return self._run(spec, options)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            where = os.environ.get("DOCKER_HOST", "the default socket")
            raise RunnerUnavailable(f"lost contact with the Docker engine at {where}: {type(exc).__name__}: {exc}",
                                    hint="check that the engine is running, then run the command again") from exc

    def _run(self, spec: TaskSpec, options: RunOptions) -> RunResult:
        import docker

        container_ref = spec.container
        sink = spec.open_sink(options)
        timed_out = threading.Event()
        start = time.monotonic()
        try:
            image = self.image_for(container_ref, sink, options.cache_dir)
            client = self.client()
            try:
                created = _create(client, create_kwargs(spec, image.id))
            except docker.errors.APIError as exc:
                raise ContainerFailed(f"the engine refused to create the container: {exc.explanation or exc}") from exc
            watchdog = None
            finished = False
            try:
                output = _attach(created)
                created.start()
                if options.timeout is not None:
                    def kill() -> None:
                        timed_out.set()
                        sink.note(f"wall-clock timeout of {options.timeout:g} s reached; killing the container")
                        with contextlib.suppress(docker.errors.APIError):
                            created.kill()

                    watchdog = threading.Timer(options.timeout, kill)
                    watchdog.daemon = True
                    watchdog.start()
                with contextlib.suppress(docker.errors.APIError, OSError, ValueError):
                    for chunk in output or created.logs(stream=True, follow=True):  # until the task's output ends
                        sink.feed(chunk)
                exit_code = _exit_code(created)
                finished = True
            except docker.errors.APIError as exc:
                raise ContainerFailed(f"the engine failed to run the container: {exc.explanation or exc}") from exc
            except BaseException:
                with contextlib.suppress(Exception):
                    created.kill()
                raise
            finally:
                if watchdog is not None:
                    watchdog.cancel()
                if finished:
                    _remove_later(created)
                else:
                    with contextlib.suppress(Exception):
                        created.remove(force=True)
        finally:
            sink.close()
        reference = (container_ref.image or {}).get("reference") or (image.tags[0] if image.tags else image.id)
        ran = {"reference": reference, "image_id": image.id}
        # The pinned digest (a manifest's, or an archive's sha256), else the repository digest the engine
        # knows, as MedPerf records images now; the image id stays beside it.
        digest = (container_ref.image or {}).get("digest")
        found = _sha(digest) if digest else run_digest(image, reference)
        if found:
            ran["digest"] = found
        return RunResult(runner=self.name, isolation=self.isolation, runner_version=self.version(),
                         exit_code=exit_code, log_path=spec.log_path, duration=time.monotonic() - start,
                         pins=dict(container_ref.pins), config_hash=container_ref.config.config_hash,
                         parameters_hash=container_ref.parameters_hash, image=ran, timed_out=timed_out.is_set())
