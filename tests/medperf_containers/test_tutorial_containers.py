"""MedPerf's chest X-ray tutorial containers, as MedPerf publishes them, under docker and the sandbox.

Their configs, projects and parameters are MedPerf's unchanged (see README.md): the scripts hard-code
``/mlcommons/volumes/...``, the metrics and model name their command only in their Dockerfile's
ENTRYPOINT, and their parameters sit in ``workspace/parameters.yaml``. Every output must be the bytes
that running their Python directly gives.
"""

from __future__ import annotations

import pytest
from conftest import engine_param
from medperf_tutorial import TUTORIAL, ensure_image, python_of, tree_bytes

ENGINES = [engine_param("docker"), engine_param("sandbox")]


def _config(container: str):
    return TUTORIAL / container / "container_config.yaml"


@pytest.mark.parametrize("engine", ENGINES)
def test_container_run_gives_the_bytes_of_a_direct_run(engine, raw, weights, direct, tmp_path, invoke):
    """`container run` of each task, with MedPerf's folders as they are; only the runner is chosen."""
    out = tmp_path / "out"

    def run(container: str, task: str, *args: str) -> str:
        extra = ["--python", python_of(container)] if engine == "sandbox" else []
        if engine == "docker":
            ensure_image(container)  # the config's image, built from MedPerf's Dockerfile (base substituted)
        result = invoke("container", "run", "--config", _config(container), "--task", task, *args,
                        "--runner", engine, "--output-dir", tmp_path / "runs" / task, *extra)
        assert result.exit_code == 0, result.output
        return result.output

    run("data_preparator", "prepare", "-m", f"data_path={raw / 'images'}", "-m", f"labels_path={raw / 'labels'}",
        "-m", f"output_path={out / 'data'}", "-m", f"output_labels_path={out / 'labels'}")
    prepared = ["-m", f"data_path={out / 'data'}", "-m", f"labels_path={out / 'labels'}"]
    assert "Sanity checks ran successfully." in run("data_preparator", "sanity_check", *prepared)
    run("data_preparator", "statistics", *prepared, "-m", f"output_path={out / 'statistics.yaml'}")
    # The model's command is only its Dockerfile's ENTRYPOINT; its weights are the additional files.
    run("model_custom_cnn", "infer", "-m", f"data_path={out / 'data'}", "-m", f"output_path={out / 'predictions'}",
        "--additional-files", weights)
    run("metrics", "evaluate", "-m", f"predictions={out / 'predictions'}", "-m", f"labels={out / 'labels'}",
        "-m", f"output_path={out / 'results.yaml'}")
    assert tree_bytes(out) == tree_bytes(direct)


@pytest.mark.parametrize("engine", [engine_param("sandbox")])
def test_a_missing_parameters_file_is_named_before_the_task_runs(engine, raw, tmp_path, invoke):
    """Without workspace/parameters.yaml the task would fail inside on a KeyError; it is refused first."""
    import shutil

    folder = tmp_path / "prep"
    shutil.copytree(TUTORIAL / "data_preparator", folder)
    (folder / "workspace" / "parameters.yaml").unlink()
    result = invoke("container", "run", "--config", folder / "container_config.yaml", "--task", "prepare",
                    "-m", f"data_path={raw / 'images'}", "-m", f"labels_path={raw / 'labels'}",
                    "-m", f"output_path={tmp_path / 'data'}", "-m", f"output_labels_path={tmp_path / 'labels'}",
                    "--runner", engine, "--python", python_of("data_preparator"))
    assert result.exit_code != 0
    assert "mounts parameters_file, but no parameters file was found" in result.output
    assert str(folder / "workspace" / "parameters.yaml") in result.output
    assert "KeyError" not in result.output and not (tmp_path / "data").exists()

