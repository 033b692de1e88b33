"""What only the source runners do: the interpreter and its environment, argv rewriting, bwrap's command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from runner_helpers import ALL_RUNNERS, sandbox_reason

from medperf_git.runners import RunOptions, load_config, resolve_container
from medperf_git.runners._python import Interpreter, ensure_venv, venv_key
from medperf_git.runners._spec import build_spec
from medperf_git.runners.local import rewrite
from medperf_git.runners.sandbox import build_argv

SANDBOX = sandbox_reason()

REPORT = """\
import json, os, sys
out = os.environ.get("MP_VOL_OUTPUT_PATH", "/mlcube_io/output_path")
for arg in sys.argv[1:]:
    if arg.startswith("--output_path="):
        out = arg.split("=", 1)[1]
with open(os.path.join(out, "report.json"), "w") as f:
    json.dump({"argv": sys.argv[1:], "executable": sys.executable, "cwd": os.getcwd(),
               "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}, f)
"""


def _spec(config_path, tmp_path, **options):
    config = load_config(config_path)
    container = resolve_container(config, cache_dir=tmp_path / "cache")
    (tmp_path / "data").mkdir(exist_ok=True)
    return build_spec(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out"},
                      RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work", **options))


def test_local_rewrites_paths_under_bind_targets():
    binds = {"/project": Path("/src/project")}
    assert rewrite("/project/infer.py", binds) == "/src/project/infer.py"
    assert rewrite("/project", binds) == "/src/project"
    assert rewrite("--weights=/project/w.npz", binds) == "--weights=/src/project/w.npz"
    assert rewrite("/projects/x", binds) == "/projects/x"
    assert rewrite("infer", binds) == "infer"


@pytest.mark.parametrize("runner", ALL_RUNNERS)
def test_mlcube_style_containers_get_paths_as_arguments(runner, tmp_path, run_inline):
    """``pass_paths_as_args`` (converted mlcube.yaml): the task finds its volumes in ``--label=path``."""
    folder = tmp_path / "mlcube"
    (folder / "project").mkdir(parents=True)
    (folder / "project" / "task.py").write_text(REPORT)
    (folder / "Dockerfile").write_text('ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\n'
                                       'COPY project /project\nENTRYPOINT ["python3", "/project/task.py"]\n')
    (folder / "mlcube.yaml").write_text(
        "name: probe\ndocker: {image: localhost/medperf-git-absent:1}\n"
        "tasks:\n  infer:\n    parameters:\n      inputs: {data_path: data/}\n"
        "      outputs: {output_path: {type: directory, default: out}}\n")
    config_text = (folder / "mlcube.yaml").read_text() + "local:\n  entrypoint: [python3, /project/task.py]\n"
    (folder / "mlcube.yaml").write_text(config_text)
    result, out, _ = run_inline(folder / "mlcube.yaml", runner)
    report = json.loads((out / "report.json").read_text())
    assert report["argv"][0] == "infer"
    labels = {a.split("=", 1)[0] for a in report["argv"][1:]}
    assert {"--data_path", "--output_path"} <= labels
    if runner != "local":
        assert "--data_path=/mlcube_io/data_path" in report["argv"]
    assert result.exit_code == 0


@pytest.mark.parametrize("runner", ALL_RUNNERS[:2])
def test_python_option_uses_that_interpreter(runner, make_container, tmp_path, shared_cache):
    from medperf_git.runners import run_task

    config = make_container(REPORT)
    container = resolve_container(load_config(config), cache_dir=shared_cache)
    (tmp_path / "data").mkdir()
    result = run_task(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out"},
                      RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work", runner=runner,
                                 python=sys.executable, cache_dir=shared_cache))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["executable"] == sys.executable
    assert result.python == sys.version.split()[0]
    assert result.packages.get("PyYAML")  # the interpreter's own packages are recorded


def test_a_venv_is_made_once_from_pinned_requirements_and_keyed_by_their_hash(tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("")  # nothing to install: the environment itself is what is tested
    first = ensure_venv(reqs, tmp_path / "venvs")
    assert first.executable.startswith(str(tmp_path / "venvs" / venv_key(reqs)))
    assert first.prefix != first.base_prefix
    marker = tmp_path / "venvs" / venv_key(reqs) / "bin" / "python"
    before = marker.lstat().st_mtime_ns
    again = ensure_venv(reqs, tmp_path / "venvs")
    assert again == first and marker.lstat().st_mtime_ns == before
    reqs.write_text("# a changed pin file gets its own environment\n")
    assert venv_key(reqs) != first.executable.split("/")[-3]


INTERP = Interpreter("/usr/bin/python3", "3.11.2", "/usr", "/usr")


@pytest.mark.parametrize(("gpus", "expected"), [(None, ""), ("all", None), ("2", "0,1"), ("device=1,3", "1,3")])
def test_sandbox_maps_gpus_to_cuda_visible_devices(gpus, expected, make_container, tmp_path):
    """LIMIT: no GPU here, so only the generated bwrap arguments are checked."""
    spec = _spec(make_container(REPORT), tmp_path, gpus=gpus)
    argv = build_argv("bwrap", spec, INTERP, None)
    pairs = [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == "--setenv"]
    assert dict(pairs).get("CUDA_VISIBLE_DEVICES") == expected


def test_sandbox_command_line_follows_the_contract(make_container, tmp_path):
    spec = _spec(make_container(REPORT), tmp_path)
    argv = build_argv("bwrap", spec, INTERP, None)
    assert argv[:4] == ["bwrap", "--unshare-all", "--die-with-parent", "--new-session"]
    assert "--clearenv" in argv
    text = " ".join(argv)
    assert f"--ro-bind {tmp_path / 'data'} /mlcommons/volumes/data" in text
    assert f"--bind {tmp_path / 'out'} /mlcommons/volumes/output" in text
    assert f"--bind {spec.tmp_dir} /tmp" in text
    assert f"--ro-bind {spec.container.source_dir / 'project'} /project" in text
    assert argv[argv.index("--") + 1:] == ["/usr/bin/python3", "/project/task.py"]


@pytest.mark.bwrap
@pytest.mark.skipif(SANDBOX is None, reason="bubblewrap works here; this checks the message when it does not")
def test_the_reason_the_sandbox_cannot_run_is_given():
    assert "bwrap" in SANDBOX or "bubblewrap" in SANDBOX


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_the_local_runner_leaves_no_process_behind(make_container, run_inline):
    import time

    script = """\
import os, subprocess
child = subprocess.Popen(["sleep", "60"])
open(os.path.join(os.environ["MP_VOL_OUTPUT_PATH"], "pid"), "w").write(str(child.pid))
"""
    _, out, _ = run_inline(make_container(script), "local")
    pid = int((out / "pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


@pytest.mark.skipif(sandbox_reason() is not None, reason=str(sandbox_reason()))
def test_sandbox_sees_an_interpreter_that_lives_under_tmp(make_container, tmp_path, shared_cache):
    """A checkout (and its .venv) under /tmp must not be hidden by the task's private /tmp."""
    import subprocess
    import tempfile

    from medperf_git.runners import run_task

    with tempfile.TemporaryDirectory(dir="/tmp") as scratch:
        venv = Path(scratch) / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
                       check=True)
        config = make_container(REPORT)
        container = resolve_container(load_config(config), cache_dir=shared_cache)
        (tmp_path / "data").mkdir()
        run_task(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out"},
                 RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work", runner="sandbox",
                            python=str(venv / "bin" / "python"), cache_dir=shared_cache))
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        assert report["executable"] == str(venv / "bin" / "python")
