"""The tutorial registry's state, committed directly on main (signed by the admin).

A test shortcut for the submit-and-approve history that `tutorials_scripts/setup_data_tutorial.sh`
makes with the real commands: flows that only read the registry (dataset create, benchmark run)
are tested from a known state in a second, without running the whole set-up.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from medperf_git.records.yamlio import dump_yaml
from medperf_git.registry.commits import commit_changes, update_ref
from medperf_git.registry.git import GitRepo
from tests.support.actors import Actor, seed_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples" / "chestxray"
TOOLS = EXAMPLES / "tools"
CONTAINERS = {1: ("chestxray-prep", "data_preparator", "testbo"),
              2: ("chestxray-reference-model", "model_reference", "testbo"),
              3: ("chestxray-metrics", "metrics", "testbo"),
              4: ("chestxray-second-model", "model_second", "testmo")}
PEOPLE = ["testadmin", "testbo", "testmo", "testdo"]


def build_assets(folder: Path) -> dict[str, str]:
    """The examples' deterministic archives and demo tarball: {file name: sha256 hex}."""
    folder.mkdir(parents=True, exist_ok=True)
    made = subprocess.run([sys.executable, str(TOOLS / "make_source_archives.py"), "--out", str(folder)],
                          check=True, capture_output=True, text=True).stdout
    subprocess.run([sys.executable, str(TOOLS / "make_demo_tarball.py"), "--out", str(folder / "demo_data.tar.gz")],
                   check=True, capture_output=True)
    return {line.split()[0]: line.split()[1].split(":", 1)[1] for line in made.splitlines()}


def make_raw_data(folder: Path, count: int = 12, seed: int = 7) -> Path:
    subprocess.run([sys.executable, str(TOOLS / "make_mock_data.py"), "--out", str(folder), "--count", str(count),
                    "--seed", str(seed)], check=True, capture_output=True)
    return folder


def _archive_pin(path: Path) -> dict:
    from medperf_git.hashing import sha256_file, tree_hash
    from medperf_git.runners.archives import safe_extract

    target = path.parent / f".x-{path.name}"
    if not target.exists():
        safe_extract(path, target)
    return {"url": path.as_uri(), "hash": sha256_file(path), "tree": tree_hash({"files": target}).digest}


def container_record(cid: int, assets: Path) -> dict:
    name, folder, owner = CONTAINERS[cid]
    config = yaml.safe_load((EXAMPLES / folder / "container_config.yaml").read_text())
    record = {"schema_version": 1, "kind": "container", "id": cid, "name": name, "owner": owner,
              "config": config, "parameters": yaml.safe_load((EXAMPLES / folder / "parameters.yaml").read_text()) or {},
              "source": _archive_pin(assets / f"{folder}.tar.gz")}
    extra = assets / f"{folder}_additional_files.tar.gz"
    if extra.exists():
        record["additional_files"] = _archive_pin(extra)
    return record


def commit_records(registry: Path, admin: Actor, records: dict[str, dict], message: str) -> str:
    repo = GitRepo(registry)
    main = repo.rev_parse("refs/heads/main")
    new = commit_changes(repo, main, {p: dump_yaml(r).encode() for p, r in records.items()}, message, admin.identity)
    update_ref(repo, "refs/heads/main", new, main)
    return new


def seed_tutorial_registry(root: Path, *, registry_settings: dict | None = None,
                           **profile_settings) -> tuple[Path, dict[str, Actor], Path]:
    """People, containers 1-4, benchmark 1 and model 4's approved association; returns (registry, actors, assets)."""
    registry, actors = seed_registry(root, PEOPLE, ["testadmin"], registry_settings=registry_settings,
                                     **profile_settings)
    assets = root / "assets"
    build_assets(assets)
    records = {f"containers/{cid}.yaml": container_record(cid, assets) for cid in CONTAINERS}
    records["benchmarks/1.yaml"] = {
        "schema_version": 1, "kind": "benchmark", "id": 1, "name": "chestxray",
        "description": "Chest X-ray classification tutorial benchmark", "owners": ["testbo"],
        "data_preparation": 1, "reference_model": 2, "metrics": 3,
        "association_policy": {"datasets": {"mode": "never"}, "models": {"mode": "never"}},
        "approvals_required": 1}
    records["associations/1/model-4.yaml"] = {"schema_version": 1, "kind": "association", "benchmark": 1,
                                              "model": 4, "initiated_by": "testmo"}
    commit_records(registry, actors["testadmin"], records, "Tutorial records")
    return registry, actors, assets
