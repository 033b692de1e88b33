"""What each page of the static site shows: one JSON-safe context per page, read from the index at main.

A page's context is also its ``api/*.json`` mirror and the input whose hash decides whether the page
is rendered again, so everything a page shows comes from here (the record's file text and the charts
are derived from it at render time).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from medperf_git.hashing import canonical_json_hash

MAX_METRIC_COLUMNS = 24
ROLES = (("data_preparation", "data preparation"), ("reference_model", "reference model"), ("metrics", "metrics"))


@dataclass
class Page:
    """One page: its key (``benchmarks/1`` is ``benchmarks/1.html`` and ``api/benchmarks/1.json``)."""

    key: str
    template: str
    context: dict[str, Any]
    blob: str | None = None  # the record file shown as it is, read only when the page is written


@dataclass
class Commit:
    sha: str
    time: int
    author: str
    subject: str

    def to_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "time": self.time, "author": self.author, "subject": self.subject}


@dataclass
class Row:
    path: str
    kind: str
    key: str
    id: int | None
    benchmark: int | None
    component: str | None
    blob: str
    data: dict[str, Any]


def read_rows(index) -> list[Row]:
    """Every readable record at the index's commit, in one query."""
    rows = index.query("SELECT path, kind, key, id, benchmark, component, blob, data FROM records "
                       "WHERE valid = 1 ORDER BY kind, id, key")
    return [Row(r["path"], r["kind"], r["key"], r["id"], r["benchmark"], r["component"], r["blob"],
                json.loads(r["data"])) for r in rows]


def flatten(value: Any, prefix: str = "") -> dict[str, float | int]:
    """Published numbers as columns: nested maps and lists become dotted names (``per_class.0``)."""
    found: dict[str, float | int] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found.update(flatten(item, f"{prefix}{key}."))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.update(flatten(item, f"{prefix[:-1]}[{i}]."))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found[prefix[:-1]] = value
    return found


def pins(container: dict[str, Any]) -> dict[str, Any]:
    """What a result pins of a container: its config and parameters hashes, image digest and archives."""
    found: dict[str, Any] = {}
    try:
        found["config_hash"] = canonical_json_hash(container.get("config") or {})
        found["parameters_hash"] = canonical_json_hash(container.get("parameters") or {})
    except (TypeError, ValueError):
        pass
    for key in ("image", "source", "additional_files"):
        if isinstance(container.get(key), dict):
            found[key] = container[key]
    return found


@dataclass
class SiteModel:
    """The registry at one commit, as the site shows it."""

    rows: list[Row]
    main: str
    published: dict[str, str]  # record path -> the commit on main that last changed it
    commits: dict[str, Commit]
    extra_associations: list[dict[str, Any]] | None = None  # pending and rejected, when the session can see them
    forge_url: str | None = None
    by_kind: dict[str, dict[str, Row]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for row in self.rows:
            self.by_kind.setdefault(row.kind, {})[row.key] = row
        self.results_of: dict[tuple[str, int | str], list[Row]] = defaultdict(list)
        for row in self.of("result"):
            d = row.data
            for what in ("benchmark", "model", "dataset", "owner"):
                if d.get(what) is not None:
                    self.results_of[(what, d[what])].append(row)
        self._result_rows: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._pins: dict[str, dict[str, Any]] = {}
        self._commit_records: dict[str, list[dict[str, Any]]] | None = None
        self.associations = self._associations()
        self.assoc_of: dict[tuple[str, Any], list[dict[str, Any]]] = defaultdict(list)
        for a in self.associations:
            self.assoc_of[("benchmark", a["benchmark"])].append(a)
            self.assoc_of[(a["component"], a["id"])].append(a)
            self.assoc_of[("initiated_by", a["initiated_by"])].append(a)
        self.owned: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for kind in ("benchmark", "container", "dataset"):
            for row in self.of(kind):
                owners = row.data.get("owners") if kind == "benchmark" else [row.data.get("owner")]
                for handle in owners if isinstance(owners, list) else []:
                    self.owned[(kind, str(handle))].append(self.ref(kind, row.id))

    def of(self, kind: str) -> list[Row]:
        return list(self.by_kind.get(kind, {}).values())

    def get(self, kind: str, key: Any) -> Row | None:
        return self.by_kind.get(kind, {}).get(str(key))

    # Small pieces every page uses
    def pub(self, path: str) -> dict[str, Any] | None:
        sha = self.published.get(path)
        commit = self.commits.get(sha or "")
        return commit.to_dict() if commit else None

    def external(self, path: str) -> dict[str, str] | None:
        """Links to the record and its commit on the forge's own web pages, when the site knows them."""
        sha = self.published.get(path)
        if not self.forge_url or not sha:
            return None
        base = self.forge_url.rstrip("/")
        return {"record": f"{base}/blob/{sha}/{path}", "commit": f"{base}/commit/{sha}"}

    def name_of(self, kind: str, key: Any) -> str | None:
        row = self.get(kind, key)
        return str(row.data.get("name")) if row and row.data.get("name") is not None else None

    def ref(self, kind: str, key: Any) -> dict[str, Any]:
        """A link to another page: its key, when the record exists, and a label."""
        folder = {"container": "containers", "benchmark": "benchmarks", "dataset": "datasets", "person": "people"}
        row = self.get(kind, key)
        name = self.name_of(kind, key)
        label = f"{name} ({key})" if name and kind != "person" else str(key)
        return {"key": f"{folder[kind]}/{key}" if row else None, "id": key, "label": label}

    def pins(self, container: Row | None) -> dict[str, Any]:
        if container is None:
            return {}
        if container.key not in self._pins:
            self._pins[container.key] = pins(container.data)
        return self._pins[container.key]

    def visibility(self, benchmark: int | None) -> str:
        """``committee`` for benchmarks whose results only their committee may read; absent means public."""
        row = self.get("benchmark", benchmark)
        return str(row.data.get("result_visibility") or "public") if row else "public"

    def encrypted(self, result: Row) -> bool:
        return self.visibility(result.data.get("benchmark")) == "committee" \
            or not isinstance(result.data.get("metrics"), dict)

    def _associations(self) -> list[dict[str, Any]]:
        """Approved and revoked associations from main, then what open or closed submissions say."""
        found: dict[tuple[int, str, int], dict[str, Any]] = {}
        for row in self.of("association"):
            d = row.data
            revoked = d.get("revoked") if isinstance(d.get("revoked"), dict) else None
            found[(row.benchmark, row.component, row.id)] = {
                "benchmark": row.benchmark, "component": row.component, "id": row.id,
                "status": "revoked" if revoked else "approved", "initiated_by": d.get("initiated_by"),
                "reason": revoked.get("reason") if revoked else None, "priority": d.get("priority"),
                "submission": None, "path": row.path, "published": self.pub(row.path)}
        for extra in self.extra_associations or []:
            component = "dataset" if "dataset" in extra else "model"
            key = (extra["benchmark"], component, extra[component])
            if extra.get("status") in ("pending", "rejected") and key not in found or \
                    extra.get("status") == "pending":
                found[key] = {"benchmark": key[0], "component": component, "id": key[2],
                              "status": extra.get("status"), "initiated_by": extra.get("initiated_by"),
                              "reason": extra.get("reason"), "priority": extra.get("priority"),
                              "submission": extra.get("submission"), "path": None, "published": None}
        return [found[k] for k in sorted(found)]

    # The pages
    def plan(self) -> list[Callable[[], Page]]:
        """Every page as a call that makes it, in site order: cheap to list, so each rendering process makes
        only its own share of the pages."""
        makers: list[Callable[[], Page]] = [self.index_page, partial(self.list_page, "containers"),
                                            partial(self.list_page, "datasets"), partial(self.list_page, "people")]
        for kind, make in (("benchmark", self.benchmark_page), ("container", self.container_page),
                           ("dataset", self.dataset_page), ("person", self.person_page),
                           ("result", self.result_page)):
            makers += [partial(make, row) for row in self.of(kind)]
        makers += [partial(self.commit_page, sha) for sha in sorted(self._by_commit()) if sha in self.commits]
        return makers

    def pages(self) -> list[Page]:
        return [make() for make in self.plan()]

    def _registry(self) -> dict[str, Any]:
        settings = self.get("registry", "registry")
        return {"name": settings.data.get("name") if settings else None, "commit": self.main}

    def index_page(self) -> Page:
        benchmarks = []
        for row in self.of("benchmark"):
            d = row.data
            assoc = [a for a in self.assoc_of[("benchmark", row.id)] if a["status"] == "approved"]
            benchmarks.append({
                "id": row.id, "name": d.get("name"), "description": d.get("description"),
                "owners": d.get("owners") or [], "state": "retired" if d.get("retired") else "active",
                "visibility": self.visibility(row.id),
                "datasets": sum(a["component"] == "dataset" for a in assoc),
                "models": 1 + sum(a["component"] == "model" for a in assoc),
                "results": len(self.results_of[("benchmark", row.id)])})
        counts = {kind: len(self.by_kind.get(kind, {})) for kind in
                  ("benchmark", "container", "dataset", "association", "result", "person")}
        return Page("index", "site/index.html", {"kind": "index", "registry": self._registry(),
                                                 "benchmarks": benchmarks, "counts": counts})

    def list_page(self, folder: str) -> Page:
        kind = {"containers": "container", "datasets": "dataset", "people": "person"}[folder]
        items = []
        for row in self.of(kind):
            d = row.data
            item = {"ref": self.ref(kind, row.id if row.id is not None else row.key), "owner": d.get("owner")}
            if kind == "container":
                tasks = (d.get("config") or {}).get("tasks") if isinstance(d.get("config"), dict) else None
                item["model"] = isinstance(tasks, dict) and "infer" in tasks
            elif kind == "dataset":
                item["benchmark"] = self.ref("benchmark", d.get("benchmark"))
                item["location"] = d.get("location")
            else:
                item = {"ref": item["ref"], "name": d.get("name")}
            items.append(item)
        return Page(folder, "site/list.html", {"kind": f"{kind} list", "folder": folder, "items": items})

    def _result_row(self, row: Row, columns: list[str] | None = None) -> dict[str, Any]:
        """A result as a table row: its values by ``columns``, else all of them as sorted (name, value) pairs."""
        shown = self._result_rows.get(row.key)
        if shown is None:
            d = row.data
            encrypted = self.encrypted(row)
            values = {} if encrypted else flatten(d.get("metrics"))
            shown = self._result_rows[row.key] = (values, {
                "result": d.get("name"), "key": f"results/{row.key}", "benchmark": d.get("benchmark"),
                "model": self.ref("container", d.get("model")), "dataset": self.ref("dataset", d.get("dataset")),
                "owner": d.get("owner"), "partial": bool(d.get("partial")), "encrypted": encrypted,
                "values": sorted(values.items()), "published": self.pub(row.path),
                "external": self.external(row.path)})
        values, common = shown
        return common if columns is None else {**common, "values": [values.get(c) for c in columns]}

    def benchmark_page(self, row: Row) -> Page:
        d = row.data
        containers = []
        for field_name, role in ROLES:
            cid = d.get(field_name)
            container = self.get("container", cid)
            containers.append({"role": role, "ref": self.ref("container", cid),
                               "owner": container.data.get("owner") if container else None,
                               "pins": self.pins(container),
                               "published": self.pub(container.path) if container else None})
        associations = [dict(a, ref=self.ref("dataset" if a["component"] == "dataset" else "container", a["id"]))
                        for a in self.assoc_of[("benchmark", row.id)]]
        for a in associations:
            if a["component"] == "model" and a["status"] in ("approved", "revoked"):
                container = self.get("container", a["id"])
                containers.append({"role": f"model ({a['status']})", "ref": a["ref"],
                                   "owner": container.data.get("owner") if container else None,
                                   "pins": self.pins(container),
                                   "published": self.pub(container.path) if container else None})
        results = self.results_of[("benchmark", row.id)]
        columns: list[str] = []
        for result in results:
            if not self.encrypted(result):
                columns += [c for c in flatten(result.data.get("metrics")) if c not in columns]
        shown = columns[:MAX_METRIC_COLUMNS]
        leaderboard = [self._result_row(r, shown) for r in results]
        context = {"kind": "benchmark", "benchmark": d, "path": row.path, "published": self.pub(row.path),
                   "external": self.external(row.path), "visibility": self.visibility(row.id),
                   "containers": containers, "associations": associations, "metrics": shown,
                   "more_metrics": len(columns) - len(shown), "leaderboard": leaderboard}
        return Page(f"benchmarks/{row.id}", "site/benchmark.html", context, row.blob)

    def container_page(self, row: Row) -> Page:
        d = row.data
        roles = []
        for bench in self.of("benchmark"):
            for field_name, role in ROLES:
                if bench.data.get(field_name) == row.id:
                    roles.append({"benchmark": self.ref("benchmark", bench.id), "role": role, "status": "part of it"})
        roles += [{"benchmark": self.ref("benchmark", a["benchmark"]), "role": "model", "status": a["status"]}
                  for a in self.assoc_of[("model", row.id)]]
        tasks = (d.get("config") or {}).get("tasks") if isinstance(d.get("config"), dict) else None
        context = {"kind": "container", "container": d, "path": row.path, "published": self.pub(row.path),
                   "external": self.external(row.path), "pins": self.pins(row),
                   "model": isinstance(tasks, dict) and "infer" in tasks, "roles": roles,
                   "results": [self._result_row(r) for r in self.results_of[("model", row.id)]]}
        return Page(f"containers/{row.id}", "site/container.html", context, row.blob)

    def dataset_page(self, row: Row) -> Page:
        d = row.data
        associations = [dict(a, ref=self.ref("benchmark", a["benchmark"])) for a in self.assoc_of[("dataset", row.id)]]
        context = {"kind": "dataset", "dataset": d, "path": row.path, "published": self.pub(row.path),
                   "external": self.external(row.path), "benchmark": self.ref("benchmark", d.get("benchmark")),
                   "preparation": self.ref("container", d.get("data_preparation")), "associations": associations,
                   "results": [self._result_row(r) for r in self.results_of[("dataset", row.id)]]}
        return Page(f"datasets/{row.id}", "site/dataset.html", context, row.blob)

    def person_page(self, row: Row) -> Page:
        """What a person owns; their e-mail and keys stay in the registry (the site may be read more widely)."""
        handle = row.key
        owns = {f"{kind}s": self.owned[(kind, handle)] for kind in ("benchmark", "container", "dataset")}
        context = {"kind": "person", "person": {"handle": handle, "name": row.data.get("name")}, "path": row.path,
                   "published": self.pub(row.path), "external": self.external(row.path), **owns,
                   "results": [self._result_row(r) for r in self.results_of[("owner", handle)]],
                   "requests": [dict(a, ref=self.ref("benchmark", a["benchmark"]))
                                for a in self.assoc_of[("initiated_by", handle)]]}
        return Page(f"people/{handle}", "site/person.html", context)

    def result_page(self, row: Row) -> Page:
        d = row.data
        shown = self._result_row(row)
        record = {k: v for k, v in d.items() if not (shown["encrypted"] and k == "metrics")}
        context = {"kind": "result", "result": record, "path": row.path, "published": shown["published"],
                   "external": shown["external"], "benchmark": self.ref("benchmark", d.get("benchmark")),
                   "model": shown["model"], "dataset": shown["dataset"], "encrypted": shown["encrypted"],
                   "values": shown["values"]}
        return Page(f"results/{row.key}", "site/result.html", context, None if shown["encrypted"] else row.blob)

    def _by_commit(self) -> dict[str, list[dict[str, Any]]]:
        """The records each commit of main published last, found in one pass over the records."""
        if self._commit_records is None:
            self._commit_records = defaultdict(list)
            for row in self.rows:
                sha = self.published.get(row.path)
                if sha:
                    self._commit_records[sha].append({"path": row.path, "kind": row.kind, "key": _page_key(row)})
        return self._commit_records

    def commit_page(self, sha: str) -> Page:
        return Page(f"commits/{sha}", "site/commit.html",
                    {"kind": "commit", "commit": self.commits[sha].to_dict(), "records": self._by_commit()[sha],
                     "external": f"{self.forge_url.rstrip('/')}/commit/{sha}" if self.forge_url else None})


def _page_key(row: Row) -> str | None:
    folder = {"benchmark": "benchmarks", "container": "containers", "dataset": "datasets", "person": "people",
              "result": "results"}.get(row.kind)
    return f"{folder}/{row.key}" if folder else None
