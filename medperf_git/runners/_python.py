"""The interpreter the sandbox and local runners use, and what it has installed (for provenance).

A source's pinned ``requirements.txt`` gets a virtual environment made once and cached by that
file's hash, so a second run costs nothing and a changed pin gets a new environment. ``--python``
uses an existing interpreter as it is.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from medperf_git.errors import ContainerFailed, UsageError

if TYPE_CHECKING:
    from medperf_git.runners._spec import TaskSpec
    from medperf_git.runners.base import Runner, RunOptions, RunResult

_PROBE = ("import json, sys, importlib.metadata as m; print(json.dumps({'version': sys.version.split()[0], "
          "'prefix': sys.prefix, 'base_prefix': sys.base_prefix, "
          "'packages': {d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}}))")
_INFO = "interpreter.json"


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str
    prefix: str
    base_prefix: str
    packages: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


def _probe_now(executable: str) -> Interpreter:
    try:
        proc = subprocess.run([executable, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"cannot run the interpreter {executable}: {exc}") from exc
    if proc.returncode != 0:
        raise UsageError(f"the interpreter {executable} does not work: {proc.stderr.strip()[-500:]}")
    info = json.loads(proc.stdout)
    return Interpreter(executable, info["version"], info["prefix"], info["base_prefix"],
                       dict(sorted(info["packages"].items(), key=lambda kv: kv[0].lower())))


@functools.cache
def probe(executable: str) -> Interpreter:
    """Version, prefixes and packages of an interpreter, asked once per process."""
    return _probe_now(executable)


def find_interpreter(name: str) -> str:
    found = shutil.which(name) if os.sep not in name else (name if os.access(name, os.X_OK) else None)
    if not found:
        raise UsageError(f"--python {name}: no such interpreter", hint="give a path, or a name on PATH")
    return os.path.abspath(found)


def venv_key(requirements: Path) -> str:
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    return f"py{sys.version_info.major}{sys.version_info.minor}-{digest[:32]}"


def _load_ready(dest: Path) -> Interpreter | None:
    info = dest / _INFO
    if not info.is_file():
        return None
    data = json.loads(info.read_text(encoding="utf-8"))
    if not Path(data["executable"]).exists():
        return None
    return Interpreter(**data)


def ensure_venv(requirements: Path, venvs_dir: Path, base_python: str | None = None) -> Interpreter:
    """The virtual environment for these pinned requirements, made on first use (pip, from the index)."""
    from medperf_git.workspace.atomic import file_lock, staged_dir, write_text

    dest = venvs_dir / venv_key(requirements)
    ready = _load_ready(dest)
    if ready is not None:
        return ready
    with file_lock(venvs_dir / f".{dest.name}.lock"):
        ready = _load_ready(dest)
        if ready is not None:
            return ready
        python = base_python or sys.executable
        with staged_dir(dest) as tmp:
            steps = ([python, "-m", "venv", str(tmp)],
                     [str(tmp / "bin" / "python"), "-m", "pip", "install", "--no-input", "--quiet",
                      "--disable-pip-version-check", "-r", str(requirements)])
            for argv in steps:
                proc = subprocess.run(argv, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise ContainerFailed(
                        f"could not make the virtual environment for {requirements}:\n"
                        + (proc.stderr or proc.stdout).strip()[-2000:],
                        hint="check the pins in requirements.txt, or use --python with an interpreter that has them")
        # A venv's own python finds its prefix from where it is, so probing after the rename is exact.
        found = _probe_now(str(dest / "bin" / "python"))
        write_text(dest / _INFO, json.dumps(asdict(found), indent=1))
        return found


def interpreter_for(source_dir: Path, requirements: str | None, python: str | None,
                    venvs_dir: Path) -> Interpreter:
    """``--python`` if given; else the venv of the pinned requirements; else the host's interpreter."""
    if python:
        return probe(find_interpreter(python))
    if requirements:
        path = source_dir / requirements
        if not path.is_file():
            raise ContainerFailed(f"{path}: the requirements file named by local.requirements is missing")
        return ensure_venv(path, venvs_dir)
    return probe(sys.executable)


def default_venvs_dir() -> Path:
    from medperf_git.workspace.workspace import home_dir

    return home_dir() / "data" / "cache" / "venvs"


def run_source_task(runner: Runner, spec: TaskSpec, options: RunOptions, argv: Sequence[str], *,
                    env: Mapping[str, str], cwd: str | os.PathLike, interp: Interpreter) -> RunResult:
    """Run a source-based task (sandbox or local) into its log, and say what ran: one place for both."""
    from medperf_git.runners._process import run_process
    from medperf_git.runners.base import RunResult

    container = spec.container
    sink = spec.open_sink(options)
    try:
        outcome = run_process(argv, env=env, cwd=cwd, timeout=options.timeout, sink=sink)
    finally:
        sink.close()
    return RunResult(runner=runner.name, isolation=runner.isolation, runner_version=runner.version(),
                     exit_code=outcome.exit_code, log_path=spec.log_path, duration=outcome.duration,
                     pins=dict(container.pins), config_hash=container.config.config_hash,
                     parameters_hash=container.parameters_hash, python=interp.version,
                     packages=dict(interp.packages), timed_out=outcome.timed_out)
