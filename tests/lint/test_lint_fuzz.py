"""Random damage to a valid registry: lint reports it, and never raises or falls back to INTERNAL."""

from __future__ import annotations

import copy
import random

from registry_factory import valid_records

from medperf_git.lint.linter import lint, lint_tree
from medperf_git.records.yamlio import dump_yaml

ODD_VALUES = [None, 5, -1, 0, 1.5, True, "x", "", [], {}, [1, "a"], {"a": 1}, {"tasks": []}, "file:///x",
              "tree-v1:sha256:" + "0" * 64, 10**20, [{"mode": "allowlist"}]]


class DictTree:
    """A TreeSource in memory, so hundreds of registries cost nothing to build."""

    name = "memory"

    def __init__(self, files: dict[str, bytes]):
        self.files = files

    def paths(self):
        return iter(self.files)

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)

    def blob_id(self, path: str) -> str | None:
        return None


def _damage(rng: random.Random, record: dict) -> None:
    node = record
    for _ in range(rng.randint(0, 3)):  # walk into a nested mapping now and then
        children = [k for k, v in node.items() if isinstance(v, dict) and v]
        if not children:
            break
        node = node[rng.choice(children)]
    key = rng.choice(list(node))
    action = rng.random()
    if action < 0.6:
        node[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif action < 0.8:
        del node[key]
    else:
        node[rng.choice(["extra", "1", "id", "owner", "name"])] = copy.deepcopy(rng.choice(ODD_VALUES))


def test_random_damage_never_crashes():
    rng = random.Random(20261128)
    base = valid_records()
    clean = {path: dump_yaml(data).encode() for path, data in base.items()}
    assert lint_tree(DictTree(clean)) == []
    for _ in range(60):
        files = dict(clean)
        for path in rng.sample(sorted(base), rng.randint(1, 3)):
            record = copy.deepcopy(base[path])
            _damage(rng, record)
            files[path] = dump_yaml(record).encode()
        found = lint_tree(DictTree(files))
        assert not [f.text() for f in found if f.code == "INTERNAL"]


def test_random_damage_with_a_base_never_crashes():
    rng = random.Random(7)
    base = valid_records()
    clean = {path: dump_yaml(data).encode() for path, data in base.items()}
    for _ in range(40):
        files = dict(clean)
        changed = set(rng.sample(sorted(base), rng.randint(1, 3)))
        for path in changed:
            if rng.random() < 0.2:
                del files[path]
                continue
            record = copy.deepcopy(base[path])
            _damage(rng, record)
            files[path] = dump_yaml(record).encode()
        report = lint(DictTree(files), base=DictTree(clean), changed=changed)
        assert not [f.text() for f in report.findings if f.code == "INTERNAL"]
