"""Chest X-ray data preparator: prepare, sanity_check and statistics, in MedPerf's tutorial formats.

Usage: ``python3 /project/main.py prepare|sanity_check|statistics``.

Each path is read from ``MP_VOL_<LABEL>`` (set by every medperf-git runner) and falls back to the
mount path declared in container_config.yaml, so the same script runs under docker, apptainer,
sandbox and local. The script writes only into its output volumes.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np
import yaml


class TaskError(Exception):
    """A problem with the input that the data owner can fix; shown as one line, exit status 1."""


def volume(label: str, default: str) -> Path:
    """The path of a volume: the runner's ``MP_VOL_<LABEL>`` or the declared mount path."""
    return Path(os.environ.get(f"MP_VOL_{label.upper()}", default))


def load_parameters() -> dict:
    path = volume("parameters_file", "/mlcommons/volumes/parameters/parameters_file.yaml")
    try:
        with open(path, encoding="utf-8") as f:
            params = yaml.safe_load(f)
    except OSError as exc:
        raise TaskError(f"cannot read the parameters file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise TaskError(f"the parameters file {path} is not valid YAML: {exc}") from exc
    if not isinstance(params, dict):
        raise TaskError(f"the parameters file {path} must hold a mapping")
    for key in ("labels_list", "image_column_id", "label_column_id", "image_output_size"):
        if key not in params:
            raise TaskError(f"the parameters file {path} lacks '{key}'")
    size = params["image_output_size"]
    if not (isinstance(size, list) and len(size) == 3 and size[2] in (1, 3)
            and all(isinstance(n, int) and n > 0 for n in size)):
        raise TaskError(f"image_output_size must be [height, width, 1 or 3], not {size!r}")
    return params


def _check_id(image_id: str, line: int, labels_file: Path) -> None:
    """Refuse ids that would write outside the output folders (``..``, ``/``) or hide files."""
    if not image_id or "/" in image_id or "\\" in image_id or image_id.startswith(".") or "\x00" in image_id:
        raise TaskError(f"{labels_file}:{line}: invalid image id {image_id!r}")


def prepare() -> None:
    """Resize each listed image, save it as float32 in 0..1, and one-hot encode its label."""
    from PIL import Image

    params = load_parameters()
    data_path = volume("data_path", "/mlcommons/volumes/raw_data")
    labels_path = volume("labels_path", "/mlcommons/volumes/raw_labels")
    output_path = volume("output_path", "/mlcommons/volumes/data")
    output_labels_path = volume("output_labels_path", "/mlcommons/volumes/labels")
    labels_list = list(params["labels_list"])
    image_col, label_col = params["image_column_id"], params["label_column_id"]
    height, width, channels = params["image_output_size"]
    mode = "L" if channels == 1 else "RGB"
    resample = getattr(Image, "Resampling", Image).BILINEAR
    eye = np.eye(len(labels_list), dtype=np.int64)

    labels_file = labels_path / "labels.csv"
    try:
        with open(labels_file, newline="", encoding="utf-8-sig") as stream:  # tolerate a BOM
            reader = csv.DictReader(stream)
            columns = reader.fieldnames or []
            rows = [(reader.line_num, row.get(image_col), row.get(label_col)) for row in reader]
    except OSError as exc:
        raise TaskError(f"cannot read {labels_file}: {exc.strerror}") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise TaskError(f"{labels_file} is not a valid CSV file: {exc}") from exc
    missing = [c for c in (image_col, label_col) if c not in columns]
    if missing:
        raise TaskError(f"{labels_file}: missing column(s) {', '.join(repr(c) for c in missing)}; found {columns}")
    if not rows:
        raise TaskError(f"{labels_file} lists no images")

    seen: set[str] = set()
    for line, image_id, label in rows:
        _check_id(image_id or "", line, labels_file)
        if image_id in seen:
            raise TaskError(f"{labels_file}:{line}: image id {image_id!r} is listed twice")
        seen.add(image_id)
        if label not in labels_list:
            raise TaskError(f"{labels_file}:{line}: unknown label {label!r}; expected one of {', '.join(labels_list)}")
        image_file = data_path / f"{image_id}.png"
        try:
            with Image.open(image_file) as img:
                resized = img.convert(mode).resize((width, height), resample)
                pixels = np.asarray(resized, dtype=np.float32) / np.float32(255.0)
        except FileNotFoundError as exc:
            raise TaskError(f"{labels_file}:{line}: image {image_file} is missing") from exc
        except OSError as exc:
            raise TaskError(f"{labels_file}:{line}: cannot read image {image_file}: {exc}") from exc
        pixels = pixels.reshape(height, width, channels)
        np.save(output_path / f"{image_id}.npy", pixels)
        np.save(output_labels_path / f"{image_id}.npy", eye[labels_list.index(label)])
    print(f"Prepared {len(rows)} cases.")


def _npy_names(folder: Path, what: str) -> list[str]:
    try:
        return sorted(p.name for p in folder.iterdir())
    except OSError as exc:
        raise TaskError(f"cannot list the {what} folder {folder}: {exc.strerror}") from exc


def _load_labels(labels_path: Path, names: list[str]) -> np.ndarray:
    try:
        return np.stack([np.load(labels_path / name, allow_pickle=False) for name in names], axis=0)
    except (OSError, ValueError) as exc:
        raise TaskError(f"cannot load the labels in {labels_path}: {exc}") from exc


def sanity_check() -> None:
    """Fail unless data and labels are matching .npy files and each label has one column per class."""
    params = load_parameters()
    data_path = volume("data_path", "/mlcommons/volumes/data")
    labels_path = volume("labels_path", "/mlcommons/volumes/labels")
    num_classes = len(params["labels_list"])
    data_files = _npy_names(data_path, "data")
    label_files = _npy_names(labels_path, "labels")
    if not data_files:
        raise TaskError(f"the data folder {data_path} is empty")
    not_npy = [name for name in data_files if not name.endswith(".npy")]
    if not_npy:
        raise TaskError(f"data files must be .npy; found {', '.join(not_npy[:5])}")
    if data_files != label_files:
        only_data = sorted(set(data_files) - set(label_files))[:5]
        only_labels = sorted(set(label_files) - set(data_files))[:5]
        raise TaskError("label file names must equal data file names; "
                        f"only in data: {only_data}, only in labels: {only_labels}")
    expected_shape = tuple(params["image_output_size"])
    for name in data_files:
        try:
            shape = np.load(data_path / name, mmap_mode="r", allow_pickle=False).shape
        except (OSError, ValueError) as exc:
            raise TaskError(f"cannot load {data_path / name}: {exc}") from exc
        if shape != expected_shape:
            raise TaskError(f"{name} has shape {shape}; expected {expected_shape}")
    labels = _load_labels(labels_path, label_files)
    if labels.ndim != 2 or labels.shape[1] != num_classes:
        raise TaskError(f"labels must be one-hot encoded with {num_classes} columns; found shape {labels.shape[1:]}")
    print("Sanity checks ran successfully.")


def statistics() -> None:
    """Write ``{num_cases, labels_count}``: the only facts about the data that leave the machine."""
    params = load_parameters()
    data_path = volume("data_path", "/mlcommons/volumes/data")
    labels_path = volume("labels_path", "/mlcommons/volumes/labels")
    output_path = volume("output_path", "/mlcommons/volumes/statistics/statistics.yaml")
    labels_list = list(params["labels_list"])
    label_files = [name for name in _npy_names(labels_path, "labels") if name.endswith(".npy")]
    counts = _load_labels(labels_path, label_files).sum(axis=0) if label_files else np.zeros(len(labels_list))
    if len(counts) != len(labels_list):
        raise TaskError(f"labels have {len(counts)} columns but labels_list has {len(labels_list)} entries")
    stats = {
        "num_cases": len([name for name in _npy_names(data_path, "data") if name.endswith(".npy")]),
        "labels_count": {label: int(counts[i]) for i, label in enumerate(labels_list)},
    }
    with open(output_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(stats, f, sort_keys=False)


TASKS = {"prepare": prepare, "sanity_check": sanity_check, "statistics": statistics}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in TASKS:
        print(f"usage: main.py {{{'|'.join(TASKS)}}}", file=sys.stderr)
        return 2
    try:
        TASKS[argv[0]]()
    except TaskError as exc:
        print(f"{argv[0]} failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # for example a full disk or a read-only output
        print(f"{argv[0]} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
