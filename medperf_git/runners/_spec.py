"""What every runner shares: the task's mounts, environment and arguments, and the checks after a run.

Built once per run, so the four runners differ only in how they start the task, never in what the
task is given.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.errors import ContainerConfigInvalid, ContainerFailed, UsageError
from medperf_git.runners._process import LogSink
from medperf_git.runners.base import ResolvedContainer, RunOptions
from medperf_git.runners.config import TaskConfig

# Outputs MedPerf treats as optional: a task may leave them empty.
OPTIONAL_OUTPUTS = ("metadata_path", "report_file", "local_outputs_path")
# File outputs that MedPerf parses as YAML and refuses when empty.
YAML_OUTPUTS = {("statistics", "output_path"), ("evaluate", "output_path")}
PYTHON_NAMES = re.compile(r"^python(3(\.\d+)?)?$")


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
    sink: LogSink | None = None

    def open_sink(self, options: RunOptions) -> LogSink:
        self.sink = LogSink(self.log_path, options.on_output)
        return self.sink

    def tail(self, lines: int = 20) -> str:
        return self.sink.last_lines(lines) if self.sink else ""

    def path_of(self, mount: MountSpec, host_paths: bool) -> str:
        return str(mount.host) if host_paths else mount.target

    def environment(self, host_paths: bool = False) -> dict[str, str]:
        """run_args.environment, the caller's variables, ``MP_VOL_<LABEL>`` and ``PYTHONUNBUFFERED=1``."""
        env = dict(self.task.environment)
        env.update(self.extra_env)
        for mount in self.mounts:
            env[f"MP_VOL_{mount.label.upper()}"] = self.path_of(mount, host_paths)
        env["MP_TASK"] = self.task.name
        env["PYTHONUNBUFFERED"] = "1"
        env["HOME"] = str(self.tmp_dir) if host_paths else "/tmp"
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

    def source_argv(self, interpreter: str | None) -> list[str]:
        """Entrypoint plus command for runners that run the source, ``python`` mapped to ``interpreter``."""
        local = self.container.config.local_section()
        entry = self.task.entrypoint or local.entrypoint or []
        argv = [*entry, *(self.task.command or [])]
        if not argv:
            raise ContainerConfigInvalid(
                f"{self.container.config.source}: task '{self.task.name}' says nothing to run without the image",
                hint="add local.entrypoint (what the image's ENTRYPOINT runs) or tasks."
                     f"{self.task.name}.run_args.command")
        if interpreter and PYTHON_NAMES.match(argv[0]):
            argv[0] = interpreter
        return argv


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
    parameters_path = work_dir / "parameters.yaml"
    write_yaml(parameters_path, container.parameters or {})
    given: dict[str, Path] = {label: Path(p) for label, p in mounts.items()}
    given.setdefault("parameters_file", parameters_path)
    if "additional_files" not in given:
        extra = container.additional_files_dir or work_dir / "additional_files"
        extra.mkdir(parents=True, exist_ok=True)
        given["additional_files"] = extra
    specs = []
    for label, volume in task_config.volumes.items():
        if label not in given:
            kind = "output" if volume.output else "input"
            raise ContainerConfigInvalid(
                f"task '{task}' of {config.source} needs the {kind} volume '{label}' "
                f"({volume.type} at {volume.mount_path}), but it was not given",
                hint=f"give it with --mount {label}=PATH")
        host = given[label].expanduser().absolute()
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
                    shm_size=run_args.get("shm_size"), extra_env={k: str(v) for k, v in options.env.items()})


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
