"""MedPerf's ``container_config.yaml`` as is, the older ``mlcube.yaml`` converted, and our ``local:`` section.

The config is the contract between a flow and a container: which labels a task mounts, where, and
read-only or not. JSON Schema checks the shape; this module adds what a schema cannot say (unique
mount paths per task, a label used twice) and turns every problem into one sentence naming the
file, the field and the bad value.
"""

from __future__ import annotations

import os
import posixpath
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.errors import ContainerConfigInvalid

RUN_ARGS = ("command", "entrypoint", "environment", "gpus", "shm_size")
# Labels every task may declare without the flow giving them: the runner provides both.
IMPLICIT_LABELS = ("parameters_file", "additional_files")
_FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev", "/tmp")
MLCUBE_ROOT = "/mlcube_io"


@dataclass(frozen=True)
class Volume:
    label: str
    mount_path: str
    type: str  # "file" | "directory"
    output: bool

    @property
    def is_file(self) -> bool:
        return self.type == "file"


@dataclass(frozen=True)
class TaskConfig:
    name: str
    run_args: dict[str, Any]
    inputs: dict[str, Volume]
    outputs: dict[str, Volume]

    @property
    def volumes(self) -> dict[str, Volume]:
        return {**self.inputs, **self.outputs}

    @property
    def command(self) -> list[str] | None:
        return _argv(self.run_args.get("command"))

    @property
    def entrypoint(self) -> list[str] | None:
        return _argv(self.run_args.get("entrypoint"))

    @property
    def environment(self) -> dict[str, str]:
        env = self.run_args.get("environment") or {}
        return {str(k): _env_value(v) for k, v in env.items()}


@dataclass(frozen=True)
class LocalSection:
    """How the sandbox and local runners run the source without the image."""

    binds: dict[str, str] = field(default_factory=dict)  # source-relative folder -> path the task sees
    entrypoint: list[str] | None = None  # stands in for the image's ENTRYPOINT
    requirements: str | None = None  # a pinned requirements.txt inside the source
    workdir: str | None = None


@dataclass
class ContainerConfig:
    data: dict[str, Any]  # the validated mapping: what the config hash is computed over
    tasks: dict[str, TaskConfig]
    container_type: str = "DockerImage"
    image: str | None = None
    pass_paths_as_args: bool = False
    local: LocalSection | None = None
    path: Path | None = None  # the file it was read from, for messages
    source_dir: Path | None = None  # the folder holding the project and the Dockerfile, if known

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "container_config"

    def task(self, name: str) -> TaskConfig:
        if name not in self.tasks:
            raise ContainerConfigInvalid(
                f"{self.source}: the container has no task '{name}' (it has: {', '.join(sorted(self.tasks))})")
        return self.tasks[name]

    @property
    def config_hash(self) -> str:
        from medperf_git.hashing import canonical_json_hash

        return canonical_json_hash(self.data)

    def local_section(self) -> LocalSection:
        """The ``local:`` section, defaulting to MedPerf's ``COPY project /project`` convention."""
        if self.local is not None:
            if not self.local.binds and self.source_dir and (self.source_dir / "project").is_dir():
                return LocalSection({"project": "/project"}, self.local.entrypoint,
                                    self.local.requirements or _default_requirements(self.source_dir),
                                    self.local.workdir)
            return self.local
        binds = {"project": "/project"} if self.source_dir and (self.source_dir / "project").is_dir() else {}
        return LocalSection(binds, None, _default_requirements(self.source_dir) if self.source_dir else None)


def _default_requirements(source_dir: Path | None) -> str | None:
    if source_dir and (source_dir / "project" / "requirements.txt").is_file():
        return "project/requirements.txt"
    return None


def _argv(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fail(source: str, where: str, message: str) -> ContainerConfigInvalid:
    return ContainerConfigInvalid(f"{source}: {where}: {message}",
                                  hint="see the container_config format in the MedPerf documentation")


def check_mount_path(value: Any, source: str, where: str) -> str:
    """An absolute, normalised path, not ``/`` nor under /proc, /sys, /dev or /tmp."""
    if not isinstance(value, str) or not value:
        raise _fail(source, where, f"must be a path, not {value!r}")
    if not value.startswith("/"):
        raise _fail(source, where, f"'{value}' is relative; a mount_path must be absolute")
    if value == "/" or posixpath.normpath(value) == "/":
        raise _fail(source, where, "'/' cannot be a mount_path")
    if posixpath.normpath(value) != value or "//" in value:
        raise _fail(source, where, f"'{value}' is not normalised (no '.', '..', '//' or trailing '/')")
    for root in _FORBIDDEN_ROOTS:
        if value == root or value.startswith(root + "/"):
            raise _fail(source, where, f"'{value}' is under {root}, which the runner owns")
    if "\n" in value or "\x00" in value or ":" in value or "," in value:
        raise _fail(source, where, f"{value!r} contains a character a bind mount cannot carry (':', ',' or newline)")
    return value


def _check_semantics(data: dict[str, Any], source: str) -> None:
    """What the schema cannot express, checked first so the user sees the sharpest message."""
    tasks = data.get("tasks")
    if not isinstance(tasks, dict):
        return
    for name, task in tasks.items():
        if not isinstance(task, dict):
            continue
        run_args = task.get("run_args") or {}
        if isinstance(run_args, dict):
            unknown = sorted(set(run_args) - set(RUN_ARGS))
            if unknown:
                raise _fail(source, f"tasks.{name}.run_args",
                            f"unknown run argument(s) {', '.join(map(repr, unknown))}; "
                            f"only {', '.join(RUN_ARGS)} are allowed")
        seen_paths: dict[str, str] = {}
        seen_labels: set[str] = set()
        for kind in ("input_volumes", "output_volumes"):
            volumes = task.get(kind) or {}
            if not isinstance(volumes, dict):
                continue
            for label, volume in volumes.items():
                where = f"tasks.{name}.{kind}.{label}"
                if label in seen_labels:
                    raise _fail(source, where, f"label '{label}' is declared both as input and output")
                seen_labels.add(label)
                if not isinstance(volume, dict) or "mount_path" not in volume:
                    continue
                path = check_mount_path(volume["mount_path"], source, where + ".mount_path")
                if path in seen_paths:
                    raise _fail(source, where + ".mount_path",
                                f"'{path}' is also the mount_path of '{seen_paths[path]}'; mount paths must be unique")
                seen_paths[path] = label
    local = data.get("local")
    if isinstance(local, dict):
        for rel, target in (local.get("binds") or {}).items():
            check_mount_path(target, source, f"local.binds.{rel}")


def parse_config(data: Any, source: str = "container_config", *, path: Path | None = None,
                 source_dir: Path | None = None) -> ContainerConfig:
    """Validate a container_config mapping (MedPerf's, or an mlcube.yaml) and build the config."""
    from medperf_git.records.schemas import validate

    if not isinstance(data, dict):
        raise ContainerConfigInvalid(f"{source}: a container config must be a mapping, not {type(data).__name__}")
    if is_mlcube(data):
        data = convert_mlcube(data, source)
    _check_semantics(data, source)
    problems = validate("container_config", data)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise _fail(source, first.field, first.message + more)
    tasks = {}
    for name, task in data["tasks"].items():
        inputs = {label: Volume(label, v["mount_path"], v["type"], False)
                  for label, v in (task.get("input_volumes") or {}).items()}
        outputs = {label: Volume(label, v["mount_path"], v["type"], True)
                   for label, v in (task.get("output_volumes") or {}).items()}
        tasks[name] = TaskConfig(name, dict(task.get("run_args") or {}), inputs, outputs)
    local = None
    if "local" in data:
        raw = data["local"]
        local = LocalSection(dict(raw.get("binds") or {}), _argv(raw.get("entrypoint")),
                             raw.get("requirements"), raw.get("workdir"))
    return ContainerConfig(data=data, tasks=tasks, container_type=data.get("container_type", "DockerImage"),
                           image=data.get("image"), pass_paths_as_args=bool(data.get("pass_paths_as_args")),
                           local=local, path=path, source_dir=source_dir)


def load_config(path: str | os.PathLike, source_dir: str | os.PathLike | None = None) -> ContainerConfig:
    """Read a container_config.yaml or mlcube.yaml; its folder is the source unless told otherwise."""
    from medperf_git.errors import RecordInvalid
    from medperf_git.records.yamlio import load_yaml_file

    path = Path(path)
    if not path.is_file():
        raise ContainerConfigInvalid(f"{path}: no such file", hint="give the path of a container_config.yaml")
    try:
        data = load_yaml_file(path)
    except RecordInvalid as exc:
        raise ContainerConfigInvalid(exc.message) from exc
    folder = Path(source_dir) if source_dir else path.parent
    return parse_config(data, str(path), path=path, source_dir=folder.resolve())


# --- mlcube.yaml -------------------------------------------------------------------------------

def is_mlcube(data: dict[str, Any]) -> bool:
    tasks = data.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        return False
    mlcube_keys = {"docker", "singularity", "platform", "name", "authors", "description"}
    task_shape = all(isinstance(t, dict) and "parameters" in t for t in tasks.values())
    return task_shape or (bool(mlcube_keys & set(data)) and "image" not in data)


def _mlcube_volume(label: str, spec: Any, source: str, where: str) -> dict[str, str]:
    if isinstance(spec, str):
        default, kind = spec, None
    elif isinstance(spec, dict):
        default, kind = spec.get("default", label), spec.get("type")
    else:
        raise _fail(source, where, f"must be a path or a mapping, not {spec!r}")
    default = str(default)
    if kind is None:
        kind = "file" if posixpath.splitext(default.rstrip("/"))[1] and not default.endswith("/") else "directory"
    if kind not in ("file", "directory"):
        raise _fail(source, where + ".type", f"'{kind}' is not one of 'file', 'directory'")
    mount = f"{MLCUBE_ROOT}/{label}"
    if kind == "file":
        mount += "/" + (posixpath.basename(default.rstrip("/")) or label)
    return {"mount_path": mount, "type": kind}


def convert_mlcube(data: dict[str, Any], source: str = "mlcube.yaml") -> dict[str, Any]:
    """An mlcube.yaml as a container_config: each parameter a volume, paths passed as ``--label=path``."""
    docker = data.get("docker") or {}
    singularity = data.get("singularity") or {}
    out: dict[str, Any] = {}
    if docker.get("image"):
        out.update(container_type="DockerImage", image=str(docker["image"]))
    elif singularity.get("image"):
        out.update(container_type="SingularityFile", image=str(singularity["image"]))
    out["pass_paths_as_args"] = True
    tasks: dict[str, Any] = {}
    for name, task in (data.get("tasks") or {}).items():
        params = (task or {}).get("parameters") or {}
        converted: dict[str, Any] = {"run_args": {"command": [str(name)]}}
        for kind, key in (("inputs", "input_volumes"), ("outputs", "output_volumes")):
            volumes = {label: _mlcube_volume(label, spec, source, f"tasks.{name}.parameters.{kind}.{label}")
                       for label, spec in (params.get(kind) or {}).items()}
            if volumes:
                converted[key] = volumes
        tasks[str(name)] = converted
    out["tasks"] = tasks
    if isinstance(data.get("local"), dict):
        out["local"] = data["local"]  # our extension may sit beside an mlcube.yaml's own keys
    return out
