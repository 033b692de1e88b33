"""The ``local`` runner: the container's source as a plain subprocess, isolating nothing.

For container authors and machines with nothing better, and only when asked for by name. Paths the
task would see in a container are host paths here: ``MP_VOL_*`` carry them, and argv tokens under a
``local.binds`` target (``/project/...``) are rewritten to the source folder. ``run_task`` warns at
every task. What it does hold back: the task's environment is built, not inherited (only PATH and LANG
come from the caller), with a fresh HOME, so no variable or home folder leads it to the user's keys;
but any file the user can read, it can read by its absolute path.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

from medperf_git.errors import ContainerConfigInvalid
from medperf_git.runners._python import default_venvs_dir, interpreter_for, run_source_task
from medperf_git.runners.base import ISOLATION, RunOptions, RunResult

if TYPE_CHECKING:
    from medperf_git.runners._spec import TaskSpec


def source_binds(spec: TaskSpec) -> dict[str, Path]:
    """``{target inside: host folder}`` for the source's ``local.binds``."""
    container = spec.container
    if container.source_dir is None:
        raise ContainerConfigInvalid(
            f"{container.config.source}: this runner runs the container's source, and none is known",
            hint="give a container with a source pin, or a local container_config.yaml beside its project")
    local = container.config.local_section()
    binds = {}
    for rel, target in local.binds.items():
        host = (container.source_dir / rel).resolve()
        if not host.is_relative_to(container.source_dir.resolve()) or not host.exists():
            raise ContainerConfigInvalid(f"{container.config.source}: local.binds.{rel}: no such folder in the source "
                                         f"({container.source_dir})")
        binds[target] = host
    return binds


def rewrite(token: str, binds: dict[str, Path]) -> str:
    for target, host in binds.items():
        if token == target or token.startswith(target + "/"):
            return str(host) + token[len(target):]
        if "=" in token:  # --flag=/project/x
            key, _, value = token.partition("=")
            if value == target or value.startswith(target + "/"):
                return f"{key}={host}{value[len(target):]}"
    return token


class LocalRunner:
    name = "local"
    isolation = ISOLATION["local"]

    def available(self) -> str | None:
        return None

    def version(self) -> str:
        return f"subprocess ({platform.system()} {platform.release()})"

    def run(self, spec: TaskSpec, options: RunOptions) -> RunResult:
        container = spec.container
        binds = source_binds(spec)
        local = container.config.local_section()
        interp = interpreter_for(container.source_dir, local.requirements, options.python,
                                 options.cache_dir / "venvs" if options.cache_dir else default_venvs_dir())
        argv = [rewrite(t, binds) for t in spec.source_argv(interp.executable)] + spec.path_args(host_paths=True)
        # Built, not inherited: no MEDPERF_GIT_HOME, SSH_AUTH_SOCK, GIT_* or HOME of the user's.
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
               "LANG": os.environ.get("LANG", "C.UTF-8")}
        env.update(spec.environment(host_paths=True, image_env=True))
        cuda = spec.cuda_visible_devices()
        if cuda is not None:
            env["CUDA_VISIBLE_DEVICES"] = cuda
        workdir = spec.workdir()
        cwd = rewrite(workdir, binds) if workdir else str(spec.tmp_dir)
        if not os.path.isdir(cwd):
            cwd = str(spec.tmp_dir)  # a WORKDIR outside the source has no place on the host
        return run_source_task(self, spec, options, argv, env=env, cwd=cwd, interp=interp)
