"""What a Dockerfile says the image runs, read with Docker's rules, for runners without the image."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from medperf_git.errors import ContainerConfigInvalid
from medperf_git.runners.dockerfile import ImageConfig, base_images, parse_dockerfile

pytestmark = pytest.mark.unprivileged
MEDPERF = Path(__file__).resolve().parents[1] / "medperf_containers" / "chestxray_tutorial"


def _parse(tmp_path, text: str) -> ImageConfig:
    path = tmp_path / "Dockerfile"
    path.write_text(textwrap.dedent(text))
    return parse_dockerfile(path)


def test_medperf_dockerfiles():
    metrics = parse_dockerfile(MEDPERF / "metrics" / "Dockerfile")
    assert metrics.entrypoint == ["python3", "/project/metrics.py"] and metrics.cmd is None
    assert metrics.env == {"LANG": "C.UTF-8"}  # the legacy `ENV key value` form
    assert metrics.base == "python:3.9.16-slim"
    prep = parse_dockerfile(MEDPERF / "data_preparator" / "Dockerfile")
    assert prep.entrypoint is None and prep.argv(None, ["python3", "/project/prepare.py"]) == [
        "python3", "/project/prepare.py"]
    assert base_images(MEDPERF / "metrics" / "Dockerfile") == [("python:3.9.16-slim", False)]


def test_docker_rules(tmp_path):
    image = _parse(tmp_path, """\
        # syntax=docker/dockerfile:1
        ARG BASE_IMAGE=python:3.11-slim
        FROM ${BASE_IMAGE} AS build
        ENV A=1 B="two words" \\
            C=$A-x
        ENV D=${A}-y
        WORKDIR /src
        CMD ["python3", "-m", "build"]

        FROM build
        WORKDIR app
        ENTRYPOINT python3 main.py --flag
        """)
    # Within one ENV, $A is its value before that line (Docker's rule); on a later line, the new one.
    assert image.env == {"A": "1", "B": "two words", "C": "-x", "D": "1-y"}
    assert image.workdir == "/src/app"  # relative to the one before
    assert image.entrypoint == ["/bin/sh", "-c", "python3 main.py --flag"]  # the shell form
    assert image.cmd is None  # an ENTRYPOINT resets the CMD it inherits
    assert image.base == "python:3.11-slim"
    assert image.argv(None, None) == ["/bin/sh", "-c", "python3 main.py --flag"]
    assert image.argv(None, ["x"]) == ["/bin/sh", "-c", "python3 main.py --flag", "x"]
    assert image.argv(["run"], None) == ["run"]  # a given entrypoint drops the image's CMD
    assert base_images(tmp_path / "Dockerfile") == [("${BASE_IMAGE}", True)]


def test_cmd_alone_and_the_escape_directive(tmp_path):
    image = _parse(tmp_path, """\
        # escape=`
        FROM scratch
        CMD ["python3", `
             "/project/run.py"]
        """)
    assert image.argv(None, None) == ["python3", "/project/run.py"]
    assert image.argv(None, ["other"]) == ["other"]


def test_not_a_dockerfile(tmp_path):
    with pytest.raises(ContainerConfigInvalid, match="has no FROM"):
        _parse(tmp_path, "RUN echo hi\n")
