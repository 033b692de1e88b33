"""The example containers' configs: MedPerf's format, our schema, and agreement with Dockerfiles and scripts."""

from __future__ import annotations

import re

import pytest
import yaml
from chestxray_helpers import EXAMPLE, LABELS, SCRIPTS

from medperf_git.records.schemas import validate

CONTAINERS = ("data_preparator", "model_reference", "model_second", "metrics")
# The labels MedPerf supplies per task (containers-and-hashing.md §1.3), plus the two given to every task.
ALLOWED = {
    "prepare": {"data_path", "labels_path", "output_path", "output_labels_path", "metadata_path", "report_file"},
    "sanity_check": {"data_path", "labels_path", "metadata_path"},
    "statistics": {"data_path", "labels_path", "metadata_path", "output_path"},
    "infer": {"data_path", "output_path"},
    "evaluate": {"predictions", "labels", "output_path", "local_outputs_path"},
}
EXPECTED_TASKS = {
    "data_preparator": {"prepare", "sanity_check", "statistics"},
    "model_reference": {"infer"},
    "model_second": {"infer"},
    "metrics": {"evaluate"},
}


def _config(name: str) -> dict:
    return yaml.safe_load((EXAMPLE / name / "container_config.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", CONTAINERS)
def test_config_passes_the_container_config_schema(name):
    assert validate("container_config", _config(name)) == []


@pytest.mark.parametrize("name", CONTAINERS)
def test_config_declares_medperf_tasks_and_labels(name):
    config = _config(name)
    assert config["container_type"] == "DockerImage"
    assert set(config["tasks"]) == EXPECTED_TASKS[name]
    for task, spec in config["tasks"].items():
        volumes = {**spec.get("input_volumes", {}), **spec.get("output_volumes", {})}
        assert set(volumes) <= ALLOWED[task] | {"parameters_file", "additional_files"}
        assert "parameters_file" in spec["input_volumes"]
        for volume in volumes.values():
            assert volume["mount_path"].startswith("/mlcommons/volumes/")
        if task in ("statistics", "evaluate"):
            assert spec["output_volumes"]["output_path"]["type"] == "file"
    if name.startswith("model_"):
        assert "additional_files" in config["tasks"]["infer"]["input_volumes"]


@pytest.mark.parametrize("name", CONTAINERS)
def test_dockerfile_matches_the_local_section(name):
    config = _config(name)
    dockerfile = (EXAMPLE / name / "Dockerfile").read_text(encoding="utf-8")
    lines = dockerfile.splitlines()
    assert lines[0] == "ARG BASE_IMAGE=python:3.11-slim"
    assert lines[1] == "FROM ${BASE_IMAGE}"
    assert "COPY project /project" in lines
    assert "pip install --no-cache-dir -r /project/requirements.txt" in dockerfile
    entrypoint = re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M)
    assert entrypoint is not None
    assert yaml.safe_load(entrypoint.group(1)) == config["local"]["entrypoint"]
    assert config["local"]["binds"] == {"project": "/project"}
    assert config["local"]["requirements"] == "project/requirements.txt"
    script = config["local"]["entrypoint"][1]
    assert (EXAMPLE / name / script.removeprefix("/")).is_file()


def test_requirements_are_identical_and_pinned():
    texts = {(EXAMPLE / name / "project/requirements.txt").read_text(encoding="utf-8") for name in CONTAINERS}
    assert len(texts) == 1, "one virtual environment must serve all four containers"
    names = {}
    for line in texts.pop().splitlines():
        name, _, version = line.partition("==")
        names[name.lower()] = version
    assert set(names) == {"numpy", "pyyaml", "pillow"} and all(names.values())


@pytest.mark.parametrize("name", CONTAINERS)
def test_scripts_fall_back_to_the_declared_mount_paths(name):
    """Each script's default for MP_VOL_<LABEL> is the mount path the config declares for that label."""
    source = SCRIPTS[name].read_text(encoding="utf-8")
    defaults = set(re.findall(r'volume\("(\w+)", "([^"]+)"\)', source))
    for spec in _config(name)["tasks"].values():
        for label, volume in {**spec.get("input_volumes", {}), **spec.get("output_volumes", {})}.items():
            assert (label, volume["mount_path"]) in defaults


def test_parameters_follow_medperf_tutorial():
    prep = yaml.safe_load((EXAMPLE / "data_preparator/parameters.yaml").read_text(encoding="utf-8"))
    assert prep == {"labels_list": LABELS, "image_column_id": "Image ID", "label_column_id": "Label",
                    "image_output_size": [28, 28, 1]}
    assert yaml.safe_load((EXAMPLE / "metrics/parameters.yaml").read_text(encoding="utf-8")) == {"threshold": 0.5}
    for model in ("model_reference", "model_second"):
        params = yaml.safe_load((EXAMPLE / model / "parameters.yaml").read_text(encoding="utf-8"))
        assert params["num_classes"] == 14
