"""MedPerf's container_config accepted as is, mlcube.yaml converted, and every bad config named clearly."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from medperf_git.errors import EXIT_LINT, ContainerConfigInvalid
from medperf_git.runners.config import convert_mlcube, load_config, parse_config

pytestmark = pytest.mark.unprivileged
REPO = Path(__file__).resolve().parents[2]

# MedPerf's tutorial data preparator config, verbatim in shape (reference §1.2).
MEDPERF_PREP = {
    "container_type": "DockerImage",
    "image": "mlcommons/chestxray-tutorial-prep:0.0.1",
    "tasks": {
        "prepare": {
            "run_args": {"command": "python3 /project/prepare.py"},
            "input_volumes": {
                "data_path": {"mount_path": "/mlcommons/volumes/raw_data", "type": "directory"},
                "labels_path": {"mount_path": "/mlcommons/volumes/raw_labels", "type": "directory"},
                "parameters_file": {"mount_path": "/mlcommons/volumes/parameters/parameters_file.yaml",
                                    "type": "file"},
            },
            "output_volumes": {
                "output_path": {"mount_path": "/mlcommons/volumes/data", "type": "directory"},
                "output_labels_path": {"mount_path": "/mlcommons/volumes/labels", "type": "directory"},
            },
        },
        "statistics": {
            "output_volumes": {
                "output_path": {"mount_path": "/mlcommons/volumes/statistics/statistics.yaml", "type": "file"}},
        },
    },
}


def test_medperf_config_is_accepted_as_is():
    config = parse_config(copy.deepcopy(MEDPERF_PREP), "prep.yaml")
    prepare = config.task("prepare")
    assert prepare.command == ["python3", "/project/prepare.py"]
    assert prepare.inputs["data_path"].mount_path == "/mlcommons/volumes/raw_data"
    assert not prepare.inputs["data_path"].output and prepare.outputs["output_path"].output
    assert config.task("statistics").outputs["output_path"].is_file
    assert config.config_hash.startswith("sha256:")
    assert config.data == MEDPERF_PREP


def test_config_hash_ignores_yaml_formatting(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(yaml.safe_dump(MEDPERF_PREP, sort_keys=True))
    b.write_text(yaml.safe_dump(MEDPERF_PREP, sort_keys=False, default_flow_style=True))
    assert load_config(a).config_hash == load_config(b).config_hash


@pytest.mark.parametrize("folder", ["data_preparator", "model_reference", "model_second", "metrics"])
def test_example_configs_parse(folder):
    path = REPO / "examples" / "chestxray" / folder / "container_config.yaml"
    if not path.is_file():
        pytest.skip(f"{path} is not there yet")
    config = load_config(path)
    assert config.source_dir == path.parent
    assert config.local_section().entrypoint


def _with(mutate) -> dict:
    data = copy.deepcopy(MEDPERF_PREP)
    mutate(data)
    return data


def _set_mount(path: str):
    def mutate(data):
        data["tasks"]["prepare"]["input_volumes"]["data_path"]["mount_path"] = path
    return mutate


@pytest.mark.parametrize(("mount_path", "message"), [
    ("mlcommons/volumes/raw_data", "is relative"),
    ("/", "'/' cannot be a mount_path"),
    ("/proc/data", "under /proc"),
    ("/sys", "under /sys"),
    ("/dev/shm/data", "under /dev"),
    ("/tmp/data", "under /tmp"),
    ("/mlcommons/../etc", "not normalised"),
])
def test_bad_mount_paths_are_named(mount_path, message):
    with pytest.raises(ContainerConfigInvalid) as info:
        parse_config(_with(_set_mount(mount_path)), "prep.yaml")
    assert info.value.exit_code == EXIT_LINT
    assert info.value.message.startswith("prep.yaml: tasks.prepare.input_volumes.data_path.mount_path: ")
    assert message in info.value.message


def test_duplicate_mount_paths_in_a_task_are_refused():
    def mutate(data):
        data["tasks"]["prepare"]["output_volumes"]["output_path"]["mount_path"] = "/mlcommons/volumes/raw_data"
    with pytest.raises(ContainerConfigInvalid, match="also the mount_path of 'data_path'"):
        parse_config(_with(mutate), "prep.yaml")


def test_unknown_run_args_are_refused():
    def mutate(data):
        data["tasks"]["prepare"]["run_args"]["privileged"] = True
    with pytest.raises(ContainerConfigInvalid) as info:
        parse_config(_with(mutate), "prep.yaml")
    assert "tasks.prepare.run_args" in info.value.message and "'privileged'" in info.value.message


def test_schema_problems_name_file_field_and_value():
    def mutate(data):
        data["tasks"]["prepare"]["input_volumes"]["data_path"]["type"] = "folder"
    with pytest.raises(ContainerConfigInvalid) as info:
        parse_config(_with(mutate), "prep.yaml")
    assert "prep.yaml: tasks.prepare.input_volumes.data_path.type" in info.value.message
    assert '"folder"' in info.value.message


def test_local_entrypoint_is_optional_when_tasks_give_a_command():
    data = _with(lambda d: d.update(local={"binds": {"project": "/project"}}))
    assert parse_config(data, "prep.yaml").local.entrypoint is None


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ContainerConfigInvalid, match="no such file"):
        load_config(tmp_path / "container_config.yaml")


def test_an_unknown_task_is_named():
    config = parse_config(copy.deepcopy(MEDPERF_PREP), "prep.yaml")
    with pytest.raises(ContainerConfigInvalid, match="no task 'infer'"):
        config.task("infer")


MLCUBE = {
    "name": "fets_metrics", "platform": {"accelerator_count": 0},
    "docker": {"image": "mlcommons/fets_metrics:0.0.1", "build_context": "../project"},
    "tasks": {"evaluate": {"parameters": {
        "inputs": {"predictions": {"type": "directory", "default": "predictions"},
                   "labels": {"type": "directory", "default": "labels"},
                   "parameters_file": "parameters.yaml"},
        "outputs": {"output_path": {"type": "file", "default": "results.yaml"}}}}},
}


def test_mlcube_yaml_is_converted():
    converted = convert_mlcube(copy.deepcopy(MLCUBE))
    assert converted["image"] == "mlcommons/fets_metrics:0.0.1"
    assert converted["pass_paths_as_args"] is True
    evaluate = converted["tasks"]["evaluate"]
    assert evaluate["run_args"] == {"command": ["evaluate"]}
    assert evaluate["input_volumes"]["predictions"] == {"mount_path": "/mlcube_io/predictions", "type": "directory"}
    assert evaluate["input_volumes"]["parameters_file"] == {"mount_path": "/mlcube_io/parameters_file/parameters.yaml",
                                                          "type": "file"}
    assert evaluate["output_volumes"]["output_path"]["mount_path"] == "/mlcube_io/output_path/results.yaml"
    config = parse_config(copy.deepcopy(MLCUBE), "mlcube.yaml")
    assert config.pass_paths_as_args and config.task("evaluate").command == ["evaluate"]
