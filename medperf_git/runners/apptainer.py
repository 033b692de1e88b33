"""The ``apptainer`` runner (also ``singularity``): the pinned image through the CLI, for HPC machines.

A Docker image is converted once to a SIF from ``docker://repo@sha256:...`` (by digest only, so
what runs is what was pinned) and cached by that digest; a SingularityFile pin is a .sif checked by
its sha256. The task runs as the caller, with ``--containall --cleanenv --no-home``, no network,
read-only input binds and a private /tmp.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from medperf_git.errors import ContainerFailed, HashMismatch
from medperf_git.runners._process import LogSink, run_process
from medperf_git.runners.base import ISOLATION, RunOptions, RunResult

if TYPE_CHECKING:
    from medperf_git.runners._spec import TaskSpec

EXECUTABLES = ("apptainer", "singularity")


@functools.cache
def _version_of(exe: str) -> str | None:
    try:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = proc.stdout.strip()
    return text if proc.returncode == 0 and re.search(r"(apptainer|singularity)(-ce)? version \S+", text) else None


def find_executable() -> str | None:
    for name in EXECUTABLES:
        path = shutil.which(name)
        if path and _version_of(path):
            return path
    return None


def build_argv(exe: str, spec: TaskSpec, image: str) -> list[str]:
    """The apptainer command line for one task; pure, so tests can read it."""
    entry = spec.task.entrypoint
    argv = [exe, "exec" if entry else "run", "--containall", "--cleanenv", "--no-home", "--net", "--network", "none"]
    for mount in spec.mounts:
        argv += ["--bind", f"{mount.host}:{mount.target}:{'ro' if mount.read_only else 'rw'}"]
    argv += ["--bind", f"{spec.tmp_dir}:/tmp:rw", "--pwd", "/tmp"]
    env = spec.environment(host_paths=False)
    if spec.gpus is not None:
        argv.append("--nv")
        cuda = spec.cuda_visible_devices()
        if isinstance(spec.gpus, list):
            argv += ["--nvccli"]
            env["NVIDIA_VISIBLE_DEVICES"] = cuda or ""
        if cuda is not None:
            env["CUDA_VISIBLE_DEVICES"] = cuda
    for key, value in sorted(env.items()):
        argv += ["--env", f"{key}={value}"]
    return argv + [image, *(entry or []), *(spec.task.command or []), *spec.path_args(host_paths=False)]


class ApptainerRunner:
    name = "apptainer"
    isolation = ISOLATION["apptainer"]

    def __init__(self) -> None:
        self.exe = find_executable()

    def available(self) -> str | None:
        return None if self.exe else "neither apptainer nor singularity is installed"

    def version(self) -> str:
        return (_version_of(self.exe) if self.exe else None) or "apptainer"

    def _image(self, spec: TaskSpec, cache_dir: Path, sink: LogSink) -> str:
        from medperf_git.hashing import normalize_sha256, sha256_file

        container = spec.container
        pin = container.image or {}
        reference, digest = pin.get("reference", ""), pin.get("digest")
        if reference.startswith(("https://", "http://", "file://")):
            # A SingularityFile: fetched into the sha256-keyed cache, which checks it against the pin.
            from medperf_git.runners.fetch import fetch

            if not digest:
                raise ContainerFailed(f"the image {reference} has no sha256 pin to check it against")
            return str(fetch(reference, normalize_sha256(digest), cache_dir / "downloads",
                             allow_file=container.allow_file_urls))
        if reference.endswith(".sif") and Path(reference).is_file():
            if digest:
                found = sha256_file(reference)
                if found != normalize_sha256(digest):
                    raise HashMismatch(f"image {reference}", normalize_sha256(digest), found)
            return reference
        if not digest:
            raise ContainerFailed(f"the apptainer runner runs images pinned by digest; {container.config.source} "
                                  "has none", hint="use --runner docker or sandbox for a source-only container")
        from medperf_git.runners.docker import _split_reference

        repo = _split_reference(reference)
        sif = cache_dir / "sif" / f"{normalize_sha256(digest).split(':', 1)[1]}.sif"
        if not sif.is_file():
            sif.parent.mkdir(parents=True, exist_ok=True)
            tmp = sif.with_suffix(f".{os.getpid()}.tmp")
            sink.note(f"converting docker://{repo}@{normalize_sha256(digest)} to {sif}")
            proc = subprocess.run([self.exe, "build", str(tmp), f"docker://{repo}@{normalize_sha256(digest)}"],
                                  capture_output=True, text=True)
            if proc.returncode != 0 or not tmp.is_file():
                tmp.unlink(missing_ok=True)
                raise ContainerFailed(f"could not build a SIF from {repo}@{digest}: {proc.stderr.strip()[-1000:]}")
            os.replace(tmp, sif)
        return str(sif)

    def run(self, spec: TaskSpec, options: RunOptions) -> RunResult:
        from medperf_git.runners._python import default_venvs_dir

        container = spec.container
        cache_dir = options.cache_dir or default_venvs_dir().parent
        sink = spec.open_sink(options)
        try:
            image = self._image(spec, cache_dir, sink)
            # The CLI keeps its own settings (APPTAINER_CACHEDIR...); --cleanenv keeps them from the task,
            # and variables that would be injected into the container are dropped.
            env = {k: v for k, v in os.environ.items() if not k.startswith(("APPTAINERENV_", "SINGULARITYENV_"))}
            outcome = run_process(build_argv(self.exe, spec, image), env=env,
                                  cwd=spec.tmp_dir, timeout=options.timeout, sink=sink)
        finally:
            sink.close()
        ran = {"reference": image}
        if (container.image or {}).get("digest"):
            ran["digest"] = container.image["digest"]
        return RunResult(runner=self.name, isolation=self.isolation, runner_version=self.version(),
                         exit_code=outcome.exit_code, log_path=spec.log_path, duration=outcome.duration,
                         pins=dict(container.pins), config_hash=container.config.config_hash,
                         parameters_hash=container.parameters_hash, image=ran, timed_out=outcome.timed_out)
