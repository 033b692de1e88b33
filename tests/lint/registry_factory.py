"""Small, valid registries for tests, written as YAML files (and optionally committed).

``make_valid_registry(path)`` writes a minimal registry that passes lint: registry.yaml, three
people, containers 1-4 (preparation, reference model, metrics, a second model), benchmark 1, a
dataset, a dataset and a model association, and a result. Records are written by
``write_record`` with the project's YAML dumper, so a key's line is its position in the dict
(plus one), which lets tests assert exact ``path:line:col`` findings.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

from medperf_git.records.yamlio import dump_yaml

SHA = "sha256:" + "a" * 64
TREE = "tree-v1:sha256:" + "b" * 64
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def person(handle: str) -> dict:
    return {"schema_version": 1, "kind": "person", "handle": handle, "name": handle.title(),
            "email": f"{handle}@example.org", "keys": [f"{KEY} {handle}"]}


def container(cid: int, name: str, owner: str, *tasks: str) -> dict:
    return {"schema_version": 1, "kind": "container", "id": cid, "name": name, "owner": owner,
            "description": f"the {name} container",
            "config": {"tasks": {t: {"output_volumes": {"output_path": {"mount_path": "/mlcommons/out",
                                                                        "type": "directory"}}}
                                 for t in tasks}},
            "image": {"reference": f"docker.io/example/{name}:1.0", "digest": SHA}}


def benchmark(bid: int = 1, name: str = "chestxray", owners: tuple[str, ...] = ("alice",),
              prep: int = 1, model: int = 2, metrics: int = 3) -> dict:
    return {"schema_version": 1, "kind": "benchmark", "id": bid, "name": name, "description": "a benchmark",
            "owners": list(owners), "data_preparation": prep, "reference_model": model, "metrics": metrics,
            "association_policy": {"datasets": {"mode": "never"}, "models": {"mode": "never"}}}


def dataset(did: int = 1, owner: str = "bob", prep: int = 1, uid: str = TREE) -> dict:
    return {"schema_version": 1, "kind": "dataset", "id": did, "name": "hospital data", "description": "x-rays",
            "location": "Lyon", "owner": owner, "benchmark": 1, "data_preparation": prep,
            "input_data_hash": TREE.replace("b", "c"), "generated_uid": uid, "statistics": {"rows": 10},
            "tool_version": "0.1.0"}


def dataset_association(benchmark_id: int = 1, dataset_id: int = 1, by: str = "bob") -> dict:
    return {"schema_version": 1, "kind": "association", "benchmark": benchmark_id, "dataset": dataset_id,
            "initiated_by": by}


def model_association(benchmark_id: int = 1, model_id: int = 4, by: str = "carol") -> dict:
    return {"schema_version": 1, "kind": "association", "benchmark": benchmark_id, "model": model_id,
            "initiated_by": by, "priority": 0}


def result(benchmark_id: int = 1, model_id: int = 2, dataset_id: int = 1, owner: str = "bob") -> dict:
    name = f"b{benchmark_id}m{model_id}d{dataset_id}"
    run = {"config_hash": SHA, "parameters_hash": SHA}
    return {"schema_version": 1, "kind": "result", "name": name, "benchmark": benchmark_id, "model": model_id,
            "dataset": dataset_id, "owner": owner, "metrics": {"accuracy": 0.9}, "partial": False,
            "provenance": {"dataset_uid": TREE, "containers": {"model": {"id": model_id, **run},
                                                               "metrics": {"id": 3, **run}},
                           "runner": "docker", "isolation": "container", "tool_version": "0.1.0"},
            "created_at": "2026-01-01T00:00:00Z"}


def valid_records() -> dict[str, dict]:
    """path -> record of the minimal valid registry."""
    return copy.deepcopy({
        "registry.yaml": {"schema_version": 1, "kind": "registry", "name": "test-registry", "admins": ["alice"],
                          "medperf_git": "medperf-git==0.1.0"},
        "people/alice.yaml": person("alice"),
        "people/bob.yaml": person("bob"),
        "people/carol.yaml": person("carol"),
        "containers/1.yaml": container(1, "prep", "alice", "prepare", "sanity_check", "statistics"),
        "containers/2.yaml": container(2, "refmodel", "alice", "infer"),
        "containers/3.yaml": container(3, "metrics", "alice", "evaluate"),
        "containers/4.yaml": container(4, "othermodel", "carol", "infer"),
        "benchmarks/1.yaml": benchmark(),
        "datasets/1.yaml": dataset(),
        "associations/1/dataset-1.yaml": dataset_association(),
        "associations/1/model-4.yaml": model_association(),
        "results/1/b1m2d1.yaml": result(),
    })


def write_record(root: str | Path, path: str, data: Any) -> Path:
    """Write one record (a dict through the YAML dumper, or str/bytes as they are)."""
    target = Path(root) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        target.write_bytes(data)
    elif isinstance(data, str):
        target.write_text(data, encoding="utf-8")
    else:
        target.write_text(dump_yaml(data), encoding="utf-8")
    return target


def make_valid_registry(path: str | Path, *, commit: bool = False) -> dict[str, dict]:
    """Write the minimal valid registry at ``path`` (a git repository when ``commit``); return its records."""
    records = valid_records()
    for rel, data in records.items():
        write_record(path, rel, data)
    if commit:
        git_commit(path, "A valid registry", init=True)
    return records


def git_commit(path: str | Path, message: str, *, init: bool = False) -> str:
    """Commit everything in ``path`` (``git init`` first when asked); return the commit id."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, text=True).stdout.strip()

    if init and not (Path(path) / ".git").exists():
        git("init", "-q", "--initial-branch=main")
    git("add", "-A", ".")
    git("commit", "-q", "--no-gpg-sign", "--allow-empty", "-m", message)
    return git("rev-parse", "HEAD")


def line_of(data: dict, key: str) -> int:
    """The line of a top-level key in a record written by :func:`write_record`."""
    return list(data).index(key) + 1 if key in data else 1
