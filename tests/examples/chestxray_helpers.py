"""Helpers for the chest X-ray example tests: run a task's script as the runners do, through MP_VOL_* variables."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chestxray"
TOOLS = EXAMPLE / "tools"
SCRIPTS = {
    "data_preparator": EXAMPLE / "data_preparator/project/main.py",
    "model_reference": EXAMPLE / "model_reference/project/infer.py",
    "model_second": EXAMPLE / "model_second/project/infer.py",
    "metrics": EXAMPLE / "metrics/project/metrics.py",
}
LABELS = ["atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
          "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"]


def _has_numeric_stack() -> str | None:
    try:
        import numpy  # noqa: F401
        import PIL  # noqa: F401
        import yaml  # noqa: F401
    except ImportError as exc:
        return f"the example containers need numpy, PyYAML and Pillow on the test interpreter ({exc})"
    return None


needs_numeric_stack = pytest.mark.skipif(_has_numeric_stack() is not None, reason=str(_has_numeric_stack()))


@dataclass
class TaskRun:
    returncode: int
    stdout: str
    stderr: str


def run_task(container: str, args: list[str], volumes: dict[str, Path], home: Path) -> TaskRun:
    """Run a container's script with only the environment a runner gives it (MP_VOL_*, HOME, PATH)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
    env.update({f"MP_VOL_{label.upper()}": str(path) for label, path in volumes.items()})
    proc = subprocess.run([sys.executable, str(SCRIPTS[container]), *args], env=env, cwd=home,
                          capture_output=True, text=True, timeout=300)
    return TaskRun(proc.returncode, proc.stdout, proc.stderr)


def run_tool(tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOLS / tool), *args], capture_output=True, text=True, timeout=300,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"})


def tree_digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, keyed by relative path."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Prepared:
    raw: Path
    data: Path
    labels: Path
    rows: list[tuple[str, str]]


def make_raw(root: Path, count: int, seed: int) -> list[tuple[str, str]]:
    proc = run_tool("make_mock_data.py", "--out", str(root), "--count", str(count), "--seed", str(seed))
    assert proc.returncode == 0, proc.stderr
    lines = (root / "labels/labels.csv").read_text(encoding="utf-8").splitlines()
    return [tuple(line.split(",")) for line in lines[1:]]


def prepare(raw: Path, out: Path, home: Path) -> TaskRun:
    for name in ("data", "labels"):
        (out / name).mkdir(parents=True, exist_ok=True)
    return run_task("data_preparator", ["prepare"], {
        "data_path": raw / "images", "labels_path": raw / "labels",
        "output_path": out / "data", "output_labels_path": out / "labels",
        "parameters_file": EXAMPLE / "data_preparator/parameters.yaml"}, home)
