"""The registry as flows see it: the workspace clone, its index at main, and typed lookups.

Lookups that fail raise :class:`RecordNotFound` with the command that lists what exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_git.errors import RecordNotFound
from medperf_git.registry.clone import RegistryClone
from medperf_git.registry.index import INDEX_FILE, Index
from medperf_git.workspace.datasets import LocalDatasets
from medperf_git.workspace.executions import Executions
from medperf_git.workspace.workspace import Workspace

_LIST_COMMAND = {"benchmark": "benchmark ls", "container": "container ls", "dataset": "dataset ls",
                 "person": "registry lint", "association": "association ls"}


@dataclass
class RegistryView:
    ws: Workspace
    clone: RegistryClone
    index: Index
    commit: str

    @classmethod
    def open(cls, ws: Workspace, *, refresh: bool = True, max_age: float = 0) -> RegistryView:
        """Flows act on what the registry holds now, so they fetch first (reads may accept an older copy)."""
        clone = RegistryClone.open(ws, refresh=refresh, max_age=max_age)
        index = Index.open(clone.dir / INDEX_FILE)
        commit = clone.main
        index.update(clone.repo, commit)
        return cls(ws, clone, index, commit)

    def reload(self) -> None:
        """Fetch now and move the index to the new main (after a merge, or to see others' changes)."""
        self.clone.fetch()
        self.commit = self.clone.main
        self.index.update(self.clone.repo, self.commit)

    # Records
    def find(self, kind: str, key: str | int) -> dict[str, Any] | None:
        return self.index.get(kind, str(key))

    def record(self, kind: str, key: str | int) -> dict[str, Any]:
        record = self.find(kind, key)
        if record is None:
            command = _LIST_COMMAND.get(kind, f"{kind} ls")
            raise RecordNotFound(f"{kind} {key} does not exist in the registry",
                                 hint=f"see `medperf-git {command}`")
        return record

    def settings(self) -> dict[str, Any]:
        return self.index.get("registry", "registry") or {}

    @property
    def allow_file_urls(self) -> bool:
        return bool(self.settings().get("allow_file_urls"))

    def association(self, benchmark: int, component: str, component_id: int) -> dict[str, Any] | None:
        return self.find("association", f"{benchmark}/{component}-{component_id}")

    def index_associations(self, benchmark: int, component: str) -> list[dict[str, Any]]:
        """The merged associations of one kind with a benchmark, as records."""
        return self.all_associations(component, benchmark)

    def all_associations(self, component: str, benchmark: int | None = None) -> list[dict[str, Any]]:
        """Merged associations of datasets or models (with one benchmark, or all), by benchmark then id."""
        import json

        sql = "SELECT data FROM records WHERE kind = 'association' AND component = ? AND valid = 1"
        params: list[Any] = [component]
        if benchmark is not None:
            sql += " AND benchmark = ?"
            params.append(benchmark)
        rows = self.index.query(sql + " ORDER BY benchmark, id", params)
        return [json.loads(row[0]) for row in rows]

    # Local stores of this registry
    @property
    def data_dir(self) -> Path:
        return self.ws.registry_data_dir(self.clone.root)

    def local_dataset(self, data_uid: str | int):
        """A prepared dataset of this machine, by registry id or UID prefix, its registry id up to date."""
        self.sync_dataset_ids()
        return self.datasets.find(data_uid)

    def sync_dataset_ids(self) -> None:
        """A submitted dataset learns its registry id once its submission has merged."""
        by_uid = self.index.generated_uids()
        for ds in self.datasets.all():
            keys = by_uid.get(ds.generated_uid) or []
            if keys and ds.registry_id is None:
                record = self.find("dataset", keys[0])
                if record and record.get("owner") == self.ws.profile.handle:
                    ds.info["registry_id"] = int(keys[0])
                    ds.save()

    @property
    def datasets(self) -> LocalDatasets:
        return LocalDatasets(self.data_dir / "datasets")

    @property
    def executions(self) -> Executions:
        return Executions(self.data_dir / "executions")

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"
