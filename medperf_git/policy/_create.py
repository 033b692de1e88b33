"""Rules for creating the two records that join others: associations and results.

Both are judged against the base only: the benchmark, the dataset, the model and their owners, the
association policy, the associations already merged (merged means approved) and the registered pins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medperf_git.records import envelope
from medperf_git.records.layout import RecordPath
from medperf_git.records.permissions import ISOLATION_LEVELS

if TYPE_CHECKING:
    from medperf_git.policy.engine import Judge

PIN_FIELDS = ("image", "source", "additional_files")
_PIN_IDS = ("digest", "image_id", "hash")  # what identifies a pin's content


def component(judge: Judge, rp: RecordPath) -> dict | None:
    """The dataset record, or the model's container record, of an association."""
    if rp.id is None:
        return None
    return judge.base.record("dataset" if rp.component == "dataset" else "container", rp.id)


def component_owner(judge: Judge, rp: RecordPath) -> str | None:
    return (component(judge, rp) or {}).get("owner")


def association(judge: Judge, rp: RecordPath, new: dict, path: str) -> None:
    author = judge.author
    bench = judge.benchmark(rp.benchmark)
    comp = component(judge, rp)
    what = f"{rp.component} {rp.id}"
    if bench is None:
        judge.deny(path, "UNKNOWN-RECORD", f"benchmark {rp.benchmark} is not on the base")
        return
    if comp is None:
        judge.deny(path, "UNKNOWN-RECORD", f"{what} is not on the base")
        return
    owners = bench.get("owners") or []
    comp_owner = comp.get("owner")
    if new.get("initiated_by") != author:
        judge.deny(path, "NOT-INITIATOR", f"initiated_by is '{new.get('initiated_by')}' but the request is "
                                          f"made by '{author}'", "set initiated_by to your own handle")
        return
    if author != comp_owner and author not in owners:
        judge.deny(path, "NOT-PERMITTED", f"only the owner of {what} or a benchmark {rp.benchmark} owner may "
                                          "request this association")
        return
    if comp_owner in owners:
        return  # the component owner sits on the committee: approved by policy
    if author == comp_owner:
        kind = "datasets" if rp.component == "dataset" else "models"
        policy = (bench.get("association_policy") or {}).get(kind) or {}
        mode = policy.get("mode", "never")
        if mode == "always" or (mode == "allowlist" and author in (policy.get("allowlist") or [])):
            return
        judge.need(f"the committee of benchmark {rp.benchmark}", owners, int(bench.get("approvals_required") or 1),
                   path)
    else:  # initiated by the committee: the component's owner consents
        judge.need(f"the owner of {what}", [comp_owner] if comp_owner else [], 1, path)


def _approved(judge: Judge, benchmark: int, component_kind: str, cid, path: str) -> bool:
    assoc = judge.base.record("association", cid, benchmark, component_kind) if isinstance(cid, int) else None
    if assoc is None:
        judge.deny(path, "NOT-ASSOCIATED", f"{component_kind} {cid} has no approved association with benchmark "
                                           f"{benchmark} on main", "request it and wait for its approval first")
        return False
    if assoc.get("revoked"):
        judge.deny(path, "REVOKED", f"the association of {component_kind} {cid} with benchmark {benchmark} "
                                    "is revoked")
        return False
    return True


def _pins_match(registered: dict, used: dict) -> bool:
    if not isinstance(registered, dict) or not isinstance(used, dict):
        return False
    shared = [k for k in registered if k in used]
    return (all(registered[k] == used[k] for k in shared)
            and any(k in shared for k in _PIN_IDS))


def result(judge: Judge, rp: RecordPath, new: dict, path: str) -> None:
    author = judge.author
    bid, mid, did = new.get("benchmark"), new.get("model"), new.get("dataset")
    bench = judge.benchmark(bid)
    dataset = judge.base.record("dataset", did) if isinstance(did, int) else None
    if bid != rp.benchmark or bench is None:
        judge.deny(path, "UNKNOWN-RECORD", f"benchmark {bid} is not on the base (or not this folder's)")
        return
    if dataset is None:
        judge.deny(path, "UNKNOWN-RECORD", f"dataset {did} is not on the base")
        return
    if dataset.get("owner") != author or new.get("owner") != author:
        judge.deny(path, "NOT-OWNER", f"a result is submitted by its dataset's owner ('{dataset.get('owner')}') "
                                      f"and names them as owner; author '{author}', owner '{new.get('owner')}'")
    _approved(judge, bid, "dataset", did, path)
    if mid != bench.get("reference_model"):
        _approved(judge, bid, "model", mid, path)
    provenance = new.get("provenance") if isinstance(new.get("provenance"), dict) else {}
    if provenance.get("dataset_uid") != dataset.get("generated_uid"):
        judge.deny(path, "PROVENANCE", f"provenance.dataset_uid does not equal dataset {did}'s generated_uid")
    expected = {"model": mid, "metrics": bench.get("metrics"),
                "data_preparation": dataset.get("data_preparation", bench.get("data_preparation"))}
    runs = provenance.get("containers") if isinstance(provenance.get("containers"), dict) else {}
    for role in ("model", "metrics"):
        if role not in runs:
            judge.deny(path, "PROVENANCE", f"provenance names no {role} container")
    for role, run in runs.items():
        if not isinstance(run, dict) or role not in expected:
            judge.deny(path, "PROVENANCE", f"provenance.containers.{role} is not a container this result uses")
            continue
        if run.get("id") != expected[role]:
            judge.deny(path, "PROVENANCE", f"provenance.containers.{role} is container {run.get('id')}, "
                                           f"not {expected[role]}")
            continue
        container = judge.base.record("container", run["id"]) or {}
        used = [k for k in PIN_FIELDS if k in run]
        if not any(k in run for k in ("image", "source")):
            judge.deny(path, "PROVENANCE", f"provenance.containers.{role} names no image or source pin")
        for key in used:
            if not _pins_match(container.get(key), run[key]):
                judge.deny(path, "PROVENANCE", f"provenance.containers.{role}.{key} differs from container "
                                               f"{run['id']}'s registered pin")
    level = provenance.get("isolation")
    minimum = bench.get("min_isolation") or "none"
    if level not in ISOLATION_LEVELS or (minimum in ISOLATION_LEVELS
                                         and ISOLATION_LEVELS.index(level) < ISOLATION_LEVELS.index(minimum)):
        judge.deny(path, "ISOLATION", f"made with isolation '{level}'; benchmark {bid} requires at least "
                                      f"'{minimum}'", "re-run with a runner that isolates more (sandbox, docker)")
    confidential(judge, bench, new, path, "result")


def confidential(judge: Judge, bench: dict | None, new: dict, path: str, what: str) -> None:
    """On a committee benchmark (as the base has it) numbers go encrypted, to every reader."""
    if not envelope.committee(bench):
        return
    bid = (bench or {}).get("id")
    sealed = new.get("encrypted")
    if not isinstance(sealed, dict):
        judge.deny(path, "CLEAR-RESULT", f"benchmark {bid} keeps results among its committee, but this {what} "
                                         "is in clear", "submit it again with this version of medperf-git, "
                                                        "which encrypts it")
        return
    listed = {r.get("handle") for r in sealed.get("recipients") or [] if isinstance(r, dict)}
    missing = [h for h in envelope.readers(bench, new.get("owner")) if h not in listed]
    if missing:
        judge.deny(path, "RECIPIENTS", f"the {what} is not encrypted to {', '.join(missing)}",
                   "encrypt it to every owner of the benchmark and to the data owner")


def weights_keys(judge: Judge, rp: RecordPath, old: dict | None, new: dict, path: str) -> None:
    """A private model's key is released by the model's owner alone, only to the owner of a dataset whose
    association with the benchmark is approved on the base, encrypted to that owner's current keys."""
    from medperf_git.records import weights

    before = {(g.get("dataset"), str(g.get("encrypted"))) for g in weights.grants(old)}
    added = [g for g in weights.grants(new) if (g.get("dataset"), str(g.get("encrypted"))) not in before]
    if not added:
        return
    owner = component_owner(judge, rp)
    if rp.component != "model" or judge.author != owner:
        judge.deny(path, "NOT-PERMITTED", f"only the owner of model {rp.id} ('{owner}') may release its key "
                                          f"({weights.GRANTS})")
        return
    for grant in added:
        did = grant.get("dataset")
        if not _approved(judge, rp.benchmark, "dataset", did, path):
            continue
        holder = (judge.base.record("dataset", did) or {}).get("owner")
        expected = {envelope.fingerprint(k) for k in envelope.ed25519_keys(judge.base.record("person", holder))}
        listed = {r.get("key") for r in (grant.get("encrypted") or {}).get("recipients") or []
                  if isinstance(r, dict)}
        if not expected or listed != expected:
            judge.deny(path, "WEIGHTS-KEY", f"the key released for dataset {did} must be encrypted to the current "
                                            f"SSH ed25519 keys of its owner '{holder}' and nobody else",
                       "release it again with `medperf-git container grant-access`")
