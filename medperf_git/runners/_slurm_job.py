"""A task as a Slurm batch job: submitted with ``sbatch``, followed with ``scontrol`` (or ``sacct``), cancelled
with ``scancel``; its output file, on the shared filesystem, streamed into the task's log.

The slurm runner (``runners/slurm.py``) sets ``Job.launch`` as the launcher of ``run_process``, so the
sandbox's or apptainer's command line runs here as the job's script.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medperf_git.errors import ContainerFailed
from medperf_git.runners._process import INTERRUPT, LogSink, ProcessOutcome

if TYPE_CHECKING:
    from medperf_git.runners.slurm import SlurmSettings

ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING",
          "STAGE_OUT", "RESV_DEL_HOLD", "REQUEUE_HOLD", "REQUEUE_FED", "STOPPED")
# Seconds between looks at a job, by how long it has run: a short task is noticed ending within a tenth of a second,
# and a long one costs the controller one question every few seconds.
POLL = ((5, 0.1), (30, 0.25), (300, 2.0), (math.inf, 5.0))


def poll_delay(elapsed: float) -> float:
    return next(delay for until, delay in POLL if elapsed < until)
SCONTROL_TIMEOUT = 30


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
def version() -> str | None:
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
