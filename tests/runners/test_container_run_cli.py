"""`medperf-git container run`: one task of a local container, for container authors."""

from __future__ import annotations

import pytest
from runner_helpers import ALL_RUNNERS

SCRIPT = """\
import os
print("counting files")
names = sorted(os.listdir(os.environ["MP_VOL_DATA_PATH"]))
threshold = open(os.environ["MP_VOL_PARAMETERS_FILE"]).read().strip()
open(os.path.join(os.environ["MP_VOL_OUTPUT_PATH"], "files.txt"), "w").write(",".join(names) + "|" + threshold)
"""


@pytest.mark.parametrize("engine", ALL_RUNNERS)
def test_runs_one_task_streams_output_and_names_the_next_step(engine, invoke, make_container, tmp_path):
    config = make_container(SCRIPT)
    (config.parent / "parameters.yaml").write_text("threshold: 0.7\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.png").write_bytes(b"png")
    result = invoke("container", "run", "--config", config, "--task", "infer", "--mount", f"data_path={data}",
                    "--mount", f"output_path={tmp_path / 'out'}", "--runner", engine,
                    "--output-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "files.txt").read_text() == "x.png|threshold: 0.7"
    assert "counting files" in result.stderr
    assert "Next step: medperf-git container submit" in result.stderr
    assert "counting files" in (tmp_path / "run" / "logs" / "infer.log").read_text()
    warned = "the local runner isolates nothing" in result.stderr
    assert warned == (engine == "local")


def test_a_failing_task_exits_5_with_the_log_tail(invoke, make_container, tmp_path):
    config = make_container("import sys\nprint('no images found')\nsys.exit(1)\n")
    (tmp_path / "data").mkdir()
    result = invoke("container", "run", "--config", config, "--task", "infer", "--mount",
                    f"data_path={tmp_path / 'data'}", "--mount", f"output_path={tmp_path / 'out'}",
                    "--runner", "local", "--output-dir", tmp_path / "run")
    assert result.exit_code == 5
    assert "Error: task 'infer' failed under the local runner (exit code 1)" in result.stderr
    assert "no images found" in result.stderr
    assert "Traceback" not in result.output


def test_a_missing_mount_names_the_label(invoke, make_container, tmp_path):
    result = invoke("container", "run", "--config", make_container(SCRIPT), "--task", "infer",
                    "--runner", "local", "--output-dir", tmp_path / "run")
    assert result.exit_code == 3
    assert "needs the input volume 'data_path'" in result.stderr
    assert "--mount data_path=PATH" in result.stderr


def test_a_bad_mount_option_is_a_usage_error(invoke, make_container, tmp_path):
    result = invoke("container", "run", "--config", make_container(SCRIPT), "--task", "infer",
                    "--mount", "data_path", "--runner", "local")
    assert result.exit_code == 2
    assert "is not LABEL=PATH" in result.output


def test_a_bad_config_names_file_and_field(invoke, tmp_path):
    config = tmp_path / "container_config.yaml"
    config.write_text("tasks:\n  infer:\n    input_volumes:\n      data_path: {mount_path: data, type: directory}\n")
    result = invoke("container", "run", "--config", config, "--task", "infer", "--runner", "local")
    assert result.exit_code == 3
    assert f"{config}: tasks.infer.input_volumes.data_path.mount_path: 'data' is relative" in result.stderr


@pytest.mark.parametrize("engine", ALL_RUNNERS[:2])
def test_an_example_model_runs_with_its_own_parameters_and_additional_files(engine, invoke, tmp_path):
    """The chest X-ray reference model, as its author would try it: weights come from additional_files/."""
    import json
    import sys
    from pathlib import Path

    np = pytest.importorskip("numpy")
    example = Path(__file__).resolve().parents[2] / "examples" / "chestxray" / "model_reference"
    config = example / "container_config.yaml"
    if not config.is_file():
        pytest.skip("the example model is not there")
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for case in ("p1", "p2", "p3"):
        np.save(data / f"{case}.npy", rng.random((28, 28, 1), dtype=np.float32))
    result = invoke("container", "run", "--config", config, "--task", "infer", "--mount", f"data_path={data}",
                    "--mount", f"output_path={tmp_path / 'predictions'}", "--runner", engine,
                    "--python", sys.executable, "--output-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    predictions = json.loads((tmp_path / "predictions" / "predictions.json").read_text())
    assert sorted(predictions) == ["p1", "p2", "p3"]
    assert all(len(scores) == 14 and all(0 <= s <= 1 for s in scores) for scores in predictions.values())
