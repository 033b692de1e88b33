"""Running a registered container's task from a flow: profile settings, logs, scratch, provenance."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.flows.session import RegistrySession


@dataclass
class RunSettings:
    """How this command runs containers: the command line wins over the profile."""

    runner: str | None = None
    gpus: str | None = None
    python: str | None = None
    shm_size: str | None = None  # docker's --shm-size; wins over the profile's
    timeouts: dict[str, int] = field(default_factory=dict)
    on_output: Callable[[str], None] | None = None  # each line a container prints
    on_step: Callable[[str], None] | None = None  # "Running the reference model (infer)..."

    def step(self, text: str) -> None:
        if self.on_step:
            self.on_step(text)


class ContainerRunner:
    """Resolves each container once per flow and runs its tasks with the profile's settings."""

    def __init__(self, s: RegistrySession, settings: RunSettings):
        self.s = s
        self.settings = settings
        self._resolved: dict[int, Any] = {}
        self._keys: dict[int, str] = {}  # private weights' keys, in memory for this flow only

    def resolve(self, container: int | str):
        """A registered container by id, or a local container_config.yaml (for `test run`)."""
        from medperf_git.runners.resolve import resolve_container

        if container not in self._resolved:
            if isinstance(container, int):
                record = self.s.record("container", container)
                resolved = resolve_container(record, cache_dir=self.s.ws.cache_dir,
                                             allow_file_urls=self.s.allow_file_urls)
            else:
                resolved = resolve_local(container, self.s.ws.cache_dir)
            self._resolved[container] = resolved
        return self._resolved[container]

    def run(self, container_id: int | str, task: str, mounts: Mapping[str, str | Path], logs_dir: Path):
        from medperf_git.runners.base import RunOptions, run_task

        profile = self.s.profile
        timeout = self.settings.timeouts.get(task) or profile.timeouts.get(task)
        scratch = self.s.ws.data_root / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        resolved = self.resolve(container_id)
        if resolved.private_archive is not None and container_id not in self._keys:
            from medperf_git.flows.weights import release_key

            self._keys[container_id] = release_key(self.s, container_id, self.s.record("container", container_id))
        # Removed on success, failure and Ctrl-C alike, with the private weights unpacked in it.
        with tempfile.TemporaryDirectory(prefix=f"{task}-", dir=scratch) as work:
            if resolved.private_archive is not None:
                from medperf_git.runners.resolve import open_private

                resolved = open_private(resolved, self._keys[container_id], Path(work) / "private")
            options = RunOptions(logs_dir=logs_dir, work_dir=Path(work),
                                 runner=self.settings.runner or profile.runner,
                                 gpus=self.settings.gpus or profile.gpus,
                                 python=self.settings.python or profile.python,
                                 shm_size=self.settings.shm_size or getattr(profile, "shm_size", None),
                                 timeout=timeout, on_output=self.settings.on_output,
                                 cache_dir=self.s.ws.cache_dir, slurm=profile.slurm)
            return run_task(resolved, task, mounts, options)


def resolve_local(config_path: str | Path, cache_dir: Path):
    """A container from a local config: MedPerf's workspace/parameters.yaml and additional_files/ come along."""
    from medperf_git.runners.config import load_config
    from medperf_git.runners.resolve import resolve_container

    return resolve_container(load_config(Path(config_path)), cache_dir=cache_dir)


def container_provenance(container_id: int | str, result) -> dict[str, Any]:
    """One container's entry in a result's provenance: its id (or local config) and the exact pins that ran."""
    key = "id" if isinstance(container_id, int) else "config"
    return {key: container_id if isinstance(container_id, int) else str(container_id), **result.pins}
