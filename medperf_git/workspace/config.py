"""Profiles, stored in ``$MEDPERF_GIT_HOME/config.yaml``.

A profile says which registry to use and how this machine runs containers. Commands take the
active profile unless ``--profile NAME`` names another for one invocation.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.errors import ConfigError, UsageError

RUNNERS = ("auto", "docker", "apptainer", "singularity", "sandbox", "local")
FORGES = ("git", "github")
TASKS = ("prepare", "sanity_check", "statistics", "infer", "evaluate")
DEFAULT_PROFILE = "default"
RESERVED_PROFILES = (DEFAULT_PROFILE,)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_URL = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")


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
    data_dir: str | None = None  # where prepared data, predictions and caches go
    timeouts: dict[str, int] = field(default_factory=dict)  # per task, seconds
    github: dict[str, Any] = field(default_factory=dict)  # repository, base_url, token_env
    trust: dict[str, Any] = field(default_factory=dict)  # pinned root commit and admin keys

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


class Config:
    """The parsed ``config.yaml``: the active profile's name and every profile."""

    def __init__(self, path: Path, active: str, profiles: dict[str, Profile]):
        self.path = path
        self.active = active
        self.profiles = profiles

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
        return cls(path, active, profiles)

    def save(self) -> None:
        from medperf_git.workspace.atomic import write_yaml

        write_yaml(self.path, {
            "active_profile": self.active,
            "profiles": {name: p.to_dict() for name, p in sorted(self.profiles.items())},
        })
        os.chmod(self.path, 0o600)

    def get(self, name: str | None = None) -> Profile:
        name = name or self.active
        try:
            return self.profiles[name]
        except KeyError:
            raise ConfigError(f"no profile named '{name}'",
                              hint="see `medperf-git profile ls`, or create it with "
                                   f"`medperf-git profile create {name}`") from None
