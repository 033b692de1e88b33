"""The apptainer runner with a stand-in executable.

LIMIT: Apptainer has no package on these machines, so a stand-in ``apptainer`` on PATH answers
``--version``, makes a placeholder SIF for ``build``, and for ``exec`` runs the command on the host with
the bind targets rewritten to host paths. This tests the argument building, the SIF cache, the process
helper and the contract checks, not Apptainer's isolation.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from medperf_git.errors import ContainerFailed
from medperf_git.runners import RunOptions, resolve_container, run_task, select_runner
from medperf_git.runners._spec import build_spec
from medperf_git.runners.apptainer import build_argv

STAND_IN = textwrap.dedent("""\
    #!{python}
    import json, os, sys
    args = sys.argv[1:]
    with open(os.environ["FAKE_APPTAINER_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    if args == ["--version"]:
        print("apptainer version 1.3.0")
        sys.exit(0)
    if args[0] == "build":
        open(args[1], "w").write("SIF placeholder for " + args[2])
        sys.exit(0)
    verb, args = args[0], args[1:]
    binds, env, i = [], {{}}, 0
    flags = {{"--containall", "--cleanenv", "--no-home", "--net", "--nv", "--nvccli"}}
    while args[i].startswith("--"):
        if args[i] in flags:
            i += 1
            continue
        key, value = args[i], args[i + 1]
        i += 2
        if key == "--bind":
            host, target, mode = value.rsplit(":", 2)
            binds.append((target, host))
        elif key == "--env":
            k, _, v = value.partition("=")
            env[k] = v
    image, command = args[i], args[i + 1:]
    def host(text):
        for target, path in sorted(binds, key=lambda b: -len(b[0])):
            if text == target or text.startswith(target + "/"):
                return path + text[len(target):]
        return text
    env = {{k: host(v) for k, v in env.items()}}
    env["PATH"] = os.environ["PATH"]
    os.execve(sys.executable if command[0] == "python3" else command[0],
              [sys.executable] + [host(c) for c in command[1:]], env)
""")

SCRIPT = """\
import os, sys
print("inside the stand-in")
open(os.path.join(os.environ["MP_VOL_OUTPUT_PATH"], "done.txt"), "w").write(sys.argv[-1])
"""


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    from medperf_git.runners import apptainer

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "apptainer"
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(0o755)
    log = tmp_path / "apptainer-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_APPTAINER_LOG", str(log))
    apptainer._version_of.cache_clear()
    yield log
    apptainer._version_of.cache_clear()


def _record(make_container, script=SCRIPT):
    config = yaml.safe_load(make_container("").read_text())
    config["tasks"]["infer"]["run_args"] = {"entrypoint": ["python3", "-c", script], "command": ["last-arg"]}
    return {"id": 3, "config": config, "parameters": {"k": 1},
            "image": {"reference": "localhost/probe:1", "digest": "sha256:" + "c" * 64}}


def _options(tmp_path, **kw):
    return RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work", runner="singularity",
                      cache_dir=tmp_path / "cache", **kw)


def test_singularity_is_an_alias_and_a_task_runs(stand_in, make_container, tmp_path):
    assert select_runner("singularity").name == "apptainer"
    container = resolve_container(_record(make_container), cache_dir=tmp_path / "cache")
    (tmp_path / "data").mkdir()
    lines = []
    result = run_task(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out"},
                      _options(tmp_path, on_output=lines.append))
    assert (tmp_path / "out" / "done.txt").read_text() == "last-arg"
    assert "inside the stand-in" in lines
    assert result.runner == "apptainer" and result.isolation == "container"
    assert result.runner_version == "apptainer version 1.3.0"
    calls = [json.loads(line) for line in stand_in.read_text().splitlines()]
    builds = [c for c in calls if c[0] == "build"]
    assert builds and builds[0][2] == "docker://localhost/probe@sha256:" + "c" * 64
    run = next(c for c in calls if c[0] == "exec")
    assert {"--containall", "--cleanenv", "--no-home", "--net"} <= set(run)
    assert run[run.index("--network") + 1] == "none"
    assert f"{tmp_path / 'data'}:/mlcommons/volumes/data:ro" in run
    assert f"{tmp_path / 'out'}:/mlcommons/volumes/output:rw" in run
    assert "PYTHONUNBUFFERED=1" in run
    # The SIF is cached by digest: a second run builds nothing.
    run_task(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out"},
             _options(tmp_path))
    calls = [json.loads(line) for line in stand_in.read_text().splitlines()]
    assert len([c for c in calls if c[0] == "build"]) == 1


def test_a_failing_task_shows_its_log(stand_in, make_container, tmp_path):
    record = _record(make_container, "import sys\nprint('broken weights')\nsys.exit(4)\n")
    container = resolve_container(record, cache_dir=tmp_path / "cache")
    (tmp_path / "data").mkdir()
    with pytest.raises(ContainerFailed, match="(?s)exit code 4.*broken weights"):
        run_task(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out"},
                 _options(tmp_path))


# GPUs can only be checked as generated arguments here (a limit): no GPU, no real apptainer.
@pytest.mark.parametrize(("gpus", "flags", "env"), [
    (None, [], {}),
    ("all", ["--nv"], {}),
    ("device=0,2", ["--nv", "--nvccli"], {"NVIDIA_VISIBLE_DEVICES": "0,2", "CUDA_VISIBLE_DEVICES": "0,2"}),
])
def test_gpu_arguments(gpus, flags, env, make_container, tmp_path):
    container = resolve_container(_record(make_container), cache_dir=tmp_path / "cache")
    (tmp_path / "data").mkdir()
    spec = build_spec(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out"},
                      _options(tmp_path, gpus=gpus))
    argv = build_argv("apptainer", spec, "/images/x.sif")
    assert [a for a in argv if a in ("--nv", "--nvccli")] == flags
    for key, value in env.items():
        assert f"{key}={value}" in argv


def test_a_singularity_file_is_fetched_and_checked_against_its_pin(stand_in, make_container, tmp_path):
    import hashlib

    from medperf_git.errors import HashMismatch

    sif = tmp_path / "probe.sif"
    sif.write_bytes(b"a SIF image, as far as the stand-in is concerned")
    record = _record(make_container)
    record["config"]["container_type"] = "SingularityFile"
    record["image"] = {"reference": sif.as_uri(), "digest": "sha256:" + hashlib.sha256(sif.read_bytes()).hexdigest()}
    (tmp_path / "data").mkdir()
    mounts = {"data_path": tmp_path / "data", "output_path": tmp_path / "out"}
    container = resolve_container(record, cache_dir=tmp_path / "cache", allow_file_urls=True)
    run_task(container, "infer", mounts, _options(tmp_path))
    run = next(json.loads(line) for line in stand_in.read_text().splitlines() if line.startswith('["exec"'))
    image = next(a for a in run if a.startswith(str(tmp_path / "cache" / "downloads")))
    assert Path(image).read_bytes() == sif.read_bytes()
    assert not any(line.startswith('["build"') for line in stand_in.read_text().splitlines())

    record["image"]["digest"] = "sha256:" + "0" * 64
    container = resolve_container(record, cache_dir=tmp_path / "cache", allow_file_urls=True)
    with pytest.raises(HashMismatch):
        run_task(container, "infer", mounts, _options(tmp_path))
