"""The slurm runner on a real one-node cluster: the runner contract, timeouts, Ctrl-C, a lost job, shared files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from medperf_git.errors import ConfigError, ContainerFailed, RunnerUnavailable
from medperf_git.runners.slurm import SlurmSettings, job_script, job_state, sbatch_argv
from tests.runners.runner_helpers import DOCKERFILE, INFER_TASK, config_text, sandbox_reason

PROBE = """\
import json, os, socket, tempfile
data, out = os.environ["MP_VOL_DATA_PATH"], os.environ["MP_VOL_OUTPUT_PATH"]
print("probe says hello")
json.dump({"uid": os.getuid(), "gid": os.getgid(), "data": sorted(os.listdir(data)),
           "data_writable": os.access(data, os.W_OK), "interfaces": [n for _, n in socket.if_nameindex()],
           "env": {k: v for k, v in os.environ.items() if k.startswith("MP_")}, "hello": os.environ.get("HELLO"),
           "tmp": tempfile.gettempdir()}, open(os.path.join(out, "report.json"), "w"))
"""
PROBE_TASK = INFER_TASK.replace("infer:\n", "infer:\n  run_args:\n    environment: {HELLO: world}\n")

pytestmark = pytest.mark.skipif(sandbox_reason() is not None, reason=f"sandbox: {sandbox_reason()}")


@pytest.fixture
def run_slurm(slurm, tmp_path):
    """Run a task of an inline container under the slurm runner; returns (result, output folder, lines)."""
    from medperf_git.runners import RunOptions, load_config, resolve_container, run_task

    def _run(script: str, tasks: str = INFER_TASK, timeout: float | None = 120, slurm_settings: dict | None = None,
             on_output=None, name: str = "c"):
        folder = tmp_path / name
        (folder / "project").mkdir(parents=True)
        (folder / "project" / "task.py").write_text(textwrap.dedent(script), encoding="utf-8")
        (folder / "Dockerfile").write_text(DOCKERFILE, encoding="utf-8")
        (folder / "container_config.yaml").write_text(config_text(tasks), encoding="utf-8")
        data = tmp_path / "data"
        if not data.exists():
            data.mkdir()
            (data / "a.txt").write_text("hello\n", encoding="utf-8")
        out = tmp_path / f"out-{name}"
        lines: list[str] = []
        container = resolve_container(load_config(folder / "container_config.yaml"), cache_dir=tmp_path / "cache",
                                      parameters={"threshold": 0.5})
        options = RunOptions(logs_dir=tmp_path / "logs" / name, work_dir=tmp_path / "work" / name, runner="slurm",
                             timeout=timeout, python=sys.executable, cache_dir=tmp_path / "cache",
                             on_output=on_output or lines.append, slurm=slurm_settings or {})
        result = run_task(container, "infer", {"data_path": data, "output_path": out}, options)
        return result, out, lines

    return _run


def test_task_runs_as_a_job_under_bubblewrap_with_the_sandbox_contract(run_slurm):
    result, out, lines = run_slurm(PROBE, PROBE_TASK)
    report = json.loads((out / "report.json").read_text())
    assert (report["uid"], report["gid"]) == (os.getuid(), os.getgid())
    assert report["data"] == ["a.txt"] and report["data_writable"] is False
    assert report["interfaces"] == ["lo"]  # --unshare-net: a network namespace of its own
    assert report["env"]["MP_VOL_DATA_PATH"] == "/mlcommons/volumes/data"
    assert report["tmp"] == "/tmp" and report["hello"] == "world"
    # The job's output reached the task's log and the stream; the log names the job.
    assert "probe says hello" in lines
    log = result.log_path.read_text()
    assert "probe says hello" in log and "Slurm job " in log and "--no-requeue" in log
    # The provenance names what isolated the task; Slurm placed it.
    assert (result.runner, result.isolation, result.exit_code) == ("sandbox", "sandbox", 0)
    assert "slurm" in result.runner_version and "bubblewrap" in result.runner_version


def test_a_failing_task_keeps_its_exit_code_and_log(run_slurm):
    with pytest.raises(ContainerFailed, match=r"exit code 3[\s\S]*about to fail"):
        run_slurm("print('about to fail')\nraise SystemExit(3)\n")


def test_the_timeout_cancels_the_job(run_slurm, slurm):
    with pytest.raises(ContainerFailed, match="did not finish within its timeout of 2 s") as caught:
        run_slurm("import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n", timeout=2)
    job = _job_in(caught.value.message)
    assert _wait_inactive(job).state in ("CANCELLED", "COMPLETED")


def test_ctrl_c_cancels_the_job(run_slurm):
    """KeyboardInterrupt while the job runs (raised here from the output callback) cancels it with scancel."""
    seen: list[str] = []

    def interrupt(line: str) -> None:
        seen.append(line)
        if line == "started":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_slurm("import time\nprint('started', flush=True)\ntime.sleep(60)\n", on_output=interrupt)
    job = _job_in("\n".join(seen))
    assert _wait_inactive(job).state == "CANCELLED"


def test_a_job_lost_by_the_cluster_is_a_failed_task_with_slurms_reason(run_slurm, slurm):
    """The node goes down under a running job: Slurm ends it NODE_FAIL, and the task fails saying so."""
    def down_when_running() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = subprocess.run(["squeue", "-h", "-o", "%T"], capture_output=True, text=True).stdout
            if "RUNNING" in state:
                subprocess.run(["scontrol", "update", "nodename=localhost", "state=down", "reason=disk on fire"],
                               check=True)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=down_when_running)
    thread.start()
    try:
        with pytest.raises(ContainerFailed, match="lost by the cluster: Slurm ended it as NODE_FAIL") as caught:
            run_slurm("import time\nprint('working', flush=True)\ntime.sleep(60)\n")
        assert "scontrol show job" in (caught.value.hint or "")
    finally:
        thread.join()
        subprocess.run(["scontrol", "update", "nodename=localhost", "state=resume"], check=False)
        _wait_idle()


def test_shared_paths_setting_refuses_a_path_the_nodes_do_not_share(run_slurm, tmp_path):
    with pytest.raises(RunnerUnavailable, match=r"data_path \(.*/data\) is not under the profile's "
                                                r"slurm.shared_paths \(/nowhere\)"):
        run_slurm("print('x')\n", slurm_settings={"shared_paths": ["/nowhere"]})
    result, out, _ = run_slurm("import os\nopen(os.environ['MP_VOL_OUTPUT_PATH'] + '/x', 'w').write('x')\n",
                               slurm_settings={"shared_paths": [str(tmp_path)]}, name="c2")
    assert (out / "x").read_text() == "x" and "Slurm job" in result.log_path.read_text()


def test_the_probe_job_checks_the_paths_once_per_filesystem(slurm, tmp_path):
    from medperf_git.runners import slurm as module

    module._verified.clear()
    given = {"data": tmp_path}
    module.check_shared(given, SlurmSettings(), tmp_path / "work")
    assert module.mount_point(tmp_path) in module._verified
    started = time.monotonic()
    module.check_shared(given, SlurmSettings(), tmp_path / "work")  # known: no second job
    assert time.monotonic() - started < 0.1
    module._verified.clear()
    with pytest.raises(RunnerUnavailable,
                       match=r"do not share this machine's files: a node does not see the task's data \(/.*/absent\)"):
        module.check_shared({"data": tmp_path / "absent"}, SlurmSettings(), tmp_path / "work")


def test_sbatch_argv_maps_timeout_gpus_resources_and_profile_settings(tmp_path):
    settings = SlurmSettings.parse({"partition": "gpu", "account": "radiology", "cpus": 4, "mem": "16G",
                                    "sbatch_options": "--qos=short --constraint=a100"})
    argv = sbatch_argv(settings, name="medperf-git-infer", output=tmp_path / "job.out", cwd=tmp_path,
                       timeout=90, gpus=2, script=tmp_path / "job.sh")
    assert argv[:2] == ["sbatch", "--parsable"]
    for expected in ("--time=3", "--cpus-per-task=4", "--mem=16G", "--gres=gpu:2", "--partition=gpu",
                     "--account=radiology", "--qos=short", "--constraint=a100", "--no-requeue", f"--chdir={tmp_path}"):
        assert expected in argv
    assert argv[-1] == str(tmp_path / "job.sh")
    assert "--gres=gpu:2" in sbatch_argv(settings, name="x", output=tmp_path, cwd=None, timeout=None,
                                         gpus=["0", "1"], script=tmp_path)
    plain = sbatch_argv(SlurmSettings(), name="x", output=tmp_path, cwd=None, timeout=None, gpus=None,
                        script=tmp_path)
    assert not any(a.startswith(("--time", "--gres", "--mem", "--partition")) for a in plain)
    script = job_script(["/usr/bin/bwrap", "--unshare-all", "--", "python3", "it's"], gpus=True)
    assert "--dev-bind $node $node" in script and "CUDA_VISIBLE_DEVICES" in script and "'it'\"'\"'s'" in script


@pytest.mark.parametrize("settings, message", [
    ({"queue": "x"}, "unknown setting"), ({"cpus": 0}, "cpus must be a positive"),
    ({"mem": "lots"}, "mem must be"), ({"task_runner": "docker"}, "task_runner must be sandbox or apptainer"),
    ({"partition": "a b"}, "is not a Slurm partition name"), ({"shared_paths": [1]}, "list of strings")])
def test_bad_slurm_settings_are_named(settings, message):
    with pytest.raises(ConfigError, match=message):
        SlurmSettings.parse(settings)


def test_container_runners_says_whether_slurm_answers(slurm, invoke, monkeypatch, tmp_path):
    result = invoke("container", "runners", "--json")
    rows = {r["runner"]: r for r in json.loads(result.stdout)}
    assert rows["slurm"]["available"] is True and rows["slurm"]["isolation"] == "sandbox"
    assert invoke("container", "runners", "--best").stdout.strip() != "slurm"
    dead = tmp_path / "slurm.conf"
    dead.write_text(Path(slurm.conf).read_text().replace("SlurmctldPort=", "SlurmctldPort=1#"), encoding="utf-8")
    monkeypatch.setenv("SLURM_CONF", str(dead))
    rows = {r["runner"]: r for r in json.loads(invoke("container", "runners", "--json").stdout)}
    assert rows["slurm"]["available"] is False
    assert rows["slurm"]["reason"].startswith("the Slurm controller does not answer (scontrol ping: ")


def _job_in(text: str) -> str:
    import re

    match = re.search(r"Slurm job (\d+)", text)
    assert match, text
    return match.group(1)


def _wait_inactive(job: str, wait: float = 30):
    deadline = time.monotonic() + wait
    state = job_state(job)
    while state.active and time.monotonic() < deadline:
        time.sleep(0.2)
        state = job_state(job)
    return state


def _wait_idle(wait: float = 30) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        out = subprocess.run(["sinfo", "-h", "-n", "localhost", "-o", "%t"], capture_output=True, text=True).stdout
        if out.strip() == "idle":
            return
        time.sleep(0.2)


def test_profile_holds_the_slurm_settings(invoke):
    result = invoke("profile", "set", "--runner", "slurm", "--slurm", "partition=gpu", "--slurm", "cpus=4",
                    "--slurm", "sbatch_options=--qos=short --exclusive", "--slurm", "shared_paths=/shared,/data")
    assert result.exit_code == 0, result.output
    assert "slurm.partition" in result.stderr + result.stdout
    view = json.loads(invoke("profile", "view", "--json").stdout)
    assert view["runner"] == "slurm"
    assert view["slurm"] == {"partition": "gpu", "cpus": 4, "sbatch_options": ["--qos=short", "--exclusive"],
                             "shared_paths": ["/shared", "/data"]}
    assert invoke("profile", "set", "--slurm", "partition=").exit_code == 0
    assert "partition" not in json.loads(invoke("profile", "view", "--json").stdout)["slurm"]
    bad = invoke("profile", "set", "--slurm", "task_runner=docker")
    assert bad.exit_code != 0 and "task_runner must be sandbox or apptainer" in bad.stderr
    assert invoke("profile", "set", "--slurm", "partition").exit_code != 0


@pytest.mark.skipif(shutil.which("apptainer") or shutil.which("singularity"), reason="apptainer is installed here")
def test_a_task_runner_missing_here_is_named(run_slurm):
    with pytest.raises(RunnerUnavailable, match="task runner, apptainer, is not installed on this machine "
                                                r"\(neither apptainer nor singularity is installed\)"):
        run_slurm("print('x')\n", slurm_settings={"task_runner": "apptainer"})
