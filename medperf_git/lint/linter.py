"""The one registry checker, used by ``registry lint``, by CI on a pull request's merged tree and by merges.

Rules run in a fixed order: placement, YAML syntax, the schema, references, uniqueness,
association rules, ``file:///`` URLs and, with a base, history. Without a base every file of the
tree is checked. With a base (a tree, its facts, or both) only the changed paths are parsed and
everything else is known from the base's facts overlaid with the change, which is sound because
merged records are frozen. Lint never raises on bad input: every problem is a finding.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from medperf_git.lint import _history
from medperf_git.lint._parse import Parsed, parse_record, placement
from medperf_git.lint._rules import cross_record
from medperf_git.lint.facts import Facts
from medperf_git.lint.findings import Finding
from medperf_git.lint.tree_facts import OverlayFacts, TreeFacts
from medperf_git.records.layout import ADMIN_ONLY_PREFIXES, REGISTRY_FILE, case_twins, parse_path, printable
from medperf_git.records.yamlio import load_record, load_yaml


@dataclass(frozen=True)
class LintReport:
    findings: list[Finding]
    records: int  # record files checked
    # (kind, key) -> the record as parsed (None when gone or invalid), for every record lint read: what a
    # caller walking history (the audit) carries forward instead of parsing each file again.
    parsed: dict[tuple[str, str], dict | None] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity != "error" for f in self.findings)

    @property
    def valid(self) -> bool:
        return self.errors == 0


def lint_tree(tree, *, base=None, base_facts: Facts | None = None, changed: set[str] | None = None) -> list[Finding]:
    """Findings for ``tree``, sorted by path and line (see :func:`lint`)."""
    return lint(tree, base=base, base_facts=base_facts, changed=changed).findings


def lint(tree, *, base=None, base_facts: Facts | None = None, changed: set[str] | None = None,
         base_label: str | None = None) -> LintReport:
    """Check ``tree`` (a TreeSource).

    ``base`` (a TreeSource) and/or ``base_facts`` (e.g. the index of the base commit) turn on the
    history rules and incremental checking; ``changed`` lists the paths that differ from the base
    (computed from the two trees when omitted).
    """
    try:
        if base is None and base_facts is None and changed is None:
            return _full(tree)
        if changed is None:
            changed = changed_paths(tree, base) if base is not None else set(tree.paths())
        report = _incremental(tree, base, base_facts, set(changed), base_label)
        if REGISTRY_FILE in changed and _tightened(tree, base):
            # Unchanged records may break the new rules: check them all (history rules stay on the change).
            full = _full(tree)
            return _done(report.findings + full.findings, full.records, {**full.parsed, **report.parsed})
        return report
    except Exception as exc:  # noqa: BLE001 - a bug in a rule must not become a traceback for the user
        return LintReport([_internal(getattr(tree, "name", "."), exc)], 0)


def _internal(path: str, exc: Exception) -> Finding:
    return Finding(path, 1, 1, "INTERNAL", f"lint could not check this file ({type(exc).__name__}: {exc})",
                   "this is a bug in medperf-git; please report it with this line")


def _blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object id


def changed_paths(tree, base) -> set[str]:
    """Paths whose contents differ between two trees (Git blob ids where both have them)."""
    new_paths, old_paths = set(tree.paths()), set(base.paths())
    out = new_paths ^ old_paths
    for path in new_paths & old_paths:
        new_id, old_id = tree.blob_id(path), base.blob_id(path)
        if new_id is None:
            data = tree.read(path)
            new_id = _blob_sha(data) if data is not None else None
        if old_id is None:
            data = base.read(path)
            old_id = _blob_sha(data) if data is not None else None
        if new_id != old_id:
            out.add(path)
    return out


def _exists(tree, path: str) -> bool:
    if hasattr(tree, "is_file"):
        return tree.is_file(path)
    if getattr(tree, "entries", None) is not None:
        return tree.blob_id(path) is not None
    return tree.read(path) is not None


def _check_files(tree, paths: Iterable[str]) -> tuple[list[Finding], dict[str, Parsed]]:
    findings: list[Finding] = []
    parsed: dict[str, Parsed] = {}
    for path in paths:
        try:
            rp, problem = placement(path)
            if problem:
                findings.append(problem)
            if rp is not None:
                rec = parse_record(tree, path, rp)
                parsed[path] = rec
                findings.extend(rec.findings)
        except Exception as exc:  # noqa: BLE001
            findings.append(_internal(path, exc))
    return findings, parsed


_POOL_MIN = 2_000  # below this many files one process is faster than starting workers


def _check_chunk(args: tuple[str, list[str]]) -> tuple[list[Finding], dict[str, Parsed]]:
    from medperf_git.registry.tree import FolderTree

    root, paths = args
    return _check_files(FolderTree(root), paths)


def _check_files_parallel(tree, paths: list[str]) -> tuple[list[Finding], dict[str, Parsed]]:
    """The per-file checks on every core for a large working folder (parsing YAML is most of lint's time)."""
    from medperf_git.lint._fastschema import _validators

    workers = min(os.cpu_count() or 1, 8)
    root = getattr(tree, "root", None)
    if workers < 2 or len(paths) < _POOL_MIN or root is None or "fork" not in multiprocessing.get_all_start_methods():
        return _check_files(tree, paths)
    _validators()  # compiled once here, inherited by the forked workers
    chunks = [(str(root), paths[i::workers * 4]) for i in range(workers * 4)]
    findings: list[Finding] = []
    parsed: dict[str, Parsed] = {}
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for chunk_findings, chunk_parsed in pool.imap_unordered(_check_chunk, chunks):
                findings += chunk_findings
                parsed.update(chunk_parsed)
    except (OSError, multiprocessing.ProcessError):
        return _check_files(tree, paths)
    return findings, parsed


def _allow_file_urls(tree, parsed: dict[str, Parsed]) -> bool:
    rec = parsed.get(REGISTRY_FILE)
    if rec is not None:
        return bool(rec.valid and rec.data.get("allow_file_urls") is True)
    try:
        data = load_yaml(tree.read(REGISTRY_FILE) or b"", REGISTRY_FILE)
        return isinstance(data, dict) and data.get("allow_file_urls") is True
    except Exception:  # noqa: BLE001 - an unreadable registry.yaml allows nothing
        return False


def _tightened(tree, base) -> bool:
    """Does the change to registry.yaml forbid what records already merged may hold (file:// URLs)?"""
    if base is None or not _exists(base, REGISTRY_FILE):
        return True  # nothing to compare with: assume it does
    return _allow_file_urls(base, {}) and not _allow_file_urls(tree, {})


def _cross(tree, parsed: dict[str, Parsed], facts: Facts, incremental: bool = False) -> list[Finding]:
    allow = _allow_file_urls(tree, parsed)
    checked = {(rec.rp.kind, rec.rp.key) for rec in parsed.values()}
    findings = []
    for rec in parsed.values():
        if not rec.valid:
            continue
        try:
            findings.extend(cross_record(rec, facts, checked, allow, incremental))
        except Exception as exc:  # noqa: BLE001
            findings.append(_internal(rec.path, exc))
    return findings


def _done(findings: list[Finding], records: int, parsed: dict | None = None) -> LintReport:
    return LintReport(sorted(set(findings), key=lambda f: (f.path, f.line, f.col, f.code, f.message)), records,
                      parsed or {})


def _twin_findings(pairs: list[tuple[str, str]]) -> list[Finding]:
    return [Finding(printable(path), 1, 1, "CASE-TWIN", f"'{printable(path)}' and '{printable(other)}' differ only in "
                                                        "case: on a case-insensitive disk one overwrites the other",
                    "keep one of the two names") for path, other in pairs]


def _new_twins(tree, present: list[str]) -> list[Finding]:
    """Valid record paths are lower-case by their patterns and the few other names allowed have one
    spelling, so only a changed file under ``.github/`` can have a case twin: only then is the tree listed."""
    if not any(p.startswith(ADMIN_ONLY_PREFIXES) for p in present):
        return []
    mine = set(present)
    return _twin_findings([(p, o) for p, o in case_twins(p for p in tree.paths() if p.startswith(ADMIN_ONLY_PREFIXES))
                           if p in mine or o in mine])


def _full(tree) -> LintReport:
    paths = sorted(tree.paths())
    findings, parsed = _check_files_parallel(tree, paths)
    findings += _twin_findings(case_twins(paths))
    if REGISTRY_FILE not in parsed:
        findings.append(Finding(REGISTRY_FILE, 1, 1, "PLACEMENT", "registry.yaml is missing: this folder is not a "
                                                                  "medperf-git registry",
                                "check the path, or create a registry with `medperf-git registry init`"))
    facts = TreeFacts(tree, {p: (r.data if r.valid else None) for p, r in parsed.items()}, paths=paths)
    findings += _cross(tree, parsed, facts)
    return _done(findings, len(parsed), {(r.rp.kind, r.rp.key): (r.data if r.valid else None) for r in parsed.values()})


def _base_record(base, base_facts: Facts | None, path: str, kind: str, key: str) -> tuple[bool, dict | None]:
    """Whether the base holds the record, and its data when readable."""
    if base is not None:
        if not _exists(base, path):
            return False, None
        try:
            data = load_record(base.read(path) or b"", path)
            return True, data if isinstance(data, dict) else None
        except Exception:  # noqa: BLE001 - a broken base record cannot be compared
            return True, None
    if base_facts is not None and base_facts.has(kind, key):
        return True, base_facts.get(kind, key)
    return False, None


def _incremental(tree, base, base_facts: Facts | None, changed: set[str], base_label: str | None) -> LintReport:
    present = sorted(p for p in changed if _exists(tree, p))
    gone = sorted(changed.difference(present))
    for side in (tree, base):
        if hasattr(side, "prefetch"):
            side.prefetch(present)
    findings, parsed = _check_files(tree, present)
    findings += _new_twins(tree, present)
    facts_of_base: Facts = base_facts or TreeFacts(base if base is not None else tree)
    overlay = {(r.rp.kind, r.rp.key): (r.data if r.valid else None) for r in parsed.values()}
    gone_records = [(p, rp) for p in gone if (rp := parse_path(p)) is not None]
    for _, rp in gone_records:
        overlay[(rp.kind, rp.key)] = None
    facts = OverlayFacts(facts_of_base, overlay, {(r.rp.kind, r.rp.key) for r in parsed.values()})
    findings += _cross(tree, parsed, facts, incremental=True)
    if base is not None or base_facts is not None:
        base_name = base_label or getattr(base, "name", None) or "BASE"
        for path, rp in gone_records:
            if _base_record(base, base_facts, path, rp.kind, rp.key)[0]:
                findings.append(_history.deleted(path, rp, base_name))
        for rec in parsed.values():
            if not rec.valid:
                continue
            try:
                existed, old = _base_record(base, base_facts, rec.path, rec.rp.kind, rec.rp.key)
                if existed and old is not None:
                    findings += _history.changed(rec, old)
            except Exception as exc:  # noqa: BLE001
                findings.append(_internal(rec.path, exc))
    return _done(findings, len(parsed), overlay)
