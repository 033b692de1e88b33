"""The two example models: predictions.json in MedPerf's format, better than chance, and clear errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml
from chestxray_helpers import EXAMPLE, needs_numeric_stack, run_task

pytestmark = needs_numeric_stack
MODELS = ("model_reference", "model_second")


def _infer(model, data, out, home, additional=None):
    out.mkdir(parents=True, exist_ok=True)
    return run_task(model, [], {
        "data_path": data, "output_path": out,
        "additional_files": additional or EXAMPLE / model / "additional_files",
        "parameters_file": EXAMPLE / model / "parameters.yaml"}, home)


def _evaluate(predictions, labels, out, home):
    out.touch()
    run = run_task("metrics", [], {"predictions": predictions, "labels": labels, "output_path": out,
                                   "parameters_file": EXAMPLE / "metrics/parameters.yaml"}, home)
    assert run.returncode == 0, run.stderr
    return yaml.safe_load(out.read_text())


@pytest.mark.parametrize("model", MODELS)
def test_model_writes_14_scores_per_case_and_beats_chance(model, prepared, tmp_path, task_home):
    run = _infer(model, prepared.data, tmp_path / "predictions", task_home)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "predictions").iterdir()) == ["predictions.json"]
    predictions = json.loads((tmp_path / "predictions/predictions.json").read_text())
    assert sorted(predictions) == sorted(image_id for image_id, _ in prepared.rows)
    scores = np.array(list(predictions.values()))
    assert scores.shape == (len(prepared.rows), 14)
    assert ((scores >= 0) & (scores <= 1)).all()
    metrics = _evaluate(tmp_path / "predictions", prepared.labels, tmp_path / "results.yaml", task_home)
    # Chance gives an AUC of about 0.5 times the share of labels present; these models do far better.
    assert metrics["AUC"] > 0.6 and metrics["Accuracy"] > 0.9
    assert list(task_home.iterdir()) == []


def test_models_differ_and_are_deterministic(prepared, tmp_path, task_home):
    outputs = {}
    for model in MODELS + ("model_reference",):
        out = tmp_path / f"{model}-{len(outputs)}"
        assert _infer(model, prepared.data, out, task_home).returncode == 0
        outputs.setdefault(model, []).append((out / "predictions.json").read_bytes())
    assert outputs["model_reference"][0] == outputs["model_reference"][1]
    assert outputs["model_reference"][0] != outputs["model_second"][0]


@pytest.mark.parametrize("model", MODELS)
def test_model_without_weights_fails_clearly(model, prepared, tmp_path, task_home):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    run = _infer(model, prepared.data, tmp_path / "out", task_home, additional=empty)
    assert run.returncode == 1
    assert "infer failed: cannot load the weights" in run.stderr and "weights.npz" in run.stderr
    assert "Traceback" not in run.stderr


def test_model_refuses_weights_of_the_other_architecture(prepared, tmp_path, task_home):
    swapped = tmp_path / "swapped"
    shutil.copytree(EXAMPLE / "model_second/additional_files", swapped)
    run = _infer("model_reference", prepared.data, tmp_path / "out", task_home, additional=swapped)
    assert run.returncode == 1 and "weights.npz must hold W and b" in run.stderr


def test_model_refuses_cases_of_the_wrong_size(prepared, tmp_path, task_home):
    data = tmp_path / "odd"
    data.mkdir()
    np.save(data / "x.npy", np.zeros((32, 32, 1), dtype=np.float32))
    run = _infer("model_second", data, tmp_path / "out", task_home)
    assert run.returncode == 1 and "cases have 1024 values; the model expects 784" in run.stderr


def test_model_refuses_an_empty_data_folder(tmp_path, task_home):
    data = tmp_path / "empty"
    data.mkdir()
    run = _infer("model_reference", data, tmp_path / "out", task_home)
    assert run.returncode == 1 and "no .npy files in" in run.stderr
