"""MedPerf's layout and settings: workspace/ defaults, a missing parameters file, --shm-size, digests, fixed FROMs."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from medperf_git.errors import ContainerConfigInvalid
from medperf_git.runners import RunOptions, load_config, resolve_container
from medperf_git.runners._spec import build_spec
from medperf_git.runners.docker import build_failure, run_digest

pytestmark = pytest.mark.unprivileged
MEDPERF = Path(__file__).resolve().parents[1] / "medperf_containers" / "chestxray_tutorial"


def _copy(tmp_path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(MEDPERF / name, folder)
    return folder


def _spec(tmp_path, folder: Path, task: str, mounts: dict, **options):
    container = resolve_container(load_config(folder / "container_config.yaml"), cache_dir=tmp_path / "cache")
    opts = RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work", **options)
    return container, build_spec(container, task, mounts, opts)


def test_workspace_parameters_and_additional_files_are_found(tmp_path):
    folder = _copy(tmp_path, "model_custom_cnn")
    (tmp_path / "data").mkdir()
    container, spec = _spec(tmp_path, folder, "infer", {"data_path": tmp_path / "data",
                                                         "output_path": tmp_path / "out"})
    assert container.parameters == {"in_channels": 1, "num_classes": 14, "batch_size": 5}
    assert container.additional_files_dir == folder / "workspace" / "additional_files"
    mounted = {m.label: m.host for m in spec.mounts}
    assert mounted["additional_files"] == folder / "workspace" / "additional_files"
    assert "batch_size: 5" in spec.parameters_path.read_text()


def test_the_flat_layout_still_works(tmp_path):
    folder = _copy(tmp_path, "metrics")
    (folder / "workspace" / "parameters.yaml").rename(folder / "parameters.yaml")
    container = resolve_container(load_config(folder / "container_config.yaml"), cache_dir=tmp_path / "cache")
    assert container.parameters == {"threshold": 0.5} and container.parameters_missing is None


def test_a_missing_parameters_file_is_said_before_running(tmp_path):
    folder = _copy(tmp_path, "metrics")
    (folder / "workspace" / "parameters.yaml").unlink()
    for name in ("predictions", "labels"):
        (tmp_path / name).mkdir()
    with pytest.raises(ContainerConfigInvalid, match="mounts parameters_file, but no parameters file was found") as e:
        _spec(tmp_path, folder, "evaluate", {"predictions": tmp_path / "predictions", "labels": tmp_path / "labels",
                                              "output_path": tmp_path / "results.yaml"})
    assert str(folder / "workspace" / "parameters.yaml") in e.value.message and "--parameters" in e.value.hint
    assert not (tmp_path / "results.yaml").exists()  # refused before any output was made
    # Parameters given by the caller (an empty mapping is a choice) or a parameters_file mount are fine.
    container = resolve_container(load_config(folder / "container_config.yaml"), cache_dir=tmp_path / "cache",
                                  parameters={})
    assert container.parameters_missing is None


def test_shm_size_reaches_the_container_and_wins_over_run_args(tmp_path):
    from medperf_git.runners.docker import create_kwargs

    folder = _copy(tmp_path, "data_preparator")
    (tmp_path / "raw").mkdir()
    mounts = {"data_path": tmp_path / "raw", "labels_path": tmp_path / "raw", "output_path": tmp_path / "o1",
              "output_labels_path": tmp_path / "o2"}
    _, spec = _spec(tmp_path, folder, "prepare", mounts, shm_size="2g")
    assert create_kwargs(spec, "sha256:" + "0" * 64)["shm_size"] == "2g"
    _, spec = _spec(tmp_path, folder, "prepare", mounts)
    assert "shm_size" not in create_kwargs(spec, "sha256:" + "0" * 64)


def test_shm_size_is_a_run_option_of_every_running_command():
    from medperf_git.cli._run_options import run_options, settings_from

    seen = {}

    @click.command()
    @run_options
    def cmd(runner, gpus, python, timeout):
        seen["settings"] = settings_from(runner, gpus, python, timeout, quiet=True)

    result = CliRunner().invoke(cmd, ["--shm-size", "2g"])
    assert result.exit_code == 0, result.output
    assert seen["settings"].shm_size == "2g"
    assert CliRunner().invoke(cmd, ["--shm_size", "1g"]).exit_code == 0 and seen["settings"].shm_size == "1g"


def test_the_repository_digest_is_recorded_as_medperf_records_it():
    image = SimpleNamespace(attrs={"RepoDigests": ["docker.io/other/x@sha256:" + "1" * 64,
                                                   "docker.io/mlcommons/chestxray-tutorial-prep@sha256:" + "2" * 64]})
    assert run_digest(image, "mlcommons/chestxray-tutorial-prep:0.0.1") == "sha256:" + "2" * 64
    assert run_digest(image, "localhost/built:1") == "sha256:" + "1" * 64
    assert run_digest(SimpleNamespace(attrs={"RepoDigests": []}), "x:1") is None


def test_a_fixed_from_that_cannot_be_pulled_names_the_ways_out():
    error = ("creating build container: initializing source docker://python:3.9.16-slim: pinging container "
             "registry registry-1.docker.io: dial tcp: lookup registry-1.docker.io: no such host")
    failure = build_failure(MEDPERF / "metrics" / "Dockerfile", error, "localhost/medperf-base:bookworm")
    assert "its base image python:3.9.16-slim could not be pulled" in failure.message
    assert "MEDPERF_GIT_BASE_IMAGE cannot help" in failure.message
    assert all(way in failure.hint for way in ("image: REPO@sha256", "DockerArchive", "--runner sandbox"))
    other = build_failure(MEDPERF / "metrics" / "Dockerfile", "COPY failed: no source files", None)
    assert "MEDPERF_GIT_BASE_IMAGE" not in other.message
