"""The metrics container: Accuracy and AUC as MedPerf's tutorial computes them, checked against hand-made values."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import yaml
from chestxray_helpers import SCRIPTS, needs_numeric_stack, run_task

pytestmark = needs_numeric_stack

# Four cases: a and b have label 0, c label 1, d label 2.
TRUE = {"a": 0, "b": 0, "c": 1, "d": 2}
SCORES = {  # label 0, 1, 2, 3, then ten labels at 0.0
    "a": [0.9, 0.2, 0.3, 0.5],
    "b": [0.4, 0.6, 0.3, 0.5],
    "c": [0.4, 0.7, 0.3, 0.5],
    "d": [0.1, 0.6, 0.3, 0.5],
}


def _write_case(tmp_path, threshold=0.5):
    predictions, labels = tmp_path / "predictions", tmp_path / "labels"
    predictions.mkdir()
    labels.mkdir()
    (predictions / "predictions.json").write_text(json.dumps({k: v + [0.0] * 10 for k, v in SCORES.items()}))
    for case, label in TRUE.items():
        np.save(labels / f"{case}.npy", np.eye(14, dtype=np.int64)[label])
    params = tmp_path / "parameters.yaml"
    params.write_text(yaml.safe_dump({"threshold": threshold}))
    return predictions, labels, params


def _evaluate(predictions, labels, params, out, home):
    out.touch()
    return run_task("metrics", [], {"predictions": predictions, "labels": labels, "output_path": out,
                                    "parameters_file": params}, home)


def test_hand_made_predictions_give_the_expected_metrics(tmp_path, task_home):
    predictions, labels, params = _write_case(tmp_path)
    run = _evaluate(predictions, labels, params, tmp_path / "results.yaml", task_home)
    assert run.returncode == 0, run.stderr
    results = yaml.safe_load((tmp_path / "results.yaml").read_text())
    assert list(results) == ["Accuracy", "AUC"]
    # Accuracy at score > 0.5, per label: label 0 predicts [1,0,0,0] for [1,1,0,0] -> 3/4; label 1 [0,1,1,1] for
    # [0,0,1,0] -> 2/4; label 2 [0,0,0,0] for [0,0,0,1] -> 3/4; label 3 (0.5 is not > 0.5) and the ten others -> 1.
    assert results["Accuracy"] == pytest.approx((0.75 + 0.5 + 0.75 + 1 + 10) / 14)
    # AUC per label with both classes: label 0: positives 0.9 and 0.4 against negatives 0.4 and 0.1 -> 2 + (0.5 + 1)
    # = 3.5 of 4 pairs; label 1: 0.7 beats the three negatives -> 1; label 2: all tied -> 0.5. Divided by all 14.
    assert results["AUC"] == pytest.approx((0.875 + 1.0 + 0.5) / 14)


def test_threshold_comes_from_the_parameters(tmp_path, task_home):
    predictions, labels, params = _write_case(tmp_path, threshold=0.35)
    assert _evaluate(predictions, labels, params, tmp_path / "results.yaml", task_home).returncode == 0
    # label 0 now predicts [1,1,1,0] -> 3/4; label 1 2/4; label 2 3/4; label 3 predicts all positive -> 0.
    assert yaml.safe_load((tmp_path / "results.yaml").read_text())["Accuracy"] == pytest.approx(12 / 14)


def _load_metrics_module():
    spec = importlib.util.spec_from_file_location("chestxray_metrics", SCRIPTS["metrics"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_roc_auc_equals_the_pairwise_definition_with_ties():
    """AUC = P(score of a positive > score of a negative) + 0.5 P(equal), the value scikit-learn returns."""
    metrics = _load_metrics_module()
    rng = np.random.default_rng(7)
    for _ in range(50):
        n = int(rng.integers(2, 40))
        y = rng.integers(0, 2, n)
        s = rng.integers(0, 5, n) / 4.0  # few distinct values, so many ties
        pos, neg = s[y == 1], s[y == 0]
        if len(pos) == 0 or len(neg) == 0:
            assert metrics.roc_auc(y, s) is None
            continue
        diff = pos[:, None] - neg[None, :]
        expected = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
        assert metrics.roc_auc(y, s) == pytest.approx(expected)
    assert metrics.roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)


def test_missing_label_is_a_clear_error(tmp_path, task_home):
    predictions, labels, params = _write_case(tmp_path)
    (labels / "c.npy").unlink()
    run = _evaluate(predictions, labels, params, tmp_path / "results.yaml", task_home)
    assert run.returncode == 1
    assert "evaluate failed: no label for case 'c'" in run.stderr and "Traceback" not in run.stderr


def test_malformed_predictions_are_a_clear_error(tmp_path, task_home):
    predictions, labels, params = _write_case(tmp_path)
    (predictions / "predictions.json").write_text("{not json")
    run = _evaluate(predictions, labels, params, tmp_path / "results.yaml", task_home)
    assert run.returncode == 1 and "predictions.json is not valid JSON" in run.stderr
    (predictions / "predictions.json").write_text(json.dumps({"a": [0.1] * 13}))
    run = _evaluate(predictions, labels, params, tmp_path / "results.yaml", task_home)
    assert run.returncode == 1 and "case 'a' has 13 scores but its label has 14 columns" in run.stderr
    (predictions / "predictions.json").write_text(json.dumps({"a": "high"}))
    run = _evaluate(predictions, labels, params, tmp_path / "results.yaml", task_home)
    assert run.returncode == 1 and "the prediction for 'a' is not a list of numbers" in run.stderr
