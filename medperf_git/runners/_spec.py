"""What every runner shares: the task's mounts, environment and arguments, and the checks after a run.

Built once per run, so the four runners differ only in how they start the task, never in what the
task is given. What it is given never leads to the user's keys: no mount may hold a signing key or a
workspace's keys folder, HOME is a fresh folder in the task's scratch, and no variable of the caller's
that names a key, an agent or the workspace reaches it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.errors import ContainerConfigInvalid, ContainerFailed, MedperfGitError, UsageError
from medperf_git.runners._process import LogSink
from medperf_git.runners.base import ResolvedContainer, RunOptions
from medperf_git.runners.config import TaskConfig
from medperf_git.runners.dockerfile import ImageConfig

# Outputs MedPerf treats as optional: a task may leave them empty.
OPTIONAL_OUTPUTS = ("metadata_path", "report_file", "local_outputs_path")
# File outputs that MedPerf parses as YAML and refuses when empty.
YAML_OUTPUTS = {("statistics", "output_path"), ("evaluate", "output_path")}
PYTHON_NAMES = re.compile(r"^python(3(\.\d+)?)?$")
# The caller's variables that lead to keys, agents or the workspace; a task never gets them.
SECRET_VARIABLES = re.compile(r"^(MEDPERF_GIT_\w*|GIT_\w*|SSH_AUTH_SOCK|SSH_AGENT_PID|GNUPGHOME|GPG_AGENT_INFO)$")


@dataclass(frozen=True)
class MountSpec:
    label: str
    host: Path
    target: str  # where the task sees it in a container
    is_file: bool
    read_only: bool


@dataclass
class TaskSpec:
    container: ResolvedContainer
    task: TaskConfig
    mounts: list[MountSpec]
    work_dir: Path
    tmp_dir: Path
    parameters_path: Path
    log_path: Path
    gpus: str | int | list[str] | None
    shm_size: str | None
    extra_env: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # said at the head of the task's log and output
    sink: LogSink | None = None

    def open_sink(self, options: RunOptions) -> LogSink:
        self.sink = LogSink(self.log_path, options.on_output)
        for text in self.warnings:
            self.sink.warn(text)
        return self.sink

    def tail(self, lines: int = 20) -> str:
        return self.sink.last_lines(lines) if self.sink else ""

    def path_of(self, mount: MountSpec, host_paths: bool) -> str:
        return str(mount.host) if host_paths else mount.target

    def environment(self, host_paths: bool = False, image_env: bool = False) -> dict[str, str]:
        """The image's ENV (``image_env``, for runners without it; never its PATH or HOME), run_args.environment,
        the caller's variables, ``MP_VOL_<LABEL>`` and ``PYTHONUNBUFFERED=1``."""
        settings = self.image_settings() if image_env else None
        env = {k: v for k, v in (settings.env if settings else {}).items() if k not in ("PATH", "HOME")}
        env.update(self.task.environment)
        env.update({k: v for k, v in self.extra_env.items() if not SECRET_VARIABLES.match(k)})
        for mount in self.mounts:
            env[f"MP_VOL_{mount.label.upper()}"] = self.path_of(mount, host_paths)
        env["MP_TASK"] = self.task.name
        env["PYTHONUNBUFFERED"] = "1"
        env["HOME"] = str(self.tmp_dir / "home") if host_paths else "/tmp/home"
        if host_paths:
            env["TMPDIR"] = str(self.tmp_dir)
        return env

    def cuda_visible_devices(self) -> str | None:
        """The GPU selection as CUDA_VISIBLE_DEVICES, for runners without device requests (None = all)."""
        if self.gpus is None:
            return ""
        if self.gpus == "all":
            return None
        if isinstance(self.gpus, int):
            return ",".join(str(i) for i in range(self.gpus))
        return ",".join(self.gpus)

    def path_args(self, host_paths: bool = False) -> list[str]:
        """``--label=path`` per mount, for MLCube-style containers (``pass_paths_as_args``)."""
        if not self.container.config.pass_paths_as_args:
            return []
        return [f"--{m.label}={self.path_of(m, host_paths)}" for m in self.mounts]

    def image_settings(self) -> ImageConfig | None:
        """ENTRYPOINT, CMD, WORKDIR and ENV of the image a source-based runner stands in for."""
        return self.container.image_settings()

    def source_argv(self, interpreter: str | None) -> list[str]:
        """What docker would run, ``python`` mapped to ``interpreter``, for runners without the engine.

        run_args.entrypoint, else ``local.entrypoint``, else the Dockerfile's (or image's) ENTRYPOINT;
        then run_args.command, else the image's CMD, as Docker combines them.
        """
        local = self.container.config.local_section()
        entry = self.task.entrypoint if self.task.entrypoint is not None else local.entrypoint
        image = self.image_settings() if entry is None else None
        if image is not None:
            argv = image.argv(None, self.task.command)
        else:
            argv = [*(entry or []), *(self.task.command or [])]
        if not argv:
            source = self.container.config.source
            looked = f"; {image.source} names no ENTRYPOINT or CMD" if image else ""
            inherited = (f" (its base image {image.base} may have one, which only the image knows: run it "
                         "under docker, or pin an image archive)") if image and image.base else ""
            raise ContainerConfigInvalid(
                f"{source}: task '{self.task.name}' says nothing to run without the image{looked}{inherited}",
                hint="add local.entrypoint (what the image's ENTRYPOINT runs) or tasks."
                     f"{self.task.name}.run_args.command")
        if interpreter and PYTHON_NAMES.match(argv[0]):
            argv[0] = interpreter
        return argv

    def workdir(self) -> str | None:
        """``local.workdir``, else the image's WORKDIR; None = the task's /tmp."""
        local = self.container.config.local_section()
        if local.workdir:
            return local.workdir
        image = self.image_settings()
        return image.workdir if image else None


def normalize_gpus(value: Any) -> str | int | list[str] | None:
    """MedPerf's rule: nothing, 0 or "" is no GPU; "all"; N is a count; "device=0,1" is a list."""
    if value in (None, "", 0, "0", False):
        return None
    if isinstance(value, int) and value > 0:
        return value
    text = str(value).strip()
    if text == "all":
        return "all"
    if text.isdigit():
        return int(text)
    if text.startswith("device="):
        devices = [d.strip() for d in text[len("device="):].split(",") if d.strip()]
        if devices and all(re.fullmatch(r"[A-Za-z0-9-]+", d) for d in devices):
            return devices
    raise UsageError(f"--gpus must be all, a number or device=ID[,ID...], not '{value}'")


def key_paths() -> list[Path]:
    """What a task must never be given: each workspace's keys folder and every profile's signing key.

    Both the current ``$MEDPERF_GIT_HOME`` and the default ``~/.medperf_git`` count, since a temporary
    home (as in the tutorial) leaves the user's own keys where they were.
    """
    from medperf_git.workspace.config import Config
    from medperf_git.workspace.workspace import home_dir

    found: list[Path] = []
    for home in dict.fromkeys((home_dir(), Path.home() / ".medperf_git")):
        found.append(home / "keys")
        try:
            profiles = Config.load(home / "config.yaml").profiles.values()
        except MedperfGitError:
            continue  # a broken config names no key that can be read; its keys folder is still covered
        found += [Path(p.signing_key).expanduser() for p in profiles if p.signing_key]
    return [Path(os.path.realpath(p)) for p in found]


def refuse_key_exposure(given: Mapping[str, Path], keys: list[Path] | None = None) -> None:
    """Refuse, by label, a path for the task that is, holds, or lies in a signing key or keys folder."""
    keys = key_paths() if keys is None else keys
    for label, path in given.items():
        real = Path(os.path.realpath(path))
        for key in keys:
            if key == real or real in key.parents or key in real.parents:
                raise UsageError(
                    f"the task's {label} ({path}) would give it your signing keys ({key}); "
                    "a task is never given them",
                    hint=f"give the task a folder of its own that holds only what it needs, not {path}")


def _prepare_output(label: str, host: Path, is_file: bool) -> None:
    if is_file:
        if host.is_dir():
            raise UsageError(f"output '{label}' must be a file, but {host} is a folder")
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_bytes(b"")  # an empty file so a bind mounts a file, and "wrote nothing" shows
    else:
        if host.exists() and not host.is_dir():
            raise UsageError(f"output '{label}' must be a folder, but {host} is a file")
        host.mkdir(parents=True, exist_ok=True)


def build_spec(container: ResolvedContainer, task: str, mounts: Mapping[str, str | Path],
               options: RunOptions) -> TaskSpec:
    """Check the labels, create outputs and scratch, write the parameters file; no engine needed."""
    from medperf_git.workspace.atomic import write_yaml

    config = container.config
    task_config = config.task(task)
    work_dir = Path(options.work_dir).absolute()
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp_dir = work_dir / "tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(mode=0o700)
    (tmp_dir / "home").mkdir(mode=0o700)  # the task's HOME: nothing of the user's is in it
    parameters_path = work_dir / "parameters.yaml"
    write_yaml(parameters_path, container.parameters or {})
    given: dict[str, Path] = {label: Path(p) for label, p in mounts.items()}
    if "parameters_file" in task_config.volumes and "parameters_file" not in given and container.parameters_missing:
        raise ContainerConfigInvalid(
            f"task '{task}' of {config.source} mounts parameters_file, but no parameters file was found "
            f"(looked for {container.parameters_missing})",
            hint="give one with --parameters FILE, or put it at workspace/parameters.yaml beside the config, "
                 "as MedPerf's layout has it")
    given.setdefault("parameters_file", parameters_path)
    if "additional_files" not in given:
        extra = container.additional_files_dir or work_dir / "additional_files"
        extra.mkdir(parents=True, exist_ok=True)
        given["additional_files"] = extra
    keys = key_paths()
    if container.source_dir is not None:
        refuse_key_exposure({"source folder": container.source_dir}, keys)
    specs = []
    for label, volume in task_config.volumes.items():
        if label not in given:
            kind = "output" if volume.output else "input"
            raise ContainerConfigInvalid(
                f"task '{task}' of {config.source} needs the {kind} volume '{label}' "
                f"({volume.type} at {volume.mount_path}), but it was not given",
                hint=f"give it with --mount {label}=PATH")
        host = given[label].expanduser().absolute()
        refuse_key_exposure({label: host}, keys)  # before an output is created or emptied
        if volume.output:
            _prepare_output(label, host, volume.is_file)
        elif not host.exists():
            raise UsageError(f"input '{label}': {host} does not exist")
        elif volume.is_file != host.is_file():
            raise UsageError(f"input '{label}' must be a {volume.type}, but {host} is not")
        specs.append(MountSpec(label, host, volume.mount_path, volume.is_file, not volume.output))
    specs.sort(key=lambda m: m.target)  # parents before children when binding
    run_args = task_config.run_args
    gpus = normalize_gpus(options.gpus if options.gpus is not None else run_args.get("gpus"))
    logs_dir = Path(options.logs_dir).absolute()
    return TaskSpec(container=container, task=task_config, mounts=specs, work_dir=work_dir, tmp_dir=tmp_dir,
                    parameters_path=parameters_path, log_path=logs_dir / f"{task}.log", gpus=gpus,
                    shm_size=options.shm_size or run_args.get("shm_size"),
                    extra_env={k: str(v) for k, v in options.env.items()})


def check_outputs(spec: TaskSpec, log_path: Path) -> None:
    """A task that exits 0 but leaves a declared output missing or empty has failed."""
    import yaml

    for mount in spec.mounts:
        if mount.read_only or mount.label in OPTIONAL_OUTPUTS:
            continue
        if mount.is_file:
            empty = not mount.host.is_file() or mount.host.stat().st_size == 0
        else:
            empty = not mount.host.is_dir() or not any(mount.host.iterdir())
        if empty:
            raise ContainerFailed(
                f"task '{spec.task.name}' finished but wrote nothing to its output '{mount.label}' ({mount.host}); "
                f"last lines of {log_path}:\n{spec.tail()}")
        if mount.is_file and (spec.task.name, mount.label) in YAML_OUTPUTS:
            try:
                data = yaml.safe_load(mount.host.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise ContainerFailed(f"task '{spec.task.name}' wrote {mount.host}, which is not valid YAML: "
                                      f"{exc}") from exc
            if not isinstance(data, dict) or not data:
                raise ContainerFailed(f"task '{spec.task.name}' wrote {mount.host}, which is not a non-empty "
                                      "YAML mapping")
