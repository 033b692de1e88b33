"""The runner contract: what a runner gets, what it returns, and how one is chosen.

Four runners (docker, apptainer, sandbox, local) honour the same contract, so flows never care which
one ran: inputs read-only, outputs created beforehand, a private /tmp, the host uid:gid, no network,
``MP_VOL_<LABEL>`` and ``PYTHONUNBUFFERED=1`` in the environment, a wall-clock timeout, the output
streamed and kept per task, and a clear error with the log's last lines when a task fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from medperf_git.errors import ContainerFailed, RunnerUnavailable, UsageError
from medperf_git.runners.config import ContainerConfig

if TYPE_CHECKING:  # _spec imports this module
    from medperf_git.runners._spec import TaskSpec
    from medperf_git.runners.dockerfile import ImageConfig

ISOLATION = {"docker": "container", "apptainer": "container", "sandbox": "sandbox", "local": "none",
             "slurm": "sandbox"}  # slurm: as its task runner (sandbox by default, or apptainer)
AUTO_ORDER = ("docker", "apptainer", "sandbox")  # never local: it must be asked for by name
ALIASES = {"singularity": "apptainer"}


@dataclass
class ResolvedContainer:
    """Everything a runner needs, built from a registry record or a local config by ``resolve_container``."""

    config: ContainerConfig
    parameters: dict[str, Any] = field(default_factory=dict)
    source_dir: Path | None = None
    additional_files_dir: Path | None = None
    image: dict[str, str] | None = None  # {"reference", "digest"?, "image_id"?}
    pins: dict[str, Any] = field(default_factory=dict)  # result.schema.json $defs/container_run minus id
    source_key: str | None = None  # what identifies the source (archive sha256 or tree hash): names built images
    allow_file_urls: bool = False  # whether the registry allows file:// (for images fetched at run time, e.g. SIFs)
    image_config: ImageConfig | None = None  # the unpacked image's own settings, once the sandbox has it
    parameters_missing: str | None = None  # where a parameters file was looked for and not found
    private_archive: Path | None = None  # private weights: the verified ciphertext, opened per run (resolve.py)
    _dockerfile: ImageConfig | None = field(default=None, repr=False)

    def image_settings(self) -> ImageConfig | None:
        """The image's ENTRYPOINT, CMD, WORKDIR and ENV: its own config, else its Dockerfile's, else None."""
        if self.image_config is not None:
            return self.image_config
        dockerfile = self.source_dir / "Dockerfile" if self.source_dir else None
        if self._dockerfile is None and dockerfile is not None and dockerfile.is_file():
            from medperf_git.runners.dockerfile import parse_dockerfile

            self._dockerfile = parse_dockerfile(dockerfile)
        return self._dockerfile

    @property
    def parameters_hash(self) -> str:
        from medperf_git.hashing import canonical_json_hash

        return canonical_json_hash(self.parameters or {})


@dataclass
class RunOptions:
    logs_dir: Path
    work_dir: Path  # per-run scratch: tmp/ and the parameters file
    runner: str = "auto"
    gpus: str | None = None
    shm_size: str | None = None  # docker's --shm-size (e.g. 2g); wins over run_args.shm_size
    timeout: float | None = None
    python: str | None = None  # interpreter for sandbox and local, instead of a made virtual environment
    env: dict[str, str] = field(default_factory=dict)
    on_output: Callable[[str], None] | None = None
    cache_dir: Path | None = None  # where virtual environments and built images' markers are cached
    keep_tmp: bool = False
    slurm: dict[str, Any] = field(default_factory=dict)  # the profile's slurm settings (runners/slurm.py)


@dataclass
class RunResult:
    runner: str
    isolation: str  # "container" | "sandbox" | "none"
    runner_version: str
    exit_code: int
    log_path: Path
    duration: float
    pins: dict[str, Any]
    config_hash: str
    parameters_hash: str
    python: str | None = None
    packages: dict[str, str] = field(default_factory=dict)
    image: dict[str, str] | None = None  # the image that ran (docker/apptainer), with its image id
    timed_out: bool = False

    def provenance(self) -> dict[str, Any]:
        """The fields a result record's provenance takes from a run."""
        out: dict[str, Any] = {"runner": self.runner, "isolation": self.isolation,
                               "runner_version": self.runner_version}
        if self.python:
            out["python"] = self.python
        if self.packages:
            out["packages"] = dict(self.packages)
        return out


class Runner(Protocol):
    name: str
    isolation: str

    def available(self) -> str | None:
        """None when usable, else why not (shown to the user)."""

    def version(self) -> str: ...

    def run(self, spec: TaskSpec, options: RunOptions) -> RunResult: ...


def runner_class(name: str) -> type:
    name = ALIASES.get(name, name)
    if name == "docker":
        from medperf_git.runners.docker import DockerRunner as cls
    elif name == "apptainer":
        from medperf_git.runners.apptainer import ApptainerRunner as cls
    elif name == "sandbox":
        from medperf_git.runners.sandbox import SandboxRunner as cls
    elif name == "local":
        from medperf_git.runners.local import LocalRunner as cls
    elif name == "slurm":
        from medperf_git.runners.slurm import SlurmRunner as cls
    else:
        raise UsageError(f"unknown runner '{name}'; choose auto, docker, apptainer (or singularity), sandbox, local "
                         "or slurm")
    return cls


def select_runner(name: str = "auto") -> Runner:
    """The runner named, if it can run here; ``auto`` = docker, then apptainer, then sandbox (never local)."""
    if name == "auto":
        reasons = []
        for candidate in AUTO_ORDER:
            runner = runner_class(candidate)()
            why = runner.available()
            if why is None:
                return runner
            reasons.append(f"{candidate}: {why}")
        raise RunnerUnavailable("no isolating runner is available here (" + "; ".join(reasons) + ")",
                                hint="install podman, docker or bubblewrap, or ask for `--runner local` "
                                     "(which isolates nothing)")
    runner = runner_class(name)()
    why = runner.available()
    if why is not None:
        raise RunnerUnavailable(f"the {runner.name} runner cannot run here: {why}",
                                hint="choose another with --runner, or `--runner auto`")
    return runner


def unisolated_warning(task: str, runner: str) -> str:
    """Said at every task a runner without isolation runs, so no one forgets what ``local`` means."""
    return (f"the {runner} runner isolates nothing: task '{task}' runs as you, with your network and every file "
            "you can read (your keys too, by their paths); use it only for code you trust")


def run_task(container: ResolvedContainer, task: str, mounts: Mapping[str, str | Path],
             options: RunOptions) -> RunResult:
    """Run one task of a container; raise ContainerFailed (exit 5) with the log's tail when it fails."""
    from medperf_git.runners._spec import build_spec, check_outputs

    runner = select_runner(options.runner)
    spec = build_spec(container, task, mounts, options)
    if runner.isolation == "none":
        spec.warnings.append(unisolated_warning(task, runner.name))
    try:
        result = runner.run(spec, options)
        if result.timed_out:
            raise ContainerFailed(
                f"task '{task}' did not finish within its timeout of {options.timeout:g} s and was killed "
                f"({result.runner} runner); last lines of {result.log_path}:\n{spec.tail()}",
                hint="raise the timeout with --timeout, or in the profile's timeouts")
        if result.exit_code != 0:
            raise ContainerFailed(
                f"task '{task}' failed under the {result.runner} runner (exit code {result.exit_code}); "
                f"last lines of {result.log_path}:\n{spec.tail()}",
                hint=f"the whole log is in {result.log_path}")
        check_outputs(spec, result.log_path)
        return result
    finally:
        if not options.keep_tmp:
            shutil.rmtree(spec.tmp_dir, ignore_errors=True)

