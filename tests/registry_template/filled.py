"""The tutorial registry's template (registry/) with one set-up's values filled in, and how a main differs.

The placeholders (registry/README.md) are filled in the way the set-up's commands fill them: archive
URLs, sha256 and tree-v1 are computed here from the archives the set-up built, keys are read from the
people's key files, the version is the installed one. What only running the containers produces (the
demo data's UID, a compatibility test's numbers and provenance) is taken from main, and
``measured_problems`` checks that it hangs together.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from medperf_git import __version__
from medperf_git.hashing import sha256_file
from medperf_git.runners.archives import safe_extract
from medperf_git.runners.resolve import tree_of
from tutorials_scripts.registry_template import (
    ASSET_URL,
    VERSION_TOKEN,
    ZERO_KEY,
    ZERO_SHA256,
    ZERO_TREE,
    asset_name,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "registry"
PIN_FIELDS = ("source", "additional_files")


def records_in(folder: Path) -> dict[str, dict]:
    """Every record of a folder of records, by its path."""
    return {p.relative_to(folder).as_posix(): yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in sorted(folder.rglob("*.yaml"))}


def records_on(registry: Path, ref: str = "main") -> dict[str, dict]:
    """Every record of a registry repository's ``ref``, by its path."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=registry, check=True, capture_output=True, text=True).stdout

    return {path: yaml.safe_load(git("show", f"{ref}:{path}"))
            for path in git("ls-tree", "-r", "--name-only", ref).splitlines() if path.endswith(".yaml")}


@dataclass
class Machine:
    """What one run of the set-up made: its tutorial folder, the people's keys, the registry's records."""

    tutorial: Path  # medperf_tutorial
    keys: Path  # keys/<handle>/id_ed25519.pub
    main: dict[str, dict]


def template_problems(machine: Machine, template: Path = TEMPLATE) -> list[str]:
    """How main differs from the template filled in with this machine's values, and what of main's own
    values does not hang together; empty when main is the template."""
    return differences(filled(records_in(template), machine), machine.main) + measured_problems(machine.main)


def filled(template: dict[str, dict], machine: Machine) -> dict[str, dict]:
    """The template's records with their placeholders replaced by this machine's values."""
    return {path: _fill(record, (path,), machine) for path, record in template.items()}


def _fill(value: Any, where: tuple, machine: Machine) -> Any:
    if isinstance(value, dict):
        if where[-1] == "compatibility_test":
            return _measured(value, where, machine)
        out = {key: _fill(item, (*where, key), machine) for key, item in value.items()}
        if isinstance(value.get("url"), str) and ASSET_URL.fullmatch(value["url"]):
            out.update(_archive_pin(machine.tutorial / "assets" / asset_name(value["url"]), value))
        return out
    if isinstance(value, list):
        return [_fill(item, (*where, i), machine) for i, item in enumerate(value)]
    if value == ZERO_KEY:
        handle = Path(where[0]).stem
        return " ".join((machine.keys / handle / "id_ed25519.pub").read_text(encoding="utf-8").split()[:2])
    if value == ZERO_TREE and where[-1] == "generated_uid":
        return _on_main(machine, where, value)
    if isinstance(value, str) and VERSION_TOKEN in value:
        return value.replace(VERSION_TOKEN, __version__)
    return value


def _archive_pin(archive: Path, pin: dict) -> dict:
    out = {"url": archive.as_uri()}
    if pin.get("hash") == ZERO_SHA256:
        out["hash"] = sha256_file(archive)
    if pin.get("tree") == ZERO_TREE:
        with tempfile.TemporaryDirectory() as tmp:
            safe_extract(archive, Path(tmp) / "x")
            out["tree"] = tree_of(Path(tmp) / "x")
    return out


def _on_main(machine: Machine, where: tuple, default: Any) -> Any:
    value: Any = machine.main.get(where[0])
    for key in where[1:]:
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def _measured(test: dict, where: tuple, machine: Machine) -> dict:
    """A compatibility test: the template's metric names with main's numbers, main's provenance for {}."""
    out = {key: _fill(item, (*where, key), machine) for key, item in test.items()}
    results = _on_main(machine, (*where, "results"), {})
    out["results"] = {name: results.get(name, zero) if isinstance(results, dict) else zero
                      for name, zero in test.get("results", {}).items()}
    if test.get("provenance") == {}:
        out["provenance"] = _on_main(machine, (*where, "provenance"), {})
    return out


def differences(expected: dict[str, dict], actual: dict[str, dict]) -> list[str]:
    """One line per record missing or extra, and per field that differs."""
    lines = [f"{path}: in the template, not on main" for path in sorted(set(expected) - set(actual))]
    lines += [f"{path}: on main, not in the template" for path in sorted(set(actual) - set(expected))]
    for path in sorted(set(expected) & set(actual)):
        lines += [f"{path}: {line}" for line in _diff(expected[path], actual[path], "")]
    return lines


def _diff(a: Any, b: Any, at: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in b:
                out.append(f"{at}{key}: only in the template")
            elif key not in a:
                out.append(f"{at}{key}: only on main")
            else:
                out += _diff(a[key], b[key], f"{at}{key}.")
        return out
    if a == b and type(a) is type(b):
        return []
    return [f"{at.rstrip('.') or '(record)'}: template {a!r}, main {b!r}"]


def measured_problems(main: dict[str, dict]) -> list[str]:
    """The values taken from main agree with each other: every compatibility test ran on the benchmark's
    demo data, with the containers as registered."""
    problems = []
    for path, record in sorted(main.items()):
        test = record.get("compatibility_test")
        if test is None:
            continue
        benchmark_id = record["id"] if record["kind"] == "benchmark" else record["benchmark"]
        benchmark = main.get(f"benchmarks/{benchmark_id}.yaml")
        provenance = test.get("provenance") or {}
        uid = ((benchmark or {}).get("demo_dataset") or {}).get("generated_uid")
        if not uid or provenance.get("dataset_uid") != uid:
            problems.append(f"{path}: the test's dataset {provenance.get('dataset_uid')} is not the demo data {uid}")
        if not test.get("results") or not all(isinstance(v, (int, float)) for v in test["results"].values()):
            problems.append(f"{path}: the test's results are not numbers: {test.get('results')!r}")
        for role, ran in (provenance.get("containers") or {}).items():
            registered = main.get(f"containers/{ran.get('id')}.yaml") or {}
            for pin in PIN_FIELDS:
                if ran.get(pin) != registered.get(pin):
                    problems.append(f"{path}: the {role} ran with {pin} {ran.get(pin)}, "
                                    f"registered as {registered.get(pin)}")
    return problems
