"""Cross-record rules: references, required tasks, uniqueness, association rules and file:/// URLs.

They run only on records that passed their schema, and ask the rest of the registry through
:class:`~medperf_git.lint.facts.Facts`, so full lint and ``lint --base`` share every rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from medperf_git.lint._parse import Parsed
from medperf_git.lint.facts import Facts
from medperf_git.lint.findings import Finding
from medperf_git.lint.tree_facts import key_path, keys_named, keys_with_uid
from medperf_git.records import envelope
from medperf_git.records.layout import normalize_name

_PREP_TASKS = ("prepare", "sanity_check", "statistics")


def _sort_key(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (0, key)


def person_refs(data: dict, kind: str) -> Iterator[tuple[tuple, str]]:
    """(key path, handle) of every person a record names."""
    if kind == "registry":
        for i, h in enumerate(data.get("admins", ())):
            yield ("admins", i), h
    if kind in ("container", "dataset", "result") and "owner" in data:
        yield ("owner",), data["owner"]
    if kind == "benchmark":
        for i, h in enumerate(data.get("owners", ())):
            yield ("owners", i), h
        for side, policy in (data.get("association_policy") or {}).items():
            for i, h in enumerate(policy.get("allowlist", ())):
                yield ("association_policy", side, "allowlist", i), h
    if kind == "association":
        if "initiated_by" in data:
            yield ("initiated_by",), data["initiated_by"]
        if "revoked" in data:
            yield ("revoked", "by"), data["revoked"]["by"]


def record_refs(data: dict, kind: str) -> Iterator[tuple[tuple, str, int]]:
    """(key path, kind, id) of every container, benchmark and dataset a record names."""
    if kind == "benchmark":
        for f in ("data_preparation", "reference_model", "metrics"):
            yield (f,), "container", data[f]
    elif kind == "dataset":
        yield ("data_preparation",), "container", data["data_preparation"]
        if "benchmark" in data:
            yield ("benchmark",), "benchmark", data["benchmark"]
    elif kind == "association":
        yield ("benchmark",), "benchmark", data["benchmark"]
        if "dataset" in data:
            yield ("dataset",), "dataset", data["dataset"]
        if "model" in data:
            yield ("model",), "container", data["model"]
    elif kind == "result":
        yield ("benchmark",), "benchmark", data["benchmark"]
        yield ("model",), "container", data["model"]
        yield ("dataset",), "dataset", data["dataset"]


def _tasks(container: dict | None) -> set[str] | None:
    config = container.get("config") if isinstance(container, dict) else None
    tasks = config.get("tasks") if isinstance(config, dict) else None
    return set(tasks) if isinstance(tasks, dict) else None


def references(rec: Parsed, facts: Facts) -> list[Finding]:
    data, kind = rec.data, rec.rp.kind
    found = []
    for keys, handle in person_refs(data, kind):
        if not facts.has("person", handle):
            if kind == "registry":  # admins are named before they register: they can sign nothing meanwhile
                found.append(rec.at(keys, "ADMIN-UNREGISTERED", f"{'.'.join(map(str, keys))}: admin '{handle}' has "
                                    f"not registered yet (no people/{handle}.yaml)",
                                    f"'{handle}' runs `medperf-git person register --handle {handle} ...`",
                                    severity="warning"))
                continue
            found.append(rec.at(keys, "UNKNOWN-REF", f"{'.'.join(map(str, keys))}: '{handle}' is not a registered "
                                                     f"person (no people/{handle}.yaml)",
                                "check the handle, or have that person run `medperf-git person register` first"))
    missing = set()
    for keys, ref_kind, ref_id in record_refs(data, kind):
        if not facts.has(ref_kind, str(ref_id)):
            missing.add(keys)
            found.append(rec.at(keys, "UNKNOWN-REF", f"{keys[0]}: there is no {ref_kind} {ref_id} "
                                                     f"(no {key_path(ref_kind, str(ref_id))})",
                                f"check the id with `medperf-git {ref_kind} ls`"))
    # What each referenced container must be able to do.
    needs: list[tuple[str, tuple[str, ...], str]] = []
    if kind == "benchmark":
        needs = [("data_preparation", _PREP_TASKS, "data preparation"),
                 ("reference_model", ("infer",), "reference model"), ("metrics", ("evaluate",), "metrics")]
    elif kind == "association" and "model" in data:
        needs = [("model", ("infer",), "model")]
    for field, tasks, role in needs:
        if (field,) in missing:
            continue
        have = _tasks(facts.get("container", str(data[field])))
        if have is None:
            continue  # an invalid container reports its own problems
        lacking = [t for t in tasks if t not in have]
        if lacking:
            found.append(rec.at([field], "MISSING-TASK",
                                f"{field}: container {data[field]} is used as the {role} but has no "
                                f"{', '.join(lacking)} task{'s' if len(lacking) > 1 else ''}",
                                f"a {role} container needs the tasks {', '.join(tasks)}; pick another container"))
    return found


def uniqueness(rec: Parsed, facts: Facts, checked: set[tuple[str, str]]) -> list[Finding]:
    """A name or generated_uid taken by a record with a lower key, or by one not being checked, is a finding."""
    data, kind, key = rec.data, rec.rp.kind, rec.rp.key
    found = []

    def clash(others: list[str]) -> str | None:
        for other in others:
            if other != key and (_sort_key(other) < _sort_key(key) or (kind, other) not in checked):
                return other
        return None

    if kind in ("container", "benchmark"):
        other = clash(keys_named(facts, kind, normalize_name(data["name"])))
        if other:
            found.append(rec.at(["name"], "DUPLICATE-NAME",
                                f"name '{data['name']}' is already taken by {key_path(kind, other)} "
                                "(names are compared ignoring case, '-' and '_')",
                                f"choose another name, e.g. '{data['name']}-v2'"))
    if kind == "dataset":
        other = clash(keys_with_uid(facts, data["generated_uid"]))
        if other:
            found.append(rec.at(["generated_uid"], "DUPLICATE-UID",
                                f"generated_uid is already registered by {key_path(kind, other)}",
                                "this prepared dataset is already in the registry; use that record's id"))
    return found


def association_rules(rec: Parsed, facts: Facts) -> list[Finding]:
    data = rec.data
    if rec.rp.kind != "association" or "dataset" not in data:
        return []
    benchmark = facts.get("benchmark", str(data["benchmark"]))
    dataset = facts.get("dataset", str(data["dataset"]))
    if not benchmark or not dataset:
        return []
    if dataset.get("data_preparation") != benchmark.get("data_preparation"):
        return [rec.at(["dataset"], "WRONG-PREPARATION",
                       f"dataset {data['dataset']} was prepared with container {dataset.get('data_preparation')}, "
                       f"but benchmark {data['benchmark']} prepares data with container "
                       f"{benchmark.get('data_preparation')}",
                       f"prepare the data again with `medperf-git dataset create --benchmark {data['benchmark']}`")]
    return []


def _urls(data: Any, keys: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "url" and isinstance(v, str):
                yield keys + (k,), v
            else:
                yield from _urls(v, keys + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _urls(v, keys + (i,))


def file_urls(rec: Parsed, allowed: bool) -> list[Finding]:
    if allowed or b"file:" not in rec.raw.lower():  # the bytes tell cheaply whether to walk the record
        return []
    return [rec.at(keys, "FILE-URL", f"{'.'.join(map(str, keys))}: file:// URLs are not allowed in this registry",
                   "publish the file at an https:// URL, or have the admins set allow_file_urls: true in "
                   "registry.yaml")
            for keys, url in _urls(rec.data) if url.lower().startswith("file:")]


_NUMBERS = {"result": "metrics", "dataset": "statistics"}


def confidential(rec: Parsed, facts: Facts, incremental: bool) -> list[Finding]:
    """Envelopes are checked without decrypting; numbers in clear on a committee benchmark are an error in
    a change (a whole tree cannot tell whether they were published before the benchmark became confidential,
    so there they are a warning); envelopes whose recipients are no longer the readers are flagged."""
    kind, data = rec.rp.kind, rec.data
    if kind not in _NUMBERS:
        return []
    found = []
    sealed = data.get("encrypted")
    if sealed is not None:
        for keys, message in envelope.check(sealed):
            found.append(rec.at(["encrypted", *keys], "ENVELOPE", f"encrypted: {message}",
                                "encrypt again with `medperf-git result reencrypt`"))
    bid = data.get("benchmark")
    bench = facts.get("benchmark", str(bid)) if bid is not None else None
    if not envelope.committee(bench):
        return found
    if sealed is None:
        found.append(rec.at([_NUMBERS[kind]], "CLEAR-RESULT",
                            f"{_NUMBERS[kind]}: benchmark {bid} keeps results among its committee, but this {kind} "
                            "holds its numbers in clear", "submit it with medperf-git, which encrypts them",
                            severity="error" if incremental else "warning"))
        return found
    expected = envelope.recipients(envelope.readers(bench, data.get("owner")), lambda h: facts.get("person", h))
    missing, extra = envelope.stale(sealed, expected)
    if missing or extra:
        said = "; ".join(filter(None, [missing and f"not readable by {', '.join(missing)}'s current key",
                                       extra and f"still encrypted to {', '.join(extra)}"]))
        found.append(rec.at(["encrypted", "recipients"], "STALE-RECIPIENTS",
                            f"encrypted.recipients: {said}",
                            f"a current reader runs `medperf-git result reencrypt --benchmark_uid {bid}`",
                            severity="warning"))
    return found


def private_weights(rec: Parsed, facts: Facts) -> list[Finding]:
    """A private archive names an age recipient; a released key is an envelope (checked without decrypting)
    for the data owner of an associated dataset, of a model whose weights are private."""
    from medperf_git.records import weights

    data, found = rec.data, []
    if rec.rp.kind == "container":
        for name in ("image", "source"):
            if weights.private_pin(data.get(name)) is not None:
                found.append(rec.at([name, "private"], "PRIVATE-PIN", f"{name}.private: only additional_files "
                                    "may be private (encrypted weights)"))
        private = weights.private_pin(data.get("additional_files"))
        for message in weights.check_private(private) if private is not None else []:
            found.append(rec.at(["additional_files", "private"], "PRIVATE-PIN", f"additional_files.private: {message}"))
        return found
    if rec.rp.kind != "association" or "model" not in data or weights.GRANTS not in data:
        return found
    model = facts.get("container", str(data["model"]))
    if model is not None and not weights.is_private(model):
        found.append(rec.at([weights.GRANTS], "WEIGHTS-KEY", f"{weights.GRANTS}: model {data['model']}'s weights are "
                            "not private, so there is no key to release"))
    seen: set = set()
    for i, grant in enumerate(weights.grants(data)):
        where = [weights.GRANTS, i]
        for keys, message in envelope.check(grant.get("encrypted")):
            found.append(rec.at([*where, "encrypted", *keys], "ENVELOPE", f"{weights.GRANTS}[{i}].encrypted: "
                                f"{message}", "release the key again with `medperf-git container grant-access`"))
        did = grant.get("dataset")
        if did in seen:
            found.append(rec.at([*where, "dataset"], "WEIGHTS-KEY", f"dataset {did} is given the key twice"))
        seen.add(did)
        dataset = facts.get("dataset", str(did))
        if dataset is None:
            continue  # references() reports a missing dataset
        owner = dataset.get("owner")
        handles = {r.get("handle") for r in (grant.get("encrypted") or {}).get("recipients") or []
                   if isinstance(r, dict)}
        if handles != {owner}:
            found.append(rec.at([*where, "encrypted", "recipients"], "WEIGHTS-KEY",
                                f"{weights.GRANTS}[{i}]: the key for dataset {did} must be encrypted to its owner "
                                f"'{owner}' alone, not to {', '.join(sorted(map(str, handles))) or 'nobody'}"))
    return found


def cross_record(rec: Parsed, facts: Facts, checked: set[tuple[str, str]], allow_file_urls: bool,
                 incremental: bool = False) -> list[Finding]:
    """Every cross-record rule, in the documented order, for one valid record."""
    return (references(rec, facts) + uniqueness(rec, facts, checked) + association_rules(rec, facts)
            + file_urls(rec, allow_file_urls) + confidential(rec, facts, incremental) + private_weights(rec, facts))
