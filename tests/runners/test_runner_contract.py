"""The contract every runner honours, checked on real engines (local, bubblewrap, podman) with inline containers."""

from __future__ import annotations

import json
import os
import time

import pytest
from runner_helpers import ALL_RUNNERS, ISOLATING

from medperf_git.errors import EXIT_CONTAINER, ContainerConfigInvalid, ContainerFailed

PROBE = """\
import json, os, socket, sys
data = os.environ["MP_VOL_DATA_PATH"]
out = os.environ["MP_VOL_OUTPUT_PATH"]
params = open(os.environ["MP_VOL_PARAMETERS_FILE"]).read()
listing = sorted(os.listdir(data))
try:
    open(os.path.join(data, "intruder.txt"), "w").write("x")
    data_writable = True
except OSError:
    data_writable = False
try:
    socket.create_connection(("10.255.255.1", 9), timeout=2).close()
    network = "connected"
except OSError as exc:
    network = type(exc).__name__ + ": " + str(exc)
pids_max = None
for cgroup in ("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"):  # cgroup v2, v1
    if os.path.exists(cgroup):
        pids_max = open(cgroup).read().strip()
        break
import tempfile
with open(os.path.join(tempfile.gettempdir(), "scratch"), "w") as f:  # the run's private /tmp (TMPDIR for local)
    f.write("ok")
report = {"uid": os.getuid(), "gid": os.getgid(), "data": listing, "params": params,
          "data_writable": data_writable, "network": network, "unbuffered": os.environ.get("PYTHONUNBUFFERED"),
          "env": {k: v for k, v in os.environ.items() if k.startswith("MP_")}, "hello": os.environ.get("HELLO"),
          "tmp": tempfile.gettempdir(), "pids_max": pids_max}
print("probe says hello")
with open(os.path.join(out, "report.json"), "w") as f:
    json.dump(report, f)
"""

PROBE_TASK = """\
infer:
  run_args:
    environment: {HELLO: world}
  input_volumes:
    data_path: {mount_path: /mlcommons/volumes/data, type: directory}
    parameters_file: {mount_path: /mlcommons/volumes/parameters/parameters_file.yaml, type: file}
  output_volumes:
    output_path: {mount_path: /mlcommons/volumes/output, type: directory}
"""


@pytest.mark.parametrize("runner", ALL_RUNNERS)
def test_task_sees_its_volumes_environment_and_parameters(runner, make_container, run_inline):
    result, out, lines = run_inline(make_container(PROBE, PROBE_TASK), runner)
    report = json.loads((out / "report.json").read_text())
    assert (report["uid"], report["gid"]) == (os.getuid(), os.getgid())
    assert report["data"] == ["a.txt"]
    assert "threshold: 0.5" in report["params"]
    assert report["unbuffered"] == "1"
    assert report["hello"] == "world"
    assert report["env"]["MP_TASK"] == "infer"
    if runner != "local":
        assert report["env"]["MP_VOL_DATA_PATH"] == "/mlcommons/volumes/data"
        assert report["tmp"] == "/tmp"  # a private /tmp, bound from the run's folder
    else:
        assert report["tmp"].endswith("/work/local/tmp")
    assert "probe says hello" in lines
    assert "probe says hello" in result.log_path.read_text()
    assert result.runner == runner and result.exit_code == 0
    assert result.isolation == {"local": "none", "sandbox": "sandbox", "docker": "container"}[runner]
    assert result.config_hash.startswith("sha256:") and result.parameters_hash.startswith("sha256:")
    assert result.pins["config_hash"] == result.config_hash
    if runner == "docker":
        assert result.image["image_id"].startswith("sha256:")
    else:
        assert result.python and result.packages


@pytest.mark.parametrize("runner", ISOLATING)
def test_inputs_are_read_only_and_there_is_no_network(runner, make_container, run_inline, tmp_path):
    _, out, _ = run_inline(make_container(PROBE, PROBE_TASK), runner)
    report = json.loads((out / "report.json").read_text())
    assert report["data_writable"] is False
    assert not (tmp_path / "data" / "intruder.txt").exists()
    assert report["network"] != "connected"
    assert "unreachable" in report["network"].lower() or "OSError" in report["network"]
    if runner == "docker":  # the engine enforces the task's process limit
        from medperf_git.runners.docker import PIDS_LIMIT

        assert report["pids_max"] == str(PIDS_LIMIT)


@pytest.mark.parametrize("runner", ALL_RUNNERS)
def test_non_zero_exit_is_a_clear_error_with_the_log_tail(runner, make_container, run_inline):
    config = make_container("import sys\nprint('about to fail: bad pixel spacing')\nsys.exit(3)\n")
    with pytest.raises(ContainerFailed) as info:
        run_inline(config, runner)
    assert info.value.exit_code == EXIT_CONTAINER
    assert "exit code 3" in info.value.message
    assert "about to fail: bad pixel spacing" in info.value.message


@pytest.mark.parametrize("runner", ALL_RUNNERS)
def test_a_task_past_its_timeout_is_killed(runner, make_container, run_inline):
    config = make_container("import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n")
    start = time.monotonic()
    with pytest.raises(ContainerFailed) as info:
        run_inline(config, runner, timeout=2)
    assert time.monotonic() - start < 30
    assert "timeout of 2 s" in info.value.message


@pytest.mark.parametrize("runner", ALL_RUNNERS)
def test_a_task_that_writes_nothing_fails(runner, make_container, run_inline):
    config = make_container("print('did nothing')\n")
    with pytest.raises(ContainerFailed, match="wrote nothing to its output 'output_path'"):
        run_inline(config, runner)


def test_a_label_the_task_needs_but_is_not_given_is_named(make_container, run_inline, tmp_path):
    config = make_container(PROBE, PROBE_TASK)
    with pytest.raises(ContainerConfigInvalid, match="needs the input volume 'data_path'"):
        run_inline(config, "local", mounts={"output_path": tmp_path / "o"})


def test_a_statistics_file_output_must_be_a_yaml_mapping(make_container, run_inline, tmp_path):
    tasks = """\
    statistics:
      input_volumes:
        data_path: {mount_path: /mlcommons/volumes/data, type: directory}
      output_volumes:
        output_path: {mount_path: /mlcommons/volumes/statistics/statistics.yaml, type: file}
    """
    bad = make_container("import os\nopen(os.environ['MP_VOL_OUTPUT_PATH'], 'w').write('- just a list\\n')\n",
                         tasks, name="bad")
    target = tmp_path / "stats" / "statistics.yaml"
    with pytest.raises(ContainerFailed, match="not a non-empty YAML mapping"):
        run_inline(bad, "local", task="statistics", mounts={"data_path": tmp_path, "output_path": target})
    good = make_container("import os\nopen(os.environ['MP_VOL_OUTPUT_PATH'], 'w').write('num_cases: 3\\n')\n",
                          tasks, name="good")
    run_inline(good, "local", task="statistics", mounts={"data_path": tmp_path, "output_path": target})
    assert target.read_text() == "num_cases: 3\n"
