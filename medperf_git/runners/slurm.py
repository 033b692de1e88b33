"""The ``slurm`` runner: each task is a batch job on a Slurm cluster, run there under bubblewrap or Apptainer.

The sandbox (or apptainer) runner builds the task's command line exactly as it does on one machine;
only where it runs changes: ``run_process`` hands it to this module's launcher (``_process.LAUNCHER``),
which submits it with ``sbatch`` and polls ``scontrol`` until the job ends. So inputs stay read-only,
outputs are made beforehand, the network is unshared and the host uid:gid is kept, by the same code.

What the job asks for: the task's timeout as ``--time`` (with a minute's grace, since our own
wall-clock timeout cancels it to the second), ``--gres=gpu:N`` for GPUs, and the profile's CPUs,
memory, partition, account and extra ``sbatch`` options. The job's output file, on the shared
filesystem, is streamed into the task's log while it runs. Ctrl-C cancels the job (``scancel``); a
job the cluster ends by itself (node failure, preemption, out of memory) is a failed task that
says Slurm's state and reason.

The nodes must see the data, the workspace and the caches at the same paths. Either the profile
lists the shared filesystems (``slurm.shared_paths``) and every path is checked against them, or,
once per filesystem and command, a probe job reads a marker file written here and stats every path
a task is given.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medperf_git.errors import ConfigError, RunnerUnavailable
from medperf_git.runners._process import LAUNCHER, LogSink
from medperf_git.runners._slurm_job import (
    Job as Job,
    job_script as job_script,
    job_state as job_state,
    sbatch_argv as sbatch_argv,
    slurm_answers as slurm_answers,
    version as version,
)
from medperf_git.runners.base import ISOLATION, RunOptions, RunResult

TASK_RUNNERS = ("sandbox", "apptainer")
SETTINGS = ("partition", "account", "sbatch_options", "cpus", "mem", "task_runner", "shared_paths")


@dataclass(frozen=True)
class SlurmSettings:
    """The profile's ``slurm:`` mapping, checked: what every job asks for, and how tasks run on the node."""

    partition: str | None = None
    account: str | None = None
    sbatch_options: tuple[str, ...] = ()
    cpus: int | None = None
    mem: str | None = None
    task_runner: str = "sandbox"
    shared_paths: tuple[str, ...] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None, source: str = "the profile's slurm settings") -> SlurmSettings:
        data = dict(data or {})
        unknown = sorted(set(data) - set(SETTINGS))
        if unknown:
            raise ConfigError(f"{source}: unknown setting(s) {', '.join(map(str, unknown))}",
                              hint=f"slurm settings are {', '.join(SETTINGS)}")
        for key in ("sbatch_options", "shared_paths"):
            value = data.get(key, [])
            if isinstance(value, str):
                value = shlex.split(value) if key == "sbatch_options" else [value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{source}: {key} must be a list of strings")
            data[key] = tuple(value)
        if data.get("task_runner", "sandbox") not in TASK_RUNNERS:
            raise ConfigError(f"{source}: task_runner must be {' or '.join(TASK_RUNNERS)}, "
                              f"not '{data['task_runner']}'")
        cpus = data.get("cpus")
        if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, int) or cpus <= 0):
            raise ConfigError(f"{source}: cpus must be a positive whole number, not {cpus!r}")
        if data.get("mem") is not None and not re.fullmatch(r"\d+[KMGT]?", str(data["mem"])):
            raise ConfigError(f"{source}: mem must be Slurm's --mem, e.g. 8G or 16000 (MB), not {data['mem']!r}")
        for key in ("partition", "account"):
            if data.get(key) is not None and not re.fullmatch(r"[\w.,-]+", str(data[key])):
                raise ConfigError(f"{source}: {key} {data[key]!r} is not a Slurm {key} name")
        return cls(**{k: (str(v) if k in ("mem", "partition", "account") and v is not None else v)
                      for k, v in data.items()})


# -- the shared filesystem --------------------------------------------------------------------------------------

_verified: set[str] = set()
_verify_lock = threading.Lock()


def mount_point(path: Path) -> str:
    path = Path(os.path.realpath(path))
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return str(path)


def check_shared(paths: Mapping[str, Path], settings: SlurmSettings, work_dir: Path) -> None:
    """Every path a task is given must be on a filesystem the nodes share, at the same path; else say which."""
    if settings.shared_paths:
        roots = [Path(os.path.realpath(p)) for p in settings.shared_paths]
        for label, path in paths.items():
            real = Path(os.path.realpath(path))
            if not any(real == r or r in real.parents for r in roots):
                raise RunnerUnavailable(
                    f"the task's {label} ({path}) is not under the profile's slurm.shared_paths "
                    f"({', '.join(settings.shared_paths)}), so the cluster's nodes may not see it",
                    hint="move it to a shared filesystem (MEDPERF_GIT_HOME and the profile's data_dir too), or add "
                         "its filesystem to slurm.shared_paths")
        return
    with _verify_lock:
        todo = {label: path for label, path in paths.items() if mount_point(path) not in _verified}
        if not todo:
            return
        _probe(todo, settings, work_dir)
        _verified.update(mount_point(p) for p in todo.values())


def _probe(paths: Mapping[str, Path], settings: SlurmSettings, work_dir: Path) -> None:
    """A short job that reads a marker written here and stats each path: what it cannot see, the nodes do not share."""
    token = secrets.token_hex(8)
    probe_dir = work_dir / f"probe-{token}"
    probe_dir.mkdir(parents=True)
    (probe_dir / "marker").write_text(token, encoding="utf-8")
    lines = [f'[ "$(cat {shlex.quote(str(probe_dir / "marker"))} 2>/dev/null)" = {token} ] || echo "unseen marker"']
    for label, path in paths.items():
        lines.append(f"[ -e {shlex.quote(str(path))} ] || echo {shlex.quote(f'unseen {label} ({path})')}")
    lines.append(f"echo {token} > {shlex.quote(str(probe_dir / 'answer'))}")
    script = probe_dir / "probe.sh"
    script.write_text("#!/bin/sh\n" + "\n".join(lines) + "\n", encoding="utf-8")
    sink = LogSink(probe_dir / "probe.log")
    job = Job(replace(settings, cpus=1, mem=None), probe_dir, "probe", None)
    try:
        outcome = job.launch(["/bin/sh", str(script)], env={"PATH": "/usr/bin:/bin"}, cwd=probe_dir, timeout=300,
                             sink=sink)
    finally:
        sink.close()
    unseen = [line[len("unseen "):] for line in sink.tail if line.startswith("unseen ")]
    answered = (probe_dir / "answer").is_file() and (probe_dir / "answer").read_text().strip() == token
    shutil.rmtree(probe_dir, ignore_errors=True)
    if outcome.timed_out:
        raise RunnerUnavailable("the probe job that checks the shared filesystem did not run within 5 minutes",
                                hint="is the partition busy? set slurm.shared_paths in the profile to skip the probe")
    if unseen or not answered:
        what = (f"a node does not see the task's {'; '.join(unseen)}" if unseen else
                f"the probe job's answer, written to {probe_dir}, never reached this machine")
        raise RunnerUnavailable(
            f"the cluster's nodes do not share this machine's files: {what}",
            hint="the data, the workspace (MEDPERF_GIT_HOME, the profile's data_dir) and the caches must be on a "
                 "filesystem every node mounts at the same path")


# -- the runner -------------------------------------------------------------------------------------------------

def _task_paths(spec: Any, options: RunOptions) -> dict[str, Path]:
    """What the node must see: the mounts, scratch, logs, caches and source (made later: their nearest parent)."""
    paths = {m.label: m.host for m in spec.mounts}
    paths["scratch folder"] = spec.work_dir
    paths["log folder"] = spec.log_path.parent
    if options.cache_dir is not None:
        paths["cache"] = Path(options.cache_dir)
    if spec.container.source_dir is not None:
        paths["source folder"] = spec.container.source_dir
    return {label: _existing(Path(path).absolute()) for label, path in paths.items()}


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


@dataclass
class SlurmRunner:
    name: str = "slurm"
    isolation: str = ISOLATION["slurm"]
    _inner: dict[str, Any] = field(default_factory=dict, repr=False)

    def available(self) -> str | None:
        return slurm_answers()

    def version(self) -> str:
        return version() or "slurm"

    def task_runner(self, name: str):
        if name not in self._inner:
            from medperf_git.runners.base import runner_class

            self._inner[name] = runner_class(name)()
        return self._inner[name]

    def run(self, spec: Any, options: RunOptions) -> RunResult:
        settings = SlurmSettings.parse(options.slurm)
        inner = self.task_runner(settings.task_runner)
        # The command line is built here, with this machine's paths to the tool: the nodes must have it there too.
        if not (getattr(inner, "bwrap", None) or getattr(inner, "exe", None)):
            raise RunnerUnavailable(f"the slurm runner's task runner, {settings.task_runner}, is not installed on this "
                                    f"machine ({inner.available()})",
                                    hint="install it here and on the nodes, at the same path, or set "
                                         "slurm.task_runner to the other (sandbox or apptainer)")
        check_shared(_task_paths(spec, options), settings, spec.work_dir)
        job = Job(settings, spec.work_dir, spec.task.name, spec.gpus)
        token = LAUNCHER.set(job.launch)
        try:
            result = inner.run(spec, options)
        finally:
            LAUNCHER.reset(token)
        # The provenance names what isolated the task (bubblewrap or apptainer on the node); Slurm only placed it.
        # The job's id is in the task's log, not here: the same task run again has the same provenance.
        result.runner_version = f"{result.runner_version}; {self.version()}"
        return result
