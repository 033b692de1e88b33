"""Chest X-ray second model: a two-layer perceptron (tanh hidden layer, sigmoid outputs), in numpy.

Reads ``data/<id>.npy`` and writes ``predictions.json`` = ``{id: [14 scores in 0..1]}``, MedPerf's
tutorial format. The weights (``W1``, ``b1``, ``W2``, ``b2``) come from ``weights.npz`` in the
additional files.
Each path is read from ``MP_VOL_<LABEL>`` and falls back to the declared mount path, so the script
runs unchanged under every runner; it writes only into its output folder.
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


def load_parameters() -> dict:
    path = volume("parameters_file", "/mlcommons/volumes/parameters/parameters_file.yaml")
    try:
        with open(path, encoding="utf-8") as f:
            params = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TaskError(f"cannot read the parameters file {path}: {exc}") from exc
    return params if isinstance(params, dict) else {}


def load_weights() -> dict[str, np.ndarray]:
    path = volume("additional_files", "/mlcommons/volumes/additional_files") / "weights.npz"
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key].astype(np.float64) for key in npz.files}
    except (OSError, ValueError) as exc:
        raise TaskError(f"cannot load the weights {path}: {exc}") from exc


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


def forward(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Scores in 0..1, one column per label."""
    hidden = np.tanh(x @ weights["W1"] + weights["b1"])
    return sigmoid(hidden @ weights["W2"] + weights["b2"])


def infer() -> None:
    params = load_parameters()
    weights = load_weights()
    if not {"W1", "b1", "W2", "b2"} <= set(weights):
        raise TaskError(f"weights.npz must hold W1, b1, W2 and b2; found {sorted(weights)}")
    num_classes = int(params.get("num_classes", 14))
    batch_size = max(1, int(params.get("batch_size", 5)))
    if weights["W2"].shape[1] != num_classes:
        raise TaskError(f"the weights give {weights['W2'].shape[1]} classes; parameters say {num_classes}")
    data_path = volume("data_path", "/mlcommons/volumes/data")
    output_path = volume("output_path", "/mlcommons/volumes/predictions")
    try:
        files = sorted(p for p in data_path.iterdir() if p.suffix == ".npy")
    except OSError as exc:
        raise TaskError(f"cannot list the data folder {data_path}: {exc.strerror}") from exc
    if not files:
        raise TaskError(f"no .npy files in {data_path}")

    predictions: dict[str, list[float]] = {}
    for start in range(0, len(files), batch_size):
        batch = files[start:start + batch_size]
        try:
            x = np.stack([np.load(p, allow_pickle=False).astype(np.float64).reshape(-1) for p in batch])
        except (OSError, ValueError) as exc:
            raise TaskError(f"cannot load a case among {batch[0].name}..{batch[-1].name}: {exc}") from exc
        if x.shape[1] != weights["W1"].shape[0]:
            raise TaskError(f"cases have {x.shape[1]} values; the model expects {weights['W1'].shape[0]}")
        for path, scores in zip(batch, forward(weights, x), strict=True):
            predictions[path.stem] = [round(float(s), 6) for s in scores]
    with open(output_path / "predictions.json", "w", encoding="utf-8") as f:
        json.dump(predictions, f, indent=1, sort_keys=True)
    print(f"Predicted {len(predictions)} cases.")


def main() -> int:
    try:
        infer()
    except TaskError as exc:
        print(f"infer failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # for example a full disk or a read-only output
        print(f"infer failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
