"""The house's layers only look down, and no two sub-packages import each other.

cli -> flows -> (policy, forges, runners) -> (lint, registry) -> (workspace, hashing) -> records.
Every import of every module counts, those inside functions too, since a deferred import is still a
dependency. Within one floor an import may go one way, never both ways round.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "medperf_git"
FLOORS = {
    "errors": 0, "records": 0,
    "workspace": 1, "hashing": 1,
    "lint": 2, "registry": 2,
    "policy": 3, "forges": 3, "runners": 3,
    "flows": 4,
    "cli": 5, "web": 5,
    "__main__": 6,
}


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "medperf_git" else None


def imports(package: Path = PACKAGE) -> dict[tuple[str, str], list[str]]:
    """(importer sub-package, imported sub-package) -> where, for every import between two sub-packages."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent)
        module = ".".join(rel.with_suffix("").parts)
        here = _part(module if rel.name != "__init__.py" else module + ".x")
        tree = ast.parse(path.read_text(encoding="utf-8"), str(rel))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                there = _part(name)
                if there and here and there != here and there in FLOORS:
                    found[(here, there)].append(f"{rel}:{node.lineno}")
    return found


def test_every_sub_package_has_a_floor():
    parts = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    parts |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert parts - set(FLOORS) <= {"data"}, f"give these a floor in FLOORS: {sorted(parts - set(FLOORS))}"


def test_imports_only_look_down():
    upward = [f"{a} -> {b} ({', '.join(sorted(set(where))[:3])})" for (a, b), where in imports().items()
              if FLOORS[b] > FLOORS[a]]
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_no_two_sub_packages_import_each_other():
    edges = imports()
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    circles = []
    for start in list(graph):  # a path from start back to itself, through any sub-packages
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    circles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert not circles, "sub-packages in a circle:\n" + "\n".join(sorted(set(circles)))


def test_the_check_sees_imports_inside_functions(tmp_path):
    """A deferred import is still a dependency: an upward one hidden in a function body is reported."""
    package = tmp_path / "medperf_git"
    (package / "registry").mkdir(parents=True)
    (package / "registry" / "clone.py").write_text("def f():\n    from medperf_git.flows.session import open\n")
    assert list(imports(package)) == [("registry", "flows")]
