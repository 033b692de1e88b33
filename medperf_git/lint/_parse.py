"""The per-file half of lint: placement, YAML syntax, the record's identity and its schema.

Each file is judged on its own here, so a broken file never stops the others from being checked.
Line numbers are computed only for files that have a problem.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

from medperf_git.lint._fastschema import is_valid
from medperf_git.lint.findings import Finding
from medperf_git.records.layout import (
    ADMIN_ONLY_PREFIXES,
    ALLOWED_EXTRA_FILES,
    RECORD_FOLDERS,
    REGISTRY_FILE,
    RecordPath,
    parse_path,
    path_problem,
    printable,
)
from medperf_git.records.yamlio import MAX_YAML_BYTES, YamlError, load_record, locate

_KIND_OF_FOLDER = {"people": "person", "containers": "container", "benchmarks": "benchmark",
                   "datasets": "dataset", "associations": "association", "results": "result"}
_FOLDER_RULE = {
    "people": "people/<handle>.yaml, the handle in lowercase letters, digits and inner dashes",
    "containers": "containers/<id>.yaml, the id a positive integer without leading zeros",
    "benchmarks": "benchmarks/<id>.yaml, the id a positive integer without leading zeros",
    "datasets": "datasets/<id>.yaml, the id a positive integer without leading zeros",
    "associations": "associations/<benchmark id>/dataset-<id>.yaml or associations/<benchmark id>/model-<id>.yaml",
    "results": "results/<benchmark id>/b<benchmark>m<model>d<dataset>.yaml (-2, -3, ... for a re-run), "
               "in the folder of its own benchmark",
}
_RESULT_NAME = re.compile(r"^b(\d+)m(\d+)d(\d+)(?:-\d+)?$")


@dataclass
class Parsed:
    """One record file after the per-file checks; ``data`` is trusted only when ``valid``."""

    path: str
    rp: RecordPath
    raw: bytes = b""
    data: Any = None
    valid: bool = False
    findings: list[Finding] = field(default_factory=list)

    def at(self, keys, code: str, message: str, hint: str | None = None, severity: str = "error") -> Finding:
        """A finding located at a key path of this record (computed now, only because there is a problem)."""
        line, col = locate(self.raw, list(keys)) if keys else (1, 1)
        return Finding(self.path, line, col, code, message, hint, severity)


def placement(path: str) -> tuple[RecordPath | None, Finding | None]:
    """The record a path holds, or a finding saying why nothing may live there."""
    if path == ".git":  # a linked work tree's pointer file, not content
        return None, None
    problem = path_problem(path)
    if problem:
        return None, Finding(printable(path), 1, 1, "PATH", f"{problem}: '{printable(path)}'",
                             "rename the file with plain, visible characters")
    rp = parse_path(path)
    if rp is not None:
        return rp, None
    name = path.rsplit("/", 1)[-1]
    if name in ALLOWED_EXTRA_FILES or path.startswith(ADMIN_ONLY_PREFIXES):
        return None, None
    top = path.split("/", 1)[0]
    if top in RECORD_FOLDERS:
        hint = f"records here are named {_FOLDER_RULE[top]}"
        if name.endswith(".yml"):
            hint = "rename it to end in .yaml; " + hint
        return None, Finding(path, 1, 1, "PLACEMENT", f"'{path}' is not a valid name for a {_KIND_OF_FOLDER[top]} "
                                                      "record", hint)
    if path.lower() in ("registry.yml", "registry.yaml") or name == REGISTRY_FILE:
        return None, Finding(path, 1, 1, "PLACEMENT", f"'{path}' is misplaced: registry.yaml sits at the root",
                             "move it to the root of the registry as registry.yaml")
    folders = ", ".join(f"{f}/" for f in RECORD_FOLDERS)
    return None, Finding(path, 1, 1, "PLACEMENT", f"unknown file '{path}': a registry holds only registry.yaml, "
                                                  "README.md, .gitattributes, .gitignore, .github/ and records",
                         f"records live in {folders}; move the file there with the right name, or remove it")


def read_file(tree, path: str) -> bytes | YamlError | None:
    """A file's bytes, refusing oversized ones before reading them when the tree is a folder."""
    root = getattr(tree, "root", None)
    try:
        if root is not None:
            st = os.lstat(os.path.join(root, path))
            if stat.S_ISLNK(st.st_mode):
                return YamlError(path, "file is a symbolic link; a registry holds only plain files", code="FILE-TYPE")
            if not stat.S_ISREG(st.st_mode):
                return YamlError(path, "not a regular file (a pipe, socket or device)", code="FILE-TYPE")
            size = st.st_size
            if size > MAX_YAML_BYTES:
                return YamlError(path, f"file is {size:,} bytes; records are limited to {MAX_YAML_BYTES:,} bytes",
                                 code="SIZE")
        return tree.read(path)
    except OSError as exc:
        return YamlError(path, f"cannot read file: {exc.strerror or exc}", code="IO")


def _identity(rec: Parsed) -> list[Finding]:
    """What the path says must equal what the record says."""
    data, rp = rec.data, rec.rp
    kind = data.get("kind")
    if isinstance(kind, str) and kind != rp.kind and kind in {*_KIND_OF_FOLDER.values(), "registry"}:
        return [rec.at(["kind"], "PLACEMENT", f"this file holds a {kind} record, but {rp.path} is the place of "
                                              f"a {rp.kind} record", "move the record into the folder of its kind")]
    expected: dict[str, Any] = {}
    if rp.kind == "person":
        expected["handle"] = rp.key
    elif rp.kind in ("container", "benchmark", "dataset"):
        expected["id"] = rp.id
    elif rp.kind == "association":
        expected = {"benchmark": rp.benchmark, rp.component: rp.id}
    elif rp.kind == "result":
        name = rp.key.split("/", 1)[1]
        b, m, d = (int(x) for x in _RESULT_NAME.match(name).groups())
        expected = {"name": name, "benchmark": b, "model": m, "dataset": d}
    found = []
    for key, want in expected.items():
        have = data.get(key)
        if key not in data or have == want and type(have) is type(want):
            continue
        if not isinstance(have, type(want)) or isinstance(have, bool):
            continue  # a wrong type is the schema's to report
        found.append(rec.at([key], "NAME-MISMATCH", f"{key} is {have!r} but the file name says {want!r}",
                            f"the path and the record must agree: rename the file or fix '{key}'"))
    return found


def parse_record(tree, path: str, rp: RecordPath) -> Parsed:
    """Read, parse and schema-check one record; never raises."""
    from medperf_git.records.schemas import validate

    rec = Parsed(path, rp)
    raw = read_file(tree, path)
    if isinstance(raw, YamlError):
        rec.findings.append(Finding(path, raw.line, raw.col, raw.code, raw.reason, _yaml_hint(raw.code)))
        return rec
    if raw is None:
        return rec
    rec.raw = raw
    try:
        rec.data = _load(raw, path)
    except YamlError as exc:
        rec.findings.append(Finding(path, exc.line, exc.col, exc.code, exc.reason, _yaml_hint(exc.code)))
        return rec
    if rec.data is None:
        rec.findings.append(Finding(path, 1, 1, "SCHEMA", f"file is empty: a {rp.kind} record is a YAML mapping",
                                    f"see schemas/{rp.kind}.schema.json for its fields"))
        return rec
    if isinstance(rec.data, dict):
        rec.findings.extend(_identity(rec))
        if any(f.code == "PLACEMENT" for f in rec.findings):
            return rec
    if is_valid(rp.kind, rec.data) is True:
        rec.valid = not rec.findings
        return rec
    try:
        problems = validate(rp.kind, rec.data)
    except Exception:  # noqa: BLE001 - odd values (non-string keys, sets) must not crash lint
        rec.findings.append(Finding(path, 1, 1, "SCHEMA", f"not a valid {rp.kind} record: it holds values that "
                                                          "are not plain YAML (mapping keys must be strings)",
                                    f"see schemas/{rp.kind}.schema.json for its fields"))
        return rec
    for problem in problems:
        rec.findings.append(rec.at(problem.path, "SCHEMA", f"{problem.field}: {problem.message}"
                                   if problem.path else problem.message,
                                   f"see schemas/{rp.kind}.schema.json for its fields"))
    rec.valid = not rec.findings
    return rec


def _load(raw: bytes, path: str) -> Any:
    """``load_yaml``'s result and errors, about twice as fast (``load_record``)."""
    return load_record(raw, path)


def _yaml_hint(code: str) -> str:
    return {
        "SIZE": "a record is a few KiB of YAML; remove data or generated content from it",
        "ENCODING": "save the file as UTF-8 text",
        "IO": "check that the file is readable",
        "FILE-TYPE": "replace it with the record's YAML as a plain file",
    }.get(code, "fix the YAML syntax at this position (records use plain mappings, no anchors or duplicate keys)")
