"""The questions read commands ask of the index: lists with filters, one record, associations.

Every read command goes through these functions, so ``ls``, ``view`` and later the association
and result commands agree on what exists, what is a model and what an association's status is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from medperf_git.errors import RecordInvalid, RecordNotFound
from medperf_git.records.layout import normalize_name
from medperf_git.registry.index import Index

LIST_COMMAND = {"benchmark": "medperf-git benchmark ls", "container": "medperf-git container ls",
                "model": "medperf-git model ls", "dataset": "medperf-git dataset ls"}


@dataclass(frozen=True)
class Record:
    """One valid record from the index: what its path says, plus its parsed fields."""

    path: str
    kind: str
    key: str
    id: int | None
    benchmark: int | None
    name: str | None
    owner: str | None
    data: dict[str, Any] = field(repr=False)

    @property
    def retired(self) -> bool:
        return self.data.get("retired") is True

    @property
    def state(self) -> str:
        return "retired" if self.retired else "active"

    @property
    def tasks(self) -> list[str]:
        config = self.data.get("config")
        tasks = config.get("tasks") if isinstance(config, dict) else None
        return list(tasks) if isinstance(tasks, dict) else []

    @property
    def owners(self) -> list[str]:
        owners = self.data.get("owners")
        if isinstance(owners, list):
            return [str(o) for o in owners]
        return [self.owner] if self.owner else []


@dataclass(frozen=True)
class Association:
    """A dataset or model's association with a benchmark, with its derived status.

    ``status`` is "approved" (merged into main), "revoked" (merged, with ``revoked`` set) or
    "pending" (in an open submission). ``submission`` names the submission for pending ones.
    """

    benchmark: int
    component: str  # "dataset" or "model"
    id: int
    status: str
    initiated_by: str | None
    priority: int | None
    path: str
    data: dict[str, Any] = field(repr=False)
    submission: str | None = None

    @property
    def revoked(self) -> dict[str, Any] | None:
        revoked = self.data.get("revoked")
        return revoked if isinstance(revoked, dict) else None


_SELECT = "SELECT path, kind, key, id, benchmark, name, owner, data FROM records"


def _record(row) -> Record:
    return Record(row["path"], row["kind"], row["key"], row["id"], row["benchmark"], row["name"], row["owner"],
                  json.loads(row["data"]))


def _list(index: Index, kind: str, *, owner: str | None = None, name: str | None = None,
          benchmark: int | None = None, task: str | None = None, extra: str = "",
          params: Iterable[Any] = ()) -> list[Record]:
    sql = _SELECT + " WHERE kind = ? AND valid = 1"
    args: list[Any] = [kind]
    if owner:
        sql += " AND path IN (SELECT path FROM owners WHERE handle = ?)"
        args.append(owner)
    if name:
        sql += " AND norm_name LIKE ? ESCAPE '\\'"
        escaped = normalize_name(name).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args.append(f"%{escaped}%")
    if benchmark is not None:
        sql += " AND benchmark = ?"
        args.append(benchmark)
    if task:
        sql += " AND tasks LIKE ?"
        args.append(f"% {task} %")
    sql += extra + " ORDER BY id, key"
    args.extend(params)
    return [_record(row) for row in index.query(sql, args)]


def list_benchmarks(index: Index, *, owner: str | None = None, name: str | None = None,
                    data_preparation: int | None = None, state: str | None = None) -> list[Record]:
    """Benchmarks, optionally only those ``owner`` owns, whose name contains ``name``, and so on."""
    records = _list(index, "benchmark", owner=owner, name=name)
    if data_preparation is not None:
        records = [r for r in records if r.data.get("data_preparation") == data_preparation]
    return _by_state(records, state)


def list_containers(index: Index, *, owner: str | None = None, name: str | None = None,
                    task: str | None = None, state: str | None = None) -> list[Record]:
    return _by_state(_list(index, "container", owner=owner, name=name, task=task), state)


def list_models(index: Index, *, owner: str | None = None, name: str | None = None,
                benchmark: int | None = None, state: str | None = None) -> list[Record]:
    """Models are containers with an ``infer`` task; with ``benchmark``, those associated with it."""
    records = list_containers(index, owner=owner, name=name, task="infer", state=state)
    if benchmark is not None:
        approved = {a.id for a in associations(index, benchmark=benchmark, component="model")
                    if a.status == "approved"}
        bench = get(index, "benchmark", benchmark)
        approved.add(bench.data.get("reference_model"))
        records = [r for r in records if r.id in approved]
    return records


def list_datasets(index: Index, *, owner: str | None = None, name: str | None = None,
                  benchmark: int | None = None, data_preparation: int | None = None) -> list[Record]:
    records = _list(index, "dataset", owner=owner, name=name, benchmark=benchmark)
    if data_preparation is not None:
        records = [r for r in records if r.data.get("data_preparation") == data_preparation]
    return records


def _by_state(records: list[Record], state: str | None) -> list[Record]:
    return records if state is None else [r for r in records if r.state == state]


def get(index: Index, kind: str, key: int | str) -> Record:
    """One record by id (or key); a clear error naming the list command when it is missing or broken."""
    rows = index.query("SELECT path, kind, key, id, benchmark, name, owner, data, valid, error FROM records "
                       "WHERE kind = ? AND key = ?", (kind, str(key)))
    if not rows:
        listing = LIST_COMMAND.get(kind)
        raise RecordNotFound(f"no {kind} with id {key} in the registry",
                             hint=f"see the {kind}s with `{listing}`" if listing else None)
    row = rows[0]
    if not row["valid"]:
        raise RecordInvalid(f"{row['path']} cannot be read: {row['error']}",
                            hint="the registry's maintainers can find every problem with `medperf-git registry lint`")
    return _record(row)


def get_model(index: Index, key: int | str) -> Record:
    try:
        record = get(index, "container", key)
    except RecordNotFound:
        raise RecordNotFound(f"no model with id {key} in the registry",
                             hint="see the models with `medperf-git model ls`") from None
    if "infer" not in record.tasks:
        raise RecordNotFound(f"container {key} is not a model: it has no infer task",
                             hint=f"see it with `medperf-git container view {key}`, "
                                  "or list the models with `medperf-git model ls`")
    return record


def associations(index: Index, *, benchmark: int | None = None, component: str | None = None,
                 component_id: int | None = None, pending: Iterable[dict[str, Any]] = ()) -> list[Association]:
    """Associations on main (approved, or revoked), then ``pending`` ones.

    ``pending`` is the hook for open submissions: association records read from ``refs/pull/*``
    (by the submissions code), each optionally carrying a ``submission`` key naming it. They are
    filtered like the merged ones and reported as "pending".
    """
    sql = "SELECT path, benchmark, component, id, data FROM records WHERE kind = 'association' AND valid = 1"
    args: list[Any] = []
    if benchmark is not None:
        sql += " AND benchmark = ?"
        args.append(benchmark)
    if component:
        sql += " AND component = ?"
        args.append(component)
    if component_id is not None:
        sql += " AND id = ?"
        args.append(component_id)
    found = []
    for row in index.query(sql + " ORDER BY benchmark, component, id", args):
        data = json.loads(row["data"])
        status = "revoked" if data.get("revoked") else "approved"
        found.append(Association(row["benchmark"], row["component"], row["id"], status, data.get("initiated_by"),
                                 data.get("priority"), row["path"], data))
    for data in pending:
        comp = "dataset" if "dataset" in data else "model"
        bench, ident = data.get("benchmark"), data.get(comp)
        if (benchmark is not None and bench != benchmark) or (component and comp != component) \
                or (component_id is not None and ident != component_id):
            continue
        found.append(Association(bench, comp, ident, "pending", data.get("initiated_by"), data.get("priority"),
                                 f"associations/{bench}/{comp}-{ident}.yaml",
                                 {k: v for k, v in data.items() if k != "submission"}, data.get("submission")))
    return found


def invalid(index: Index, kind: str) -> list[tuple[str, str]]:
    """(path, reason) of the records of ``kind`` that could not be read, for a warning."""
    return index.invalid(kind)
