"""Synthetic registries for the speed benchmarks: N valid, consistent records of every kind, committed.

Usable as a library (``generate_registry(path, n_records, seed=0) -> commit``) and as a script
(``python benchmarks/gen_registry.py PATH --records N``). Files are written with a small block-YAML
emitter rather than PyYAML's dumper, so 100,000 records take seconds, and committed with one
``git add`` and one ``git commit``.

Of N records: registry.yaml, about 5 % people, 0.5 % benchmarks, 10 % containers (three per
benchmark, the rest models), 20 % datasets, one dataset association per dataset, one model
association per extra model, and results for the rest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

_PLAIN_KEY = set("abcdefghijklmnopqrstuvwxyz0123456789_")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def emit(data, indent: int = 0) -> str:
    """Block YAML for dicts, lists and scalars (strings always quoted, so every value stays a string)."""
    pad = "  " * indent
    lines = []
    if isinstance(data, dict):
        for key, value in data.items():
            k = key if set(key) <= _PLAIN_KEY else json.dumps(key)
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{pad}{k}:\n{emit(value, indent + 1)}")
            elif isinstance(value, dict):
                lines.append(f"{pad}{k}: {{}}")
            elif isinstance(value, list):
                lines.append(f"{pad}{k}: []")
            else:
                lines.append(f"{pad}{k}: {_scalar(value)}")
    else:
        for value in data:
            if isinstance(value, dict) and value:
                inner = emit(value, indent + 1)
                lines.append(f"{pad}- {inner.lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(value)}")
    return "\n".join(lines)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _image(name: str) -> dict:
    return {"reference": f"registry.example.org/{name}:1.0", "digest": f"sha256:{_sha(name)}"}


def _tasks(*names: str) -> dict:
    labels = {"prepare": ("data_path", "labels_path"), "infer": ("data_path",),
              "evaluate": ("predictions", "labels"), "sanity_check": ("data_path",), "statistics": ("data_path",)}
    return {"tasks": {n: {"input_volumes": {lab: {"mount_path": f"/mlcommons/volumes/{lab}", "type": "directory"}
                                            for lab in labels[n]},
                          "output_volumes": {"output_path": {"mount_path": "/mlcommons/volumes/output",
                                                             "type": "directory"}}}
                      for n in names}}


def plan(n_records: int, seed: int = 0) -> dict[str, dict]:
    """Every record of a synthetic registry: path -> record."""
    rng = random.Random(seed)
    n = max(n_records, 12)
    n_people = max(3, n // 20)
    n_bench = max(1, n // 200)
    n_cont = max(3 * n_bench + 1, n // 10)
    n_data = max(1, n // 5)
    n_models = n_cont - 3 * n_bench
    n_assoc = n_data + n_models
    n_results = max(1, n - 1 - n_people - n_bench - n_cont - n_data - n_assoc)
    handles = [f"user{i}" for i in range(1, n_people + 1)]
    records: dict[str, dict] = {"registry.yaml": {
        "schema_version": 1, "kind": "registry", "name": "synthetic", "admins": handles[:2],
        "medperf_git": "medperf-git==0.1.0", "open_registration": False}}
    for h in handles:
        records[f"people/{h}.yaml"] = {
            "schema_version": 1, "kind": "person", "handle": h, "name": f"Person {h}", "email": f"{h}@example.org",
            "keys": [f"{KEY}{_sha(h)[:40]} {h}"]}
    for c in range(1, n_cont + 1):
        role = ("prepare", "infer", "evaluate")[(c - 1) % 3] if c <= 3 * n_bench else "infer"
        tasks = {"prepare": ("prepare", "sanity_check", "statistics"), "infer": ("infer",),
                 "evaluate": ("evaluate",)}[role]
        records[f"containers/{c}.yaml"] = {
            "schema_version": 1, "kind": "container", "id": c, "name": f"{role}-container-{c}",
            "owner": rng.choice(handles), "description": f"A synthetic {role} container",
            "config": _tasks(*tasks), "parameters": {"seed": c}, "image": _image(f"c{c}")}
    for b in range(1, n_bench + 1):
        records[f"benchmarks/{b}.yaml"] = {
            "schema_version": 1, "kind": "benchmark", "id": b, "name": f"benchmark-{b}",
            "description": "A synthetic benchmark", "docs_url": f"https://example.org/b{b}",
            "owners": [handles[b % n_people]], "data_preparation": 3 * b - 2, "reference_model": 3 * b - 1,
            "metrics": 3 * b, "association_policy": {"datasets": {"mode": "never"}, "models": {"mode": "never"}},
            "approvals_required": 1, "min_isolation": "none"}
    owners = {}
    for d in range(1, n_data + 1):
        b = (d - 1) % n_bench + 1
        owners[d] = rng.choice(handles)
        records[f"datasets/{d}.yaml"] = {
            "schema_version": 1, "kind": "dataset", "id": d, "name": f"dataset {d}", "description": "synthetic",
            "location": "Somewhere", "owner": owners[d], "benchmark": b, "data_preparation": 3 * b - 2,
            "input_data_hash": f"tree-v1:sha256:{_sha(f'in{d}')}", "generated_uid": f"tree-v1:sha256:{_sha(f'g{d}')}",
            "statistics": {"rows": d, "mean": 0.5}, "tool_version": "0.1.0"}
        records[f"associations/{b}/dataset-{d}.yaml"] = {
            "schema_version": 1, "kind": "association", "benchmark": b, "dataset": d, "initiated_by": owners[d]}
    for m in range(3 * n_bench + 1, n_cont + 1):
        b = (m - 1) % n_bench + 1
        records[f"associations/{b}/model-{m}.yaml"] = {
            "schema_version": 1, "kind": "association", "benchmark": b, "model": m,
            "initiated_by": records[f"containers/{m}.yaml"]["owner"], "priority": 0}
    for i in range(n_results):
        d = i % n_data + 1
        rerun = i // n_data + 1
        b = (d - 1) % n_bench + 1
        m = 3 * b - 1
        name = f"b{b}m{m}d{d}" + (f"-{rerun}" if rerun > 1 else "")
        run = {c: {"id": cid, "config_hash": f"sha256:{_sha(f'cfg{cid}')}",
                   "parameters_hash": f"sha256:{_sha(f'par{cid}')}", "image": _image(f"c{cid}")}
               for c, cid in (("data_preparation", 3 * b - 2), ("model", m), ("metrics", 3 * b))}
        records[f"results/{b}/{name}.yaml"] = {
            "schema_version": 1, "kind": "result", "name": name, "benchmark": b, "model": m, "dataset": d,
            "owner": owners[d], "metrics": {"accuracy": round(rng.random(), 4)}, "partial": False,
            "provenance": {"dataset_uid": records[f"datasets/{d}.yaml"]["generated_uid"], "containers": run,
                           "runner": "docker", "isolation": "container", "tool_version": "0.1.0"},
            "created_at": "2026-01-01T00:00:00Z"}
    return records


def _git(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="Generator", GIT_AUTHOR_EMAIL="gen@example.org", GIT_COMMITTER_NAME="Generator",
               GIT_COMMITTER_EMAIL="gen@example.org", GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def write_records(path: str | os.PathLike, records: dict[str, dict]) -> None:
    root = Path(path)
    made: set[Path] = set()
    for rel, data in records.items():
        target = root / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_text(emit(data) + "\n", encoding="utf-8")


def admin_key(path: str | os.PathLike) -> Path:
    """The SSH key of the synthetic registry's first admin (user1), beside the registry: it signs the root
    commit, as ``registry init`` would, so that clients accept the registry."""
    key = Path(f"{path}-user1-key") / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "user1", "-f", str(key)], check=True)
    return key


def generate_registry(path: str | os.PathLike, n_records: int, *, seed: int = 0) -> str:
    """Write a valid registry of about ``n_records`` records at ``path`` as a git repository; return the commit."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    if not (root / ".git").exists():
        _git("init", "-q", "--initial-branch=main", cwd=root)
    records = plan(n_records, seed)
    key = admin_key(root)
    public = " ".join(key.with_name(key.name + ".pub").read_text().split()[:2])
    records["people/user1.yaml"]["keys"] = [f"{public} user1"]
    write_records(root, records)
    (root / "README.md").write_text("# A synthetic medperf-git registry\n", encoding="utf-8")
    _git("add", "-A", ".", cwd=root)
    _git("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-q", "-S", "-m",
         f"Synthetic registry of {n_records} records", cwd=root)
    return _git("rev-parse", "HEAD", cwd=root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    commit = generate_registry(args.path, args.records, seed=args.seed)
    print(f"{args.path}: {args.records} records at {commit} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
