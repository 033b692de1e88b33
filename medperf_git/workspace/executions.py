"""Local executions: one folder per result name (``b{B}m{M}d{D}``, then ``-2``, ``-3`` for re-runs).

An execution folder is created complete (built under a temporary name, then renamed), so an
interrupted ``benchmark run`` leaves finished results in place and nothing half-written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_git.errors import RecordNotFound
from medperf_git.records.layout import result_name
from medperf_git.records.yamlio import YamlError, load_yaml_file
from medperf_git.workspace.atomic import write_yaml

INFO = "execution.yaml"
RESULTS = "results.yaml"
_NAME = re.compile(r"^b(\d+)m(\d+)d(\d+)(?:-(\d+))?$")


@dataclass
class Execution:
    path: Path
    info: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def rerun(self) -> int:
        match = _NAME.match(self.name)
        return int(match.group(4) or 1) if match else 1

    @property
    def results_file(self) -> Path:
        return self.path / RESULTS

    @property
    def partial(self) -> bool:
        return bool(self.info.get("partial"))

    @property
    def submitted(self) -> dict[str, Any] | None:
        return self.info.get("submitted")

    def metrics(self) -> dict[str, Any]:
        data = load_yaml_file(self.results_file)
        return data if isinstance(data, dict) else {}

    def save(self) -> None:
        write_yaml(self.path / INFO, self.info)


class Executions:
    def __init__(self, root: Path):
        self.root = root

    def get(self, name: str) -> Execution | None:
        path = self.root / name
        if not (path / INFO).exists():
            return None
        try:
            info = load_yaml_file(path / INFO)
        except YamlError:
            return None
        return Execution(path, info) if isinstance(info, dict) else None

    def require(self, name: str) -> Execution:
        execution = self.get(name)
        if execution is None:
            raise RecordNotFound(f"no local result named '{name}'",
                                 hint="see `medperf-git result ls`, or run `medperf-git benchmark run`")
        return execution

    def all(self) -> list[Execution]:
        if not self.root.is_dir():
            return []
        found = [self.get(p.name) for p in sorted(self.root.iterdir()) if _NAME.match(p.name)]
        return [e for e in found if e is not None]

    def series(self, benchmark: int, model: int, dataset: int) -> list[Execution]:
        """Every run of one model on one dataset, oldest first."""
        base = result_name(benchmark, model, dataset)
        found = [e for e in self.all() if e.name == base or e.name.startswith(base + "-")]
        return sorted(found, key=lambda e: e.rerun)

    def latest(self, benchmark: int, model: int, dataset: int) -> Execution | None:
        series = self.series(benchmark, model, dataset)
        return series[-1] if series else None

    def next_name(self, benchmark: int, model: int, dataset: int) -> str:
        latest = self.latest(benchmark, model, dataset)
        return result_name(benchmark, model, dataset, (latest.rerun + 1) if latest else 1)
