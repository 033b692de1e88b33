"""Chest X-ray metrics: Accuracy and AUC as MedPerf's tutorial computes them, in numpy only.

- Accuracy: the mean over the labels of the accuracy of ``score > threshold``.
- AUC: the ROC AUC of each label that has both classes (ties count one half, as in scikit-learn's
  ``roc_auc_score``), summed and divided by the number of labels, so a label with one class counts 0.

Reads ``predictions/predictions.json`` and ``labels/<id>.npy``; writes ``results.yaml`` =
``{Accuracy, AUC}``. Each path is read from ``MP_VOL_<LABEL>`` and falls back to the declared mount
path, so the script runs unchanged under every runner.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import yaml


class TaskError(Exception):
    """A problem with the inputs, shown as one line with exit status 1."""


def volume(label: str, default: str) -> Path:
    """The path of a volume: the runner's ``MP_VOL_<LABEL>`` or the declared mount path."""
    return Path(os.environ.get(f"MP_VOL_{label.upper()}", default))


def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float | None:
    """Area under the ROC curve, or None when one class is absent.

    Uses the rank-sum form (Mann-Whitney U) with average ranks for tied scores, which equals the
    trapezoidal area under the ROC curve that scikit-learn computes.
    """
    y_true = np.asarray(y_true).astype(bool)
    y_score = np.asarray(y_score, dtype=np.float64)
    n_pos = int(y_true.sum())
    n_neg = y_true.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(y_score, kind="mergesort")
    sorted_scores = y_score[order]
    # Average rank (1-based) of each run of equal scores.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], sorted_scores.size]
    average = (starts + ends + 1) / 2.0
    ranks = np.empty(y_score.size, dtype=np.float64)
    ranks[order] = np.repeat(average, ends - starts)
    u = ranks[y_true].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def global_accuracy(y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> float:
    predicted = y_score > threshold
    return float(np.mean([np.mean(y_true[:, i] == predicted[:, i]) for i in range(y_true.shape[1])]))


def global_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    aucs = [roc_auc(y_true[:, i], y_score[:, i]) for i in range(y_score.shape[1])]
    return float(sum(a for a in aucs if a is not None) / y_score.shape[1])


def load_inputs(predictions_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    predictions_file = predictions_path / "predictions.json"
    try:
        with open(predictions_file, encoding="utf-8") as f:
            predictions = json.load(f)
    except OSError as exc:
        raise TaskError(f"cannot read {predictions_file}: {exc.strerror}") from exc
    except ValueError as exc:
        raise TaskError(f"{predictions_file} is not valid JSON: {exc}") from exc
    if not isinstance(predictions, dict) or not predictions:
        raise TaskError(f"{predictions_file} must map case ids to score lists")
    scores, labels = [], []
    for case_id in sorted(predictions):
        row = predictions[case_id]
        if (not isinstance(row, list) or not row
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row)):
            raise TaskError(f"{predictions_file}: the prediction for {case_id!r} is not a list of numbers")
        if "/" in case_id or case_id.startswith("."):
            raise TaskError(f"{predictions_file}: invalid case id {case_id!r}")
        label_file = labels_path / f"{case_id}.npy"
        try:
            label = np.load(label_file, allow_pickle=False).reshape(-1)
        except FileNotFoundError as exc:
            raise TaskError(f"no label for case {case_id!r} ({label_file} is missing)") from exc
        except (OSError, ValueError) as exc:
            raise TaskError(f"cannot load {label_file}: {exc}") from exc
        if len(label) != len(row):
            raise TaskError(f"case {case_id!r} has {len(row)} scores but its label has {len(label)} columns")
        scores.append(row)
        labels.append(label)
    return np.asarray(labels, dtype=np.float64), np.asarray(scores, dtype=np.float64)


def evaluate() -> None:
    parameters_file = volume("parameters_file", "/mlcommons/volumes/parameters/parameters_file.yaml")
    try:
        with open(parameters_file, encoding="utf-8") as f:
            params = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TaskError(f"cannot read the parameters file {parameters_file}: {exc}") from exc
    threshold = float(params.get("threshold", 0.5)) if isinstance(params, dict) else 0.5
    labels, scores = load_inputs(volume("predictions", "/mlcommons/volumes/predictions"),
                                 volume("labels", "/mlcommons/volumes/labels"))
    results = {
        "Accuracy": global_accuracy(labels, scores, threshold),
        "AUC": global_auc(labels, scores),
    }
    output_path = volume("output_path", "/mlcommons/volumes/results/results.yaml")
    with open(output_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(results, f, sort_keys=False)
    print(f"Accuracy {results['Accuracy']:.4f}, AUC {results['AUC']:.4f} over {len(labels)} cases.")


def main() -> int:
    try:
        evaluate()
    except TaskError as exc:
        print(f"evaluate failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # for example a full disk or a read-only output
        print(f"evaluate failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
