"""History rules of ``lint --base``: what may change at all once a record is merged.

Read from the one permissions table (``records/permissions.py``): only the listed mutable fields
may change, results never change, nothing is deleted and ids are never reused. Who may make a
change is the policy engine's question, not lint's.
"""

from __future__ import annotations

from medperf_git.lint._parse import Parsed
from medperf_git.lint.findings import Finding
from medperf_git.records.envelope import reencryption_problem
from medperf_git.records.layout import RecordPath
from medperf_git.records.permissions import ENVELOPE_FIELD, PERMISSIONS, frozen_record, mutable_fields

_NEW_VERSION_HINT = {
    "container": "a new version of a container is a new record: submit it with the next free id",
    "benchmark": "a new version of a benchmark is a new record: submit it with the next free id",
}


def deleted(path: str, rp: RecordPath, base_name: str) -> Finding:
    undo = {"container": "; to stop its use set `retired: true`", "benchmark": "; to stop its use set `retired: true`",
            "association": "; to end it set `revoked`"}.get(rp.kind, "")
    return Finding(path, 1, 1, "DELETED", f"{rp.kind} record deleted: records are never deleted, so ids are never "
                                          "freed", f"restore it with `git checkout {base_name} -- {path}`{undo}")


def changed(rec: Parsed, old: dict) -> list[Finding]:
    """Findings for a record that exists on the base as ``old`` and now holds ``rec.data``."""
    kind, new = rec.rp.kind, rec.data
    if kind not in PERMISSIONS or old == new:
        return []
    fields = {f for f in {*old, *new} if old.get(f) != new.get(f) or (f in old) != (f in new)}
    if not PERMISSIONS[kind].mutable or frozen_record(kind, fields):
        return [rec.at([], "RESULT-EDITED" if kind == "result" else "FROZEN-FIELD",
                       f"{kind} records never change once merged",
                       "submit a re-run as a new result named with -2, -3, ... instead" if kind == "result"
                       else "submit a new record instead")]
    if ENVELOPE_FIELD in fields:
        problem = reencryption_problem(old.get(ENVELOPE_FIELD), new.get(ENVELOPE_FIELD))
        if problem:
            return [rec.at([ENVELOPE_FIELD] if ENVELOPE_FIELD in new else [], "REENCRYPT-CHANGED", problem,
                           "re-encrypt with `medperf-git result reencrypt`, which keeps the plaintext")]
    allowed = mutable_fields(kind)
    if "*" in allowed:
        return []
    if kind in ("container", "benchmark", "dataset") and old.get("name") != new.get("name") \
            and old.get("owner", old.get("owners")) != new.get("owner", new.get("owners")):
        return [rec.at(["name"], "ID-REUSED",
                       f"{rec.path} holds another {kind} on the base ('{old.get('name')}'): ids are never reused",
                       f"restore the base's record and give the new one the next free {kind} id")]
    found = []
    for field in [*new, *(k for k in old if k not in new)]:
        if field in allowed:
            continue
        if old.get(field) == new.get(field) and (field in old) == (field in new):
            continue
        where = [field] if field in new else []
        allowed_text = ", ".join(sorted(allowed)) or "none"
        found.append(rec.at(where, "FROZEN-FIELD",
                            f"{field} cannot change once a {kind} is merged (it may change only: {allowed_text})",
                            _NEW_VERSION_HINT.get(kind, f"restore the base's value of '{field}'")))
    return found
