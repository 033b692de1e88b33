"""Helpers for the runner tests: which real engines this machine has, and inline container texts."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

# Virtual environments for pinned requirements are slow to make; keep them across test sessions.
_CI_CACHE = Path(os.environ.get("MEDPERF_GIT_CI_CACHE") or Path.home() / ".cache" / "medperf-git-ci")


# The base image the test Dockerfiles build on (scripts/setup_engines.sh exports it); the autouse
# fixture of tests/conftest.py clears MEDPERF_GIT_* variables, so it is read once here.
BASE_IMAGE = os.environ.get("MEDPERF_GIT_BASE_IMAGE") or "localhost/medperf-base:bookworm"


def docker_reason() -> str | None:
    from medperf_git.runners.docker import DockerRunner, _shared_client

    runner = DockerRunner()
    why = runner.available()
    if why is None:
        import docker

        try:
            _shared_client().images.get(BASE_IMAGE)
        except docker.errors.APIError:
            why = f"the base image {BASE_IMAGE} is missing (run: eval \"$(sh scripts/setup_engines.sh)\")"
    return why


def sandbox_reason() -> str | None:
    from medperf_git.runners.sandbox import SandboxRunner

    return SandboxRunner().available()


def runner_param(name: str):
    """A pytest param for a runner, skipped with the reason when that engine is missing here."""
    marks = [pytest.mark.unprivileged] if name in ("local", "sandbox") else []
    if name == "docker":
        why = docker_reason()
        marks = [pytest.mark.docker, pytest.mark.skipif(why is not None, reason=f"docker: {why}")]
    elif name == "sandbox":
        why = sandbox_reason()
        marks += [pytest.mark.bwrap, pytest.mark.skipif(why is not None, reason=f"sandbox: {why}")]
    return pytest.param(name, marks=marks, id=name)


ALL_RUNNERS = [runner_param(n) for n in ("local", "sandbox", "docker")]
ISOLATING = [runner_param(n) for n in ("sandbox", "docker")]


DOCKERFILE = """\
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
COPY project /project
ENTRYPOINT ["python3", "/project/task.py"]
"""


def config_text(tasks: str) -> str:
    local = "local:\n  binds: {project: /project}\n  entrypoint: [python3, /project/task.py]\n"
    head = "container_type: DockerImage\nimage: localhost/medperf-git-test-absent:0\ntasks:\n"
    return head + textwrap.indent(textwrap.dedent(tasks), "  ") + local


INFER_TASK = """\
infer:
  input_volumes:
    data_path: {mount_path: /mlcommons/volumes/data, type: directory}
    parameters_file: {mount_path: /mlcommons/volumes/parameters/parameters_file.yaml, type: file}
  output_volumes:
    output_path: {mount_path: /mlcommons/volumes/output, type: directory}
"""
