"""The ``sandbox`` runner: the container's source under bubblewrap, with the host's Python.

The task sees the same paths as in the image (``/project``, the declared mount paths), inputs are
read-only, there is no network, a private /tmp and pid namespace, and the caller's uid:gid. What it
lacks against a container is the image: software comes from the host and the source's virtual
environment, which the provenance records.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from medperf_git.runners._python import Interpreter, default_venvs_dir, interpreter_for, run_source_task
from medperf_git.runners._spec import refuse_key_exposure
from medperf_git.runners.base import ISOLATION, RunOptions, RunResult

if TYPE_CHECKING:
    from medperf_git.runners._spec import TaskSpec
from medperf_git.runners.local import source_binds

SYSTEM_RO = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
VENV_TARGET = "/opt/medperf-git/venv"
PATH = f"{VENV_TARGET}/bin:/usr/local/bin:/usr/bin:/bin"


@functools.cache
def _bwrap_check(bwrap: str) -> str | None:
    """bwrap exists but may be unable to make namespaces (containers, hardened kernels): try once."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", *_system_binds(), "--proc", "/proc", "--dev", "/dev",
            "true"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap does not run: {exc}"
    if proc.returncode != 0:
        return f"bwrap cannot create namespaces here: {proc.stderr.strip()[:300]}"
    return None


@functools.cache
def _bwrap_version(bwrap: str) -> str:
    proc = subprocess.run([bwrap, "--version"], capture_output=True, text=True)
    return proc.stdout.strip() or "bubblewrap"


def _system_binds() -> list[str]:
    out: list[str] = []
    for path in SYSTEM_RO:
        if os.path.islink(path):
            out += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            out += ["--ro-bind", path, path]
    return out


def gpu_args(spec: TaskSpec) -> list[str]:
    """Best effort: the NVIDIA device nodes, and CUDA_VISIBLE_DEVICES to select among them."""
    if spec.gpus is None:
        return ["--setenv", "CUDA_VISIBLE_DEVICES", ""]
    args: list[str] = []
    for node in sorted(glob.glob("/dev/nvidia*")):
        args += ["--dev-bind", node, node]
    cuda = spec.cuda_visible_devices()
    if cuda is not None:
        args += ["--setenv", "CUDA_VISIBLE_DEVICES", cuda]
    return args


def build_argv(bwrap: str, spec: TaskSpec, interp: Interpreter, venv: str | None) -> list[str]:
    """The whole bwrap command line for one task; pure, so tests can read it."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
            "--setenv", "PATH", PATH, "--setenv", "LANG", "C.UTF-8"]
    for key, value in spec.environment(host_paths=False).items():
        argv += ["--setenv", key, value]
    argv += _system_binds()
    argv += ["--proc", "/proc", "--dev", "/dev", "--bind", str(spec.tmp_dir), "/tmp"]
    # After the private /tmp, so that an interpreter or environment living under /tmp stays visible.
    prefixes = {interp.base_prefix} if venv else {interp.base_prefix, interp.prefix}
    for prefix in sorted(prefixes):
        if not any(prefix == p or prefix.startswith(p + "/") for p in SYSTEM_RO):
            argv += ["--ro-bind", prefix, prefix]
    if venv:
        argv += ["--ro-bind", venv, VENV_TARGET]
    argv += gpu_args(spec)
    for target, host in sorted(source_binds(spec).items()):
        argv += ["--ro-bind", str(host), target]
    for mount in spec.mounts:
        argv += ["--ro-bind" if mount.read_only else "--bind", str(mount.host), mount.target]
    local = spec.container.config.local_section()
    argv += ["--uid", str(os.getuid()), "--gid", str(os.getgid()), "--chdir", local.workdir or "/tmp"]
    python = f"{VENV_TARGET}/bin/python" if venv else interp.executable
    return argv + ["--", *spec.source_argv(python), *spec.path_args(host_paths=False)]


class SandboxRunner:
    name = "sandbox"
    isolation = ISOLATION["sandbox"]

    def __init__(self) -> None:
        self.bwrap = shutil.which("bwrap")

    def available(self) -> str | None:
        if not self.bwrap:
            return "bubblewrap (bwrap) is not installed"
        return _bwrap_check(self.bwrap)

    def version(self) -> str:
        return _bwrap_version(self.bwrap) if self.bwrap else "bubblewrap"

    def run(self, spec: TaskSpec, options: RunOptions) -> RunResult:
        container = spec.container
        source_binds(spec)  # fail early, before any environment is made, when there is no source
        local = container.config.local_section()
        interp = interpreter_for(container.source_dir, local.requirements, options.python,
                                 options.cache_dir / "venvs" if options.cache_dir else default_venvs_dir())
        venv = interp.prefix if interp.prefix != interp.base_prefix and not options.python else None
        refuse_key_exposure({"interpreter": Path(interp.prefix), "base interpreter": Path(interp.base_prefix)})
        argv = build_argv(self.bwrap, spec, interp, venv)
        return run_source_task(self, spec, options, argv, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                               cwd=spec.tmp_dir, interp=interp)
