"""Running a registered container's task from a flow: profile settings, logs, scratch, provenance."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.flows._registry import RegistryView


@dataclass
class RunSettings:
    """How this command runs containers: the command line wins over the profile."""

    runner: str | None = None
    gpus: str | None = None
    python: str | None = None
    timeouts: dict[str, int] = field(default_factory=dict)
    on_output: Callable[[str], None] | None = None  # each line a container prints
    on_step: Callable[[str], None] | None = None  # "Running the reference model (infer)..."

    def step(self, text: str) -> None:
        if self.on_step:
            self.on_step(text)


class ContainerRunner:
    """Resolves each container once per flow and runs its tasks with the profile's settings."""

    def __init__(self, view: RegistryView, settings: RunSettings):
        self.view = view
        self.settings = settings
        self._resolved: dict[int, Any] = {}

    def resolve(self, container_id: int):
        from medperf_git.runners.resolve import resolve_container

        if container_id not in self._resolved:
            record = self.view.record("container", container_id)
            self._resolved[container_id] = resolve_container(
                record, cache_dir=self.view.ws.cache_dir, allow_file_urls=self.view.allow_file_urls)
        return self._resolved[container_id]

    def run(self, container_id: int, task: str, mounts: Mapping[str, str | Path], logs_dir: Path):
        from medperf_git.runners.base import RunOptions, run_task

        profile = self.view.ws.profile
        timeout = self.settings.timeouts.get(task) or profile.timeouts.get(task)
        scratch = self.view.ws.data_root / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"{task}-", dir=scratch) as work:
            options = RunOptions(logs_dir=logs_dir, work_dir=Path(work),
                                 runner=self.settings.runner or profile.runner,
                                 gpus=self.settings.gpus or profile.gpus,
                                 python=self.settings.python or profile.python,
                                 timeout=timeout, on_output=self.settings.on_output,
                                 cache_dir=self.view.ws.cache_dir)
            return run_task(self.resolve(container_id), task, mounts, options)


def container_provenance(container_id: int, result) -> dict[str, Any]:
    """One container's entry in a result's provenance: its id and the exact pins that ran."""
    return {"id": container_id, **result.pins}
