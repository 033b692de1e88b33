"""Profiles, stored in ``$MEDPERF_GIT_HOME/config.yaml``, and the machine's archive limits.

A profile says which registry to use and how this machine runs containers. Commands take the
active profile unless ``--profile NAME`` names another for one invocation. ``archive_limits`` sits
beside the profiles: it guards this machine's disk whichever registry an archive comes from.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.errors import ConfigError, UsageError

RUNNERS = ("auto", "docker", "apptainer", "singularity", "sandbox", "local", "slurm")
FORGES = ("git", "github")
TASKS = ("prepare", "sanity_check", "statistics", "infer", "evaluate")
DEFAULT_PROFILE = "default"
RESERVED_PROFILES = (DEFAULT_PROFILE,)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_URL = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")
_SIZE = re.compile(r"^\s*(\d+)\s*(?:([KMGT])(?:iB)?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass
class Profile:
    """One named set of settings. Unset values fall back to the defaults below."""

    name: str
    registry: str | None = None  # remote: an absolute path or a URL
    forge: str = "git"
    handle: str | None = None
    signing_key: str | None = None  # path to an SSH private key
    runner: str = "auto"
    gpus: str | None = None  # all | N | device=0,1
    python: str | None = None  # interpreter for the sandbox and local runners
    shm_size: str | None = None  # docker's --shm-size for every container (MedPerf's setting), e.g. 2g
    data_dir: str | None = None  # where prepared data, predictions and caches go
    timeouts: dict[str, int] = field(default_factory=dict)  # per task, seconds
    github: dict[str, Any] = field(default_factory=dict)  # repository, base_url, token_env
    trust: dict[str, Any] = field(default_factory=dict)  # pinned root commit and admin keys
    slurm: dict[str, Any] = field(default_factory=dict)  # partition, account, sbatch_options, cpus, mem, ...

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("name")
        return {k: v for k, v in data.items() if v not in (None, {}, [])}

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any], source: str = "config.yaml") -> Profile:
        known = {f.name for f in dataclasses.fields(cls)} - {"name"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{source}: profile '{name}' has unknown setting(s): {', '.join(unknown)}",
                hint="edit the file or run `medperf-git profile set`",
            )
        profile = cls(name=name, **data)
        profile.validate(source)
        return profile

    def validate(self, source: str = "profile") -> None:
        if self.runner not in RUNNERS:
            raise ConfigError(f"{source}: runner must be one of {', '.join(RUNNERS)}, not '{self.runner}'")
        if self.forge not in FORGES:
            raise ConfigError(f"{source}: forge must be one of {', '.join(FORGES)}, not '{self.forge}'")
        for task, seconds in self.timeouts.items():
            if task not in TASKS or not isinstance(seconds, int) or seconds <= 0:
                raise ConfigError(f"{source}: timeouts.{task} must be a positive number of seconds for a task")


def normalize_remote(remote: str) -> str:
    """Store a registry remote as a URL or an absolute path, whatever folder the user was in."""
    if _URL.match(remote):
        return remote
    return str(Path(remote).expanduser().resolve())


def check_profile_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"invalid profile name '{name}': use letters, digits, '.', '_' or '-'")
    return name


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps on what extracting one archive may write: a bomb is refused before it fills the disk.

    Defaults fit real MedPerf containers: model weights of several GiB, sources of a few thousand files,
    weights that barely compress. Zero-filled files may compress far better; the ratio cap only applies once
    an archive has written ``RATIO_FLOOR`` bytes, so small archives of zeros are fine.
    """

    max_bytes: int = 32 << 30  # total bytes written
    max_files: int = 100_000  # files and folders created
    max_ratio: int = 100  # bytes written / bytes of the archive

    RATIO_FLOOR = 64 << 20
    ENV = {"max_bytes": "MEDPERF_GIT_MAX_EXTRACT_BYTES", "max_files": "MEDPERF_GIT_MAX_EXTRACT_FILES",
           "max_ratio": "MEDPERF_GIT_MAX_EXTRACT_RATIO"}

    @classmethod
    def parse(cls, data: Any, source: str) -> dict[str, int]:
        """The settings an ``archive_limits`` mapping gives, checked; unknown keys are refused."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: archive_limits must be a mapping of {', '.join(cls.ENV)}")
        unknown = sorted(set(data) - set(cls.ENV))
        if unknown:
            raise ConfigError(f"{source}: archive_limits has unknown setting(s): {', '.join(map(str, unknown))}",
                              hint=f"use {', '.join(cls.ENV)}")
        return {key: parse_limit(value, f"{source}: archive_limits.{key}", size=key == "max_bytes")
                for key, value in data.items()}

    @classmethod
    def current(cls, config_path: Path | None = None) -> ArchiveLimits:
        """The caps in force: each ``MEDPERF_GIT_MAX_EXTRACT_*`` variable, else config.yaml, else the default."""
        from medperf_git.workspace.workspace import home_dir

        path = config_path or home_dir() / "config.yaml"
        values = dict(Config.load(path).archive_limits)
        for key, var in cls.ENV.items():
            if os.environ.get(var, "").strip():
                values[key] = parse_limit(os.environ[var], var, size=key == "max_bytes")
        return cls(**values)


def parse_limit(value: Any, source: str, size: bool = False) -> int:
    """A positive whole number; a size may also say ``500MiB``, ``64G`` or ``1TiB`` (powers of 1024)."""
    match = None if isinstance(value, bool) else _SIZE.match(str(value))
    unit = match.group(2) if match else None
    number = int(match.group(1)) * _UNITS[unit.upper() if unit else ""] if match and (size or not unit) else 0
    if number <= 0:
        what = "a positive number of bytes (e.g. 34359738368 or 32GiB)" if size else "a positive whole number"
        raise ConfigError(f"{source}: must be {what}, not {value!r}")
    return number


class Config:
    """The parsed ``config.yaml``: the active profile's name and every profile."""

    def __init__(self, path: Path, active: str, profiles: dict[str, Profile],
                 archive_limits: dict[str, int] | None = None):
        self.path = path
        self.active = active
        self.profiles = profiles
        self.archive_limits = archive_limits or {}  # only what the file sets; ArchiveLimits has the defaults

    @classmethod
    def load(cls, path: Path) -> Config:
        if not path.exists():
            return cls(path, DEFAULT_PROFILE, {DEFAULT_PROFILE: Profile(DEFAULT_PROFILE)})
        from medperf_git.records.yamlio import YamlError, load_yaml_file

        try:
            data = load_yaml_file(path) or {}
        except YamlError as exc:
            raise ConfigError(str(exc), hint=f"fix or remove {path}") from None
        if not isinstance(data, dict) or not isinstance(data.get("profiles", {}), dict):
            raise ConfigError(f"{path}: expected a mapping with 'active_profile' and 'profiles'")
        profiles = {}
        for name, settings in (data.get("profiles") or {}).items():
            if not isinstance(settings, dict):
                raise ConfigError(f"{path}: profile '{name}' must be a mapping")
            profiles[str(name)] = Profile.from_dict(str(name), settings, source=str(path))
        profiles.setdefault(DEFAULT_PROFILE, Profile(DEFAULT_PROFILE))
        active = str(data.get("active_profile") or DEFAULT_PROFILE)
        if active not in profiles:
            raise ConfigError(f"{path}: the active profile '{active}' does not exist",
                              hint="run `medperf-git profile activate NAME`")
        given = data.get("archive_limits")
        limits = ArchiveLimits.parse(given, str(path)) if given is not None else {}
        return cls(path, active, profiles, limits)

    def save(self) -> None:
        from medperf_git.workspace.atomic import write_yaml

        data: dict[str, Any] = {
            "active_profile": self.active,
            "profiles": {name: p.to_dict() for name, p in sorted(self.profiles.items())},
        }
        if self.archive_limits:
            data["archive_limits"] = dict(self.archive_limits)
        write_yaml(self.path, data)
        os.chmod(self.path, 0o600)

    def get(self, name: str | None = None) -> Profile:
        name = name or self.active
        try:
            return self.profiles[name]
        except KeyError:
            raise ConfigError(f"no profile named '{name}'",
                              hint="see `medperf-git profile ls`, or create it with "
                                   f"`medperf-git profile create {name}`") from None
