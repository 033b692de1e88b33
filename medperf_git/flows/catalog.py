"""The read flows: open the registry's clone, bring its index to main, answer a query.

The CLI's ``ls`` and ``view`` commands each make one call here and render what comes back.
Fetching follows the clone's rules (only when older than a few minutes, never with
``--offline``); an unreachable remote leaves the local copy in use, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from medperf_git.errors import ConfigError
from medperf_git.registry import queries
from medperf_git.registry.clone import RegistryClone
from medperf_git.registry.index import INDEX_FILE, Index, Progress, UpdateStats
from medperf_git.registry.queries import Record
from medperf_git.workspace import Workspace


@dataclass
class Catalog:
    """An open clone and its index, brought up to date with main."""

    clone: RegistryClone
    index: Index
    commit: str
    stats: UpdateStats
    warnings: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.index.close()
        self.clone.repo.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Listing:
    """Records for an ``ls`` command, plus what the user should be told about them."""

    kind: str
    records: list[Record]
    commit: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class View:
    record: Record
    commit: str
    warnings: list[str] = field(default_factory=list)


def open_catalog(ws: Workspace, progress: Progress | None = None) -> Catalog:
    """The workspace's clone of the profile's registry, with its index at main."""
    clone = RegistryClone.open(ws)
    warnings = []
    if clone.refused_main:
        warnings.append(f"{clone.refused_main}; showing the last verified copy, from {_age(clone.age())} ago: tell the "
                        "registry's admins (`medperf-git registry audit` lists every finding)")
    elif clone.fetch_error:
        warnings.append(f"could not fetch the registry ({clone.fetch_error}); "
                        f"showing the local copy from {_age(clone.age())} ago")
    commit = clone.main
    index = Index.open(clone.dir / INDEX_FILE)
    try:
        stats = index.update(clone.repo, commit, progress=progress)
    except BaseException:
        index.close()
        raise
    return Catalog(clone, index, commit, stats, warnings)


def _age(seconds: float) -> str:
    if seconds == float("inf"):
        return "an unknown time"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _owner(ws: Workspace, mine: bool, owner: str | None) -> str | None:
    if not mine:
        return owner
    if not ws.profile.handle:
        raise ConfigError(f"profile '{ws.profile.name}' has no handle, so --mine cannot tell which records are yours",
                          hint="run `medperf-git profile set --handle YOUR_HANDLE`")
    return ws.profile.handle


def _listing(ws: Workspace, kind: str, query: Callable[[Index], list[Record]],
             progress: Progress | None) -> Listing:
    with open_catalog(ws, progress) as cat:
        records = query(cat.index)
        warnings = list(cat.warnings)
        broken = queries.invalid(cat.index, "container" if kind == "model" else kind)
        if broken:
            warnings.append(f"{len(broken)} {kind} record(s) cannot be read and are not listed "
                            f"(first: {broken[0][0]}: {broken[0][1]})")
        return Listing(kind, records, cat.commit, warnings)


def list_benchmarks(ws: Workspace, *, mine: bool = False, owner: str | None = None, name: str | None = None,
                    data_preparation: int | None = None, state: str | None = None,
                    progress: Progress | None = None) -> Listing:
    who = _owner(ws, mine, owner)
    return _listing(ws, "benchmark", lambda ix: queries.list_benchmarks(
        ix, owner=who, name=name, data_preparation=data_preparation, state=state), progress)


def list_containers(ws: Workspace, *, mine: bool = False, owner: str | None = None, name: str | None = None,
                    task: str | None = None, state: str | None = None, progress: Progress | None = None) -> Listing:
    who = _owner(ws, mine, owner)
    return _listing(ws, "container", lambda ix: queries.list_containers(
        ix, owner=who, name=name, task=task, state=state), progress)


def list_models(ws: Workspace, *, mine: bool = False, owner: str | None = None, name: str | None = None,
                benchmark: int | None = None, state: str | None = None, progress: Progress | None = None) -> Listing:
    who = _owner(ws, mine, owner)
    return _listing(ws, "model", lambda ix: queries.list_models(
        ix, owner=who, name=name, benchmark=benchmark, state=state), progress)


def list_datasets(ws: Workspace, *, mine: bool = False, owner: str | None = None, name: str | None = None,
                  benchmark: int | None = None, data_preparation: int | None = None,
                  progress: Progress | None = None) -> Listing:
    """Registered datasets. (Local prepared datasets are the data owner's flows' business.)"""
    who = _owner(ws, mine, owner)
    return _listing(ws, "dataset", lambda ix: queries.list_datasets(
        ix, owner=who, name=name, benchmark=benchmark, data_preparation=data_preparation), progress)


def view(ws: Workspace, kind: str, key: int | str, progress: Progress | None = None) -> View:
    """One record; ``kind`` "model" means a container with an infer task."""
    with open_catalog(ws, progress) as cat:
        record = queries.get_model(cat.index, key) if kind == "model" else queries.get(cat.index, kind, key)
        return View(record, cat.commit, list(cat.warnings))
