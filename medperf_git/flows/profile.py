"""Profiles: create, activate, change and delete; every change is written atomically."""

from __future__ import annotations

import copy
from typing import Any

from medperf_git.errors import ConfigError, UsageError
from medperf_git.workspace.config import (
    RESERVED_PROFILES,
    TASKS,
    Profile,
    check_profile_name,
    normalize_remote,
)
from medperf_git.workspace.workspace import Workspace

SETTINGS = ("registry", "forge", "handle", "signing_key", "runner", "gpus", "python", "data_dir")


def _apply(profile: Profile, settings: dict[str, Any], timeouts: dict[str, int]) -> list[str]:
    from pathlib import Path

    changed = []
    for key, value in settings.items():
        if value is None:
            continue
        if key == "slurm":
            changed += _apply_slurm(profile, value)
            continue
        if key not in SETTINGS:
            raise UsageError(f"unknown setting '{key}'")
        if key == "registry":
            value = normalize_remote(value)
        elif key in ("signing_key", "data_dir", "python") and value != "":
            value = str(Path(value).expanduser().absolute()) if key != "python" or "/" in value else value
        if value == "":
            value = None
        setattr(profile, key, value)
        changed.append(key)
    for task, seconds in timeouts.items():
        if task not in TASKS:
            raise UsageError(f"unknown task '{task}' for a timeout; tasks are {', '.join(TASKS)}")
        profile.timeouts[task] = seconds
        changed.append(f"timeouts.{task}")
    profile.validate(f"profile '{profile.name}'")
    return changed


def _apply_slurm(profile: Profile, items: tuple[str, ...] | list[str]) -> list[str]:
    """``KEY=VALUE`` settings of the slurm runner, checked as the runner reads them; an empty value removes one."""
    import shlex
    from pathlib import Path

    from medperf_git.runners.slurm import SlurmSettings

    slurm = dict(profile.slurm)
    changed = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--slurm '{item}' is not KEY=VALUE")
        if value == "":
            slurm.pop(key, None)
        elif key == "cpus":
            slurm[key] = int(value) if value.isdigit() else value
        elif key == "sbatch_options":
            slurm[key] = shlex.split(value)
        elif key == "shared_paths":
            slurm[key] = [str(Path(p).expanduser().absolute()) for p in value.split(",") if p]
        else:
            slurm[key] = value
        changed.append(f"slurm.{key}")
    SlurmSettings.parse(slurm, f"profile '{profile.name}': slurm")
    profile.slurm = slurm
    return changed


def create(ws: Workspace, name: str, settings: dict[str, Any], timeouts: dict[str, int]) -> Profile:
    """A new profile: a copy of the active one (as MedPerf does), with the settings given.

    As MedPerf's copies leave the credentials behind, the copy signs in as nobody until `auth login`
    (or ``--handle`` and ``--signing-key``) says who.
    """
    check_profile_name(name)
    if name in ws.config.profiles:
        raise UsageError(f"profile '{name}' already exists", hint=f"change it with `medperf-git --profile {name} "
                         "profile set ...`")
    base = ws.profile
    profile = Profile(name=name, **copy.deepcopy(base.to_dict()))
    profile.trust = {}
    profile.handle = profile.signing_key = None
    _apply(profile, settings, timeouts)
    ws.config.profiles[name] = profile
    ws.config.save()
    return profile


def activate(ws: Workspace, name: str) -> Profile:
    profile = ws.config.get(name)
    ws.config.active = name
    ws.config.save()
    return profile


def set_settings(ws: Workspace, settings: dict[str, Any], timeouts: dict[str, int]) -> list[str]:
    changed = _apply(ws.profile, settings, timeouts)
    if not changed:
        raise UsageError("nothing to set", hint="see `medperf-git profile set --help`")
    ws.config.profiles[ws.profile.name] = ws.profile
    ws.config.save()
    return changed


def delete(ws: Workspace, name: str) -> None:
    ws.config.get(name)
    if name in RESERVED_PROFILES:
        raise UsageError(f"profile '{name}' is reserved and cannot be deleted")
    if name == ws.config.active:
        raise UsageError(f"profile '{name}' is active", hint="activate another profile first")
    del ws.config.profiles[name]
    ws.config.save()


def describe(profile: Profile) -> dict[str, Any]:
    """The profile as shown to users: everything but secrets."""
    data = {"name": profile.name, **profile.to_dict()}
    github = dict(data.get("github") or {})
    if "token" in github:
        github["token"] = "********"
        data["github"] = github
    return data


def require(ws: Workspace, *fields: str) -> None:
    for field_name in fields:
        if not getattr(ws.profile, field_name):
            raise ConfigError(f"profile '{ws.profile.name}' has no {field_name.replace('_', ' ')}",
                              hint=f"run `medperf-git profile set --{field_name.replace('_', '-')} ...`")


def trust_state(ws: Workspace) -> dict[str, Any]:
    """The profile's trust anchor: the pinned root commit, the admins' keys, the last verified main."""
    from medperf_git.policy.trust import trusted_main

    state = dict(ws.profile.trust or {})
    root = state.get("root_commit")
    state["verified_main"] = trusted_main(ws, root) if root else None
    return state


def reset_trust(s, root_commit: str | None = None) -> dict[str, Any]:
    """Forget what was verified (after a history rewrite the admins announced) and audit again from the
    root; ``root_commit``, learnt out of band, is pinned first. ``s`` is the command's registry session."""
    from medperf_git.policy import trust
    from medperf_git.registry.clone import known_root

    ws = s.ws
    root = known_root(ws)
    trust.reset(ws, root_commit.lower() if root_commit else None, (root,) if root else ())
    if ws.profile.registry and not ws.offline:
        s.fetch(force=True)  # re-audits from the root and pins at first use
    return trust_state(ws)
