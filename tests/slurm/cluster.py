"""A one-node Slurm cluster on localhost, from Debian's ``slurm-wlm`` and ``munge``, for tests and benchmarks.

Everything lives under one folder: a fresh munge key, munged's socket, a generated ``slurm.conf``,
slurmctld's state and slurmd's spool, their logs. The three daemons run in the foreground as our
children, so stopping them is killing the processes we started, by their ids. Start-up takes a few
seconds and nothing is cached between runs. Root is needed: slurmd starts jobs as their users.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")


def why_not() -> str | None:
    """None when a cluster can be started here, else why not (a skip reason)."""
    if os.geteuid() != 0:
        return "a Slurm cluster needs root (slurmd starts jobs as their users)"
    missing = [exe for exe in (*DAEMONS, *CLIENTS) if _which(exe) is None]
    if missing:
        return (f"Slurm or munge is not installed ({', '.join(missing)} missing); "
                "as root: apt-get install slurm-wlm munge")
    return None


def _which(exe: str) -> str | None:
    return shutil.which(exe) or next((p for p in (f"/usr/sbin/{exe}", f"/sbin/{exe}") if os.access(p, os.X_OK)),
                                     None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 256
    return 1024


def slurm_conf(root: Path, munge_socket: Path, cpus: int = 2) -> str:
    """The cluster's whole configuration: one node, one partition, no accounting, no cgroups."""
    return "\n".join([
        "ClusterName=medperfgit",
        "SlurmctldHost=localhost",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={munge_socket}",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "MpiDefault=none",
        "ReturnToService=2",
        "SchedulerType=sched/backfill",
        "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "MinJobAge=600",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=30",
        "InactiveLimit=0",
        "KillWait=5",
        f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={_memory_mb()} State=UNKNOWN",
        "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


@dataclass
class Cluster:
    root: Path
    conf: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """What a client needs to find this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def log_tail(self, lines: int = 15) -> str:
        parts = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log"):
            path = self.root / name
            if path.is_file():
                parts.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self.processes.clear()


def _die_with_parent() -> None:
    """A daemon gets SIGTERM when the test session that started it dies, even by SIGKILL: no cluster is left behind."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start(cluster: Cluster, name: str, argv: list[str]) -> None:
    out = open(cluster.root / f"{name}.out", "wb")  # noqa: SIM115 - the daemon keeps it
    cluster.processes[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                               env={**os.environ, **cluster.env}, start_new_session=True,
                                               preexec_fn=_die_with_parent)
    out.close()


def _wait(what: str, cluster: Cluster, check, deadline: float) -> None:
    while time.monotonic() < deadline:
        for name, proc in cluster.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} while waiting for {what}\n"
                                   + cluster.log_tail())
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}\n{cluster.log_tail()}")


def start_cluster(root: Path, cpus: int = 2, timeout: float = 60) -> Cluster:
    """munged, slurmctld and slurmd on localhost, returned once ``sinfo`` shows the node idle."""
    root = Path(root).absolute()
    for sub in ("state", "spool", "munge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "munge", 0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(128))
    os.chmod(key, 0o400)
    munge_socket = root / "munge" / "munge.socket"
    conf = root / "slurm.conf"
    conf.write_text(slurm_conf(root, munge_socket, cpus), encoding="utf-8")
    cluster = Cluster(root, conf)
    deadline = time.monotonic() + timeout
    try:
        _start(cluster, "munged", [_which("munged"), "--foreground", "--force", f"--key-file={key}",
                                   f"--socket={munge_socket}", f"--pid-file={root / 'munge' / 'munged.pid'}",
                                   f"--seed-file={root / 'munge' / 'munged.seed'}",
                                   f"--log-file={root / 'munged.log'}"])
        _wait("munged's socket", cluster, munge_socket.exists, deadline)
        _start(cluster, "slurmctld", [_which("slurmctld"), "-D", "-c", "-i", "-f", str(conf)])
        _wait("slurmctld", cluster, lambda: _client(cluster, "scontrol", "ping").returncode == 0
              and "UP" in _client(cluster, "scontrol", "ping").stdout, deadline)
        _start(cluster, "slurmd", [_which("slurmd"), "-D", "-N", "localhost", "-f", str(conf)])
        _wait("the node to be idle", cluster, lambda: _node_state(cluster) == "idle", deadline)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _client(cluster: Cluster, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, env={**os.environ, **cluster.env}, timeout=30)


def _node_state(cluster: Cluster) -> str:
    proc = _client(cluster, "sinfo", "-h", "-n", "localhost", "-o", "%t")
    return proc.stdout.strip()


@contextlib.contextmanager
def running_cluster(root: Path, cpus: int = 2) -> Iterator[Cluster]:
    cluster = start_cluster(root, cpus)
    try:
        yield cluster
    finally:
        cluster.stop()
