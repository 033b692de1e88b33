"""The read flows: bring the session's index to main, answer a query.

The CLI's ``ls`` and ``view`` commands each make one call here and render what comes back.
A read asks the remote whether anything moved when its copy is older than a few seconds (never with
``--offline``); an unreachable remote leaves the local copy in use, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from medperf_git.errors import ConfigError, RecordNotFound
from medperf_git.flows.session import DEFAULT_MAX_AGE, RegistrySession
from medperf_git.registry import queries
from medperf_git.registry.index import Index, Progress
from medperf_git.registry.queries import Record


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


def _at_main(s: RegistrySession, progress: Progress | None) -> Index:
    """The index at main, after a fetch only when the copy is older than a few seconds (reads go on from the
    local copy, with a warning, when the remote cannot be reached or its main fails the audit)."""
    s.fetch(max_age=DEFAULT_MAX_AGE, tolerate=True)
    return s.index_at_main(progress)


def _owner(s: RegistrySession, mine: bool, owner: str | None) -> str | None:
    if not mine:
        return owner
    if not s.profile.handle:
        raise ConfigError(f"profile '{s.profile.name}' has no handle, so --mine cannot tell which records are yours",
                          hint="run `medperf-git profile set --handle YOUR_HANDLE`")
    return s.profile.handle


def _listing(s: RegistrySession, kind: str, query: Callable[[Index], list[Record]],
             progress: Progress | None) -> Listing:
    index = _at_main(s, progress)
    records = query(index)
    warnings = list(s.warnings)
    broken = queries.invalid(index, "container" if kind == "model" else kind)
    if broken:
        warnings.append(f"{len(broken)} {kind} record(s) cannot be read and are not listed "
                        f"(first: {broken[0][0]}: {broken[0][1]})")
    return Listing(kind, records, s.main, warnings)


def list_benchmarks(s: RegistrySession, *, mine: bool = False, owner: str | None = None, name: str | None = None,
                    data_preparation: int | None = None, state: str | None = None,
                    progress: Progress | None = None) -> Listing:
    who = _owner(s, mine, owner)
    return _listing(s, "benchmark", lambda ix: queries.list_benchmarks(
        ix, owner=who, name=name, data_preparation=data_preparation, state=state), progress)


def list_containers(s: RegistrySession, *, mine: bool = False, owner: str | None = None, name: str | None = None,
                    task: str | None = None, state: str | None = None, progress: Progress | None = None) -> Listing:
    who = _owner(s, mine, owner)
    return _listing(s, "container", lambda ix: queries.list_containers(
        ix, owner=who, name=name, task=task, state=state), progress)


def list_models(s: RegistrySession, *, mine: bool = False, owner: str | None = None, name: str | None = None,
                benchmark: int | None = None, state: str | None = None, progress: Progress | None = None) -> Listing:
    who = _owner(s, mine, owner)
    return _listing(s, "model", lambda ix: queries.list_models(
        ix, owner=who, name=name, benchmark=benchmark, state=state), progress)


def list_datasets(s: RegistrySession, *, mine: bool = False, owner: str | None = None, name: str | None = None,
                  benchmark: int | None = None, data_preparation: int | None = None,
                  progress: Progress | None = None) -> Listing:
    """Registered datasets. (Local prepared datasets are the data owner's flows' business.)"""
    who = _owner(s, mine, owner)
    return _listing(s, "dataset", lambda ix: queries.list_datasets(
        ix, owner=who, name=name, benchmark=benchmark, data_preparation=data_preparation), progress)


def view(s: RegistrySession, kind: str, key: int | str, progress: Progress | None = None) -> View:
    """One record; ``kind`` "model" means a container with an infer task."""
    index = _at_main(s, progress)
    get = queries.get_model if kind == "model" else lambda ix, k: queries.get(ix, kind, k)
    try:
        record = get(index, key)
    except RecordNotFound:
        if not s.recheck():  # "no such record" only once the remote was asked
            raise
        record = get(s.index_at_main(progress), key)
    return View(record, s.main, list(s.warnings))
