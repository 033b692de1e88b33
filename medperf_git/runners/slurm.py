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

import functools
import math
import os
import re
import secrets
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medperf_git.errors import ConfigError, ContainerFailed, RunnerUnavailable
from medperf_git.runners._process import INTERRUPT, LAUNCHER, LogSink, ProcessOutcome
from medperf_git.runners.base import ISOLATION, RunOptions, RunResult

TASK_RUNNERS = ("sandbox", "apptainer")
SETTINGS = ("partition", "account", "sbatch_options", "cpus", "mem", "task_runner", "shared_paths")
ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING",
          "STAGE_OUT", "RESV_DEL_HOLD", "REQUEUE_HOLD", "REQUEUE_FED", "STOPPED")
# Seconds between looks at a job, by how long it has run: a short task is noticed ending within a tenth of a second,
# and a long one costs the controller one question every few seconds.
POLL = ((5, 0.1), (30, 0.25), (300, 2.0), (math.inf, 5.0))


def poll_delay(elapsed: float) -> float:
    return next(delay for until, delay in POLL if elapsed < until)
SCONTROL_TIMEOUT = 30


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


def _client_env() -> dict[str, str]:
    """sbatch, scontrol and scancel find the cluster through SLURM_CONF (or DNS), as the user's shell does."""
    return dict(os.environ)


def _slurm(*argv: str, timeout: float = SCONTROL_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, env=_client_env(), timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(list(argv), 255, "", f"{argv[0]}: {exc}")


@functools.cache
def _version() -> str | None:
    proc = _slurm("sbatch", "--version", timeout=10)
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def slurm_answers() -> str | None:
    """None when sbatch is installed and the controller answers, else why not."""
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return "Slurm's clients (sbatch, scontrol) are not installed"
    proc = _slurm("scontrol", "ping", timeout=15)
    text = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or "UP" not in proc.stdout:
        first = next((line for line in text.splitlines() if line.strip()), "no answer")
        found = os.environ.get("SLURM_CONF") or next(
            (p for p in ("/etc/slurm/slurm.conf", "/etc/slurm-llnl/slurm.conf") if os.path.isfile(p)), None)
        where = f"; {found} names it" if found else "; no slurm.conf here (set SLURM_CONF, or ask the cluster's admins)"
        return f"the Slurm controller does not answer (scontrol ping: {first[:200]}){where}"
    return None


@dataclass
class JobState:
    state: str
    reason: str = ""
    exit_code: int = 0
    known: bool = True

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def job_state(job: str) -> JobState:
    """The job's state, reason and exit code: scontrol while the controller remembers it, else sacct."""
    proc = _slurm("scontrol", "show", "job", "-o", job)
    if proc.returncode == 0 and "JobState=" in proc.stdout:
        fields = dict(re.findall(r"(\w+)=(\S*)", proc.stdout))
        return JobState(fields.get("JobState", "UNKNOWN"), fields.get("Reason", ""),
                        _exit_code(fields.get("ExitCode", "0:0")))
    acct = _slurm("sacct", "-n", "-P", "-X", "-j", job, "-o", "State,ExitCode,Reason")
    line = acct.stdout.strip().splitlines()[0] if acct.returncode == 0 and acct.stdout.strip() else ""
    if line.count("|") >= 2:
        state, code, reason = line.split("|", 2)
        return JobState(state.split()[0] if state else "UNKNOWN", reason, _exit_code(code))
    return JobState("UNKNOWN", (proc.stderr or acct.stderr).strip()[:200], known=False)


def _exit_code(text: str) -> int:
    """Slurm's ``code:signal``: the signal, if any, as a shell reports it (128 + signal)."""
    code, _, signal = text.partition(":")
    if signal.isdigit() and int(signal):
        return 128 + int(signal)
    return int(code) if code.isdigit() else 1


class _Tail:
    """Follows the job's output file (on the shared filesystem) into the task's log."""

    def __init__(self, path: Path, sink: LogSink):
        self.path, self.sink, self.offset = path, sink, 0

    def pump(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        if chunk:
            self.offset += len(chunk)
            self.sink.feed(chunk)


def sbatch_argv(settings: SlurmSettings, *, name: str, output: Path, cwd: str | os.PathLike | None,
                timeout: float | None, gpus: Any, script: Path) -> list[str]:
    """The submission's command line; pure, so tests can read it."""
    argv = ["sbatch", "--parsable", f"--job-name={name}", f"--output={output}", "--no-requeue",
            "--export=ALL", "--ntasks=1"]
    if cwd is not None:
        argv.append(f"--chdir={cwd}")
    if timeout:
        argv.append(f"--time={math.ceil(timeout / 60) + 1}")  # our own deadline cancels it first, to the second
    if settings.cpus:
        argv.append(f"--cpus-per-task={settings.cpus}")
    if settings.mem:
        argv.append(f"--mem={settings.mem}")
    if gpus is not None:
        count = len(gpus) if isinstance(gpus, list) else (gpus if isinstance(gpus, int) else 1)
        argv.append(f"--gres=gpu:{count}")
    if settings.partition:
        argv.append(f"--partition={settings.partition}")
    if settings.account:
        argv.append(f"--account={settings.account}")
    return argv + list(settings.sbatch_options) + [str(script)]


GPU_SCRIPT = '''gpu=""
for node in /dev/nvidia*; do [ -e "$node" ] && gpu="$gpu --dev-bind $node $node"; done
'''


def job_script(argv: Sequence[str], gpus: bool) -> str:
    """A POSIX sh script that runs the task's command line on the node; GPUs are the node's, as Slurm gave them."""
    command = [shlex.quote(a) for a in argv]
    if gpus and os.path.basename(argv[0]) == "bwrap":
        # The node's device nodes and Slurm's CUDA_VISIBLE_DEVICES, not the submitting machine's.
        return ("#!/bin/sh\n" + GPU_SCRIPT + f"exec {command[0]} $gpu --setenv CUDA_VISIBLE_DEVICES "
                f"\"${{CUDA_VISIBLE_DEVICES:-}}\" {' '.join(command[1:])}\n")
    return "#!/bin/sh\nexec " + " ".join(command) + "\n"


def _without_host_gpus(argv: list[str]) -> list[str]:
    """Drop the submitting machine's /dev/nvidia* binds: the node's own are bound by the job script."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--dev-bind" and i + 2 < len(argv) and argv[i + 1].startswith("/dev/nvidia"):
            i += 3
            continue
        out.append(argv[i])
        i += 1
    return out


class Job:
    """One task as a batch job: submitted, followed, cancelled on Ctrl-C or at the deadline."""

    def __init__(self, settings: SlurmSettings, work_dir: Path, task: str, gpus: Any):
        self.settings, self.work_dir, self.task, self.gpus = settings, work_dir, task, gpus
        self.id: str | None = None

    def launch(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str | os.PathLike | None,
               timeout: float | None, sink: LogSink) -> ProcessOutcome:
        argv = list(argv)
        if self.gpus is not None:
            argv = _without_host_gpus(argv)
        script = self.work_dir / "job.sh"
        script.write_text(job_script(argv, self.gpus is not None), encoding="utf-8")
        output = self.work_dir / "job.out"
        submit = sbatch_argv(self.settings, name=f"medperf-git-{self.task}", output=output, cwd=cwd,
                             timeout=timeout, gpus=self.gpus, script=script)
        start = time.monotonic()
        # The job's environment is the one the task runner would give its process, plus Slurm's own settings.
        job_env = {**{k: v for k, v in os.environ.items() if k.startswith(("SLURM_", "SBATCH_"))}, **env}
        try:
            proc = subprocess.run(submit, capture_output=True, text=True, env=job_env, timeout=SCONTROL_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ContainerFailed(f"could not submit task '{self.task}' to Slurm: {exc}") from exc
        if proc.returncode != 0 or not proc.stdout.strip():
            raise ContainerFailed(f"Slurm refused task '{self.task}': {(proc.stderr or proc.stdout).strip()[-500:]}",
                                  hint="check the profile's slurm settings (partition, account, cpus, mem, "
                                       "sbatch_options)")
        self.id = proc.stdout.strip().split(";")[0]
        sink.note(f"Slurm job {self.id} submitted ({' '.join(submit[1:-1])})")
        return self._follow(sink, output, start, timeout)

    def _follow(self, sink: LogSink, output: Path, start: float, timeout: float | None) -> ProcessOutcome:
        tail = _Tail(output, sink)
        timed_out, cancelled_at = False, None
        try:
            while True:
                if INTERRUPT.is_set():
                    raise KeyboardInterrupt
                tail.pump()
                state = job_state(self.id)
                if not state.active:
                    break
                now = time.monotonic()
                if timeout and not timed_out and now - start > timeout:
                    timed_out, cancelled_at = True, now
                    sink.note(f"wall-clock timeout of {timeout:g} s reached; cancelling Slurm job {self.id}")
                    self.cancel()
                elif cancelled_at is not None and now - cancelled_at > 60:
                    break  # cancelled a minute ago and still winding down: stop waiting for it
                time.sleep(poll_delay(now - start))
        except BaseException:
            sink.note(f"interrupted; cancelling Slurm job {self.id}")
            self.cancel()
            raise
        _settle(tail)
        duration = time.monotonic() - start
        if timed_out:
            return ProcessOutcome(-9, True, duration)
        if state.state == "TIMEOUT":
            return ProcessOutcome(-9, True, duration)
        if state.state in ("COMPLETED", "FAILED"):
            return ProcessOutcome(state.exit_code, False, duration)
        how = "no longer knows the job" if not state.known else f"ended it as {state.state}"
        reason = f" (reason: {state.reason})" if state.reason and state.reason != "None" else ""
        sink.note(f"Slurm {how}{reason}")
        raise ContainerFailed(f"task '{self.task}' was lost by the cluster: Slurm {how}, job {self.id}{reason}; "
                              f"last lines of its log:\n{sink.last_lines()}",
                              hint=f"ask `scontrol show job {self.id}` or `sacct -j {self.id}`; the task's log is "
                                   f"{sink.log_path}")

    def cancel(self) -> None:
        if self.id is not None:
            _slurm("scancel", self.id, timeout=15)


def _settle(tail: _Tail, wait: float = 2.0) -> None:
    """The job's output file may reach this machine a moment after the job ends (NFS caches attributes)."""
    deadline = time.monotonic() + wait
    tail.pump()
    while not tail.path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
        tail.pump()


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
        return _version() or "slurm"

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
