#!/usr/bin/env python3
"""Regenerate the example models' weights (``<model>/additional_files/weights.npz``) from a fixed seed.

It makes mock raw data (make_mock_data.py), prepares it with the data preparator's own script,
and trains, with full-batch gradient descent in numpy:
- model_reference: a linear (logistic) classifier, ``W`` (784, 14) and ``b`` (14,);
- model_second: a two-layer perceptron, ``W1`` (784, 32), ``b1``, ``W2`` (32, 14), ``b2``.

The committed .npz files are the pinned ones; this script documents where they came from. It needs
numpy, PyYAML and Pillow (like the containers). The .npz is written with fixed zip timestamps, so
the same arrays give the same bytes.

    python3 examples/chestxray/tools/make_weights.py [--seed 2024] [--count 600]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True

from make_mock_data import make_mock_data  # noqa: E402


def prepared_arrays(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mock data run through the data preparator's prepare task, as (cases x 784, cases x 14)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_mock_data(root / "raw", count, seed)
        for name in ("data", "labels"):
            (root / name).mkdir()
        env = dict(os.environ, MP_VOL_DATA_PATH=str(root / "raw/images"), MP_VOL_LABELS_PATH=str(root / "raw/labels"),
                   MP_VOL_OUTPUT_PATH=str(root / "data"), MP_VOL_OUTPUT_LABELS_PATH=str(root / "labels"),
                   MP_VOL_PARAMETERS_FILE=str(EXAMPLE / "data_preparator/parameters.yaml"))
        subprocess.run([sys.executable, str(EXAMPLE / "data_preparator/project/main.py"), "prepare"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        names = sorted(p.name for p in (root / "data").iterdir())
        x = np.stack([np.load(root / "data" / n).reshape(-1) for n in names]).astype(np.float64)
        y = np.stack([np.load(root / "labels" / n) for n in names]).astype(np.float64)
    return x, y


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


def train_linear(x: np.ndarray, y: np.ndarray, steps: int = 400, lr: float = 1.0) -> dict[str, np.ndarray]:
    w = np.zeros((x.shape[1], y.shape[1]))
    b = np.zeros(y.shape[1])
    for _ in range(steps):
        grad = (_sigmoid(x @ w + b) - y) / len(x)
        w -= lr * (x.T @ grad + 1e-4 * w)
        b -= lr * grad.sum(axis=0)
    return {"W": w, "b": b}


def train_mlp(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, hidden: int = 32, steps: int = 600,
              lr: float = 0.5) -> dict[str, np.ndarray]:
    """Train on standardised pixels (tanh units saturate otherwise), then fold the scaling into W1, b1."""
    mean, scale = x.mean(axis=0), x.std()
    xs = (x - mean) / scale
    w1 = rng.normal(0.0, 1.0 / np.sqrt(x.shape[1]), (x.shape[1], hidden))
    b1 = np.zeros(hidden)
    w2 = rng.normal(0.0, 1.0 / np.sqrt(hidden), (hidden, y.shape[1]))
    b2 = np.zeros(y.shape[1])
    for _ in range(steps):
        h = np.tanh(xs @ w1 + b1)
        grad_out = (_sigmoid(h @ w2 + b2) - y) / len(x)
        grad_h = (grad_out @ w2.T) * (1.0 - h ** 2)
        w2 -= lr * h.T @ grad_out
        b2 -= lr * grad_out.sum(axis=0)
        w1 -= lr * xs.T @ grad_h
        b1 -= lr * grad_h.sum(axis=0)
    w1 = w1 / scale
    return {"W1": w1, "b1": b1 - mean @ w1, "W2": w2, "b2": b2}


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz that ``np.load`` reads, with fixed timestamps so equal arrays give equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name], dtype="<f4"), version=(1, 0))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2024, help="seed of the training data and the MLP's start")
    parser.add_argument("--count", type=int, default=600, help="number of training cases")
    args = parser.parse_args(argv)
    x, y = prepared_arrays(args.count, args.seed)
    rng = np.random.default_rng(args.seed)
    for model, weights in (("model_reference", train_linear(x, y)), ("model_second", train_mlp(x, y, rng))):
        target = EXAMPLE / model / "additional_files" / "weights.npz"
        save_npz(target, weights)
        print(f"wrote {target.relative_to(EXAMPLE)} ({', '.join(f'{k}{v.shape}' for k, v in sorted(weights.items()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
