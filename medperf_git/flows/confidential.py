"""Confidential results: sealing numbers for a committee benchmark's readers, reading them back with the
profile's key, and re-encrypting a benchmark's results when its readers or their keys change.

Readers are the benchmark's owners and the record's owner (the data owner). The envelope format and the
age calls are in ``records/envelope.py``; this module decides what to seal, for whom, and who may read.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_git.errors import UsageError
from medperf_git.flows.dataset import Cancelled, Confirm, PublishOutcome
from medperf_git.flows.session import RegistrySession
from medperf_git.records import envelope
from medperf_git.records.envelope import EnvelopeError, Recipient

NUMBERS = {"result": "metrics", "dataset": "statistics"}
SEALED_NOTE = "encrypted for the committee"
VISIBILITIES = ("public", "committee")


def recipients(s: RegistrySession, bench: dict[str, Any], owner: str | None) -> list[Recipient]:
    """The readers' current SSH ed25519 keys, from their person records on main."""
    handles = envelope.readers(bench, owner)
    found = envelope.recipients(handles, lambda h: s.find("person", h))
    keyless = [h for h in handles if not any(r.handle == h for r in found)]
    if keyless:
        raise UsageError(f"benchmark {bench.get('id')}'s results are encrypted to its readers' SSH ed25519 keys, "
                         f"but {', '.join(keyless)} has none in their person record",
                         hint="they add one with `medperf-git person update` (an ed25519 key)")
    return found


def seal_record(s: RegistrySession, record: dict[str, Any], bench: dict[str, Any] | None) -> dict[str, Any]:
    """The record as published: on a committee benchmark its numbers move into an envelope."""
    field = NUMBERS[record["kind"]]
    if not envelope.committee(bench) or field not in record:
        return record
    sealed = {k: v for k, v in record.items() if k != field}
    try:
        sealed["encrypted"] = envelope.seal({field: record[field]}, recipients(s, bench or {}, record.get("owner")))
    except EnvelopeError as exc:
        raise UsageError(str(exc)) from None
    return sealed


def preview(record: dict[str, Any], numbers: dict[str, Any]) -> dict[str, Any]:
    """What the confirmation shows for a sealed record: the record, and the plaintext with its readers."""
    sealed = record.get("encrypted")
    if not isinstance(sealed, dict):
        return record
    shown = copy.deepcopy(record)
    shown["encrypted"]["payload"] = f"<age, ASCII-armored: {len(sealed['payload'])} characters>"
    readers = sorted({r["handle"] for r in sealed["recipients"]})
    shown["plaintext (only " + ", ".join(readers) + " can read it)"] = numbers
    return shown


def my_key(s: RegistrySession) -> tuple[Path, list[str]] | None:
    """The profile's private key and its public key, when it has one."""
    from medperf_git.registry.signing import public_key

    key = s.profile.signing_key
    if not key or not Path(key).is_file():
        return None
    try:
        return Path(key), [" ".join(public_key(key).split()[:2])]
    except Exception:  # noqa: BLE001 - a key that cannot be read opens nothing
        return None


@dataclass
class Revealed:
    numbers: dict[str, Any] | None  # None: this reader may not (or cannot) read them
    note: str | None = None  # "encrypted for the committee", or why decryption failed

    def to_dict(self, field: str) -> dict[str, Any]:
        return {field: self.numbers} if self.note is None else {field: None, "encrypted": self.note}


def reveal(s: RegistrySession, record: dict[str, Any], key: tuple[Path, list[str]] | None = None) -> Revealed:
    """A record's numbers for this reader: in clear, decrypted with the profile's key, or withheld."""
    field = NUMBERS[record["kind"]]
    sealed = record.get("encrypted")
    if not isinstance(sealed, dict):
        return Revealed(record.get(field))
    key = key or my_key(s)
    if key is None or not envelope.can_open(sealed, key[1]):
        return Revealed(None, SEALED_NOTE)
    try:
        return Revealed(envelope.open_content(sealed, key[0]).get(field))
    except EnvelopeError as exc:
        return Revealed(None, f"{SEALED_NOTE}; your key could not open it: {exc}")


def published_results(s: RegistrySession, *, benchmark: int | None = None, model: int | None = None,
                      dataset: int | None = None) -> list[dict[str, Any]]:
    """Result records on main, filtered, in name order."""
    sql, params = "SELECT data FROM records WHERE kind = 'result' AND valid = 1", []
    if benchmark is not None:
        sql += " AND benchmark = ?"
        params.append(benchmark)
    rows = [json.loads(r[0]) for r in s.index.query(sql + " ORDER BY key", params)]
    return [r for r in rows if (model is None or r.get("model") == model)
            and (dataset is None or r.get("dataset") == dataset)]


def update_visibility(s: RegistrySession, *, benchmark: int, visibility: str, confirm: Confirm) -> PublishOutcome:
    """Change who reads a benchmark's results from now on; the benchmark's owners decide it."""
    from medperf_git.flows._publish import publish

    if visibility not in VISIBILITIES:
        raise UsageError(f"--visibility must be one of {', '.join(VISIBILITIES)}")
    from medperf_git.flows.benchmark import owned

    current = owned(s, benchmark, "who reads its results")
    if (current.get("result_visibility") or "public") == visibility:
        raise UsageError(f"benchmark {benchmark}'s results are {visibility} already")
    record = copy.deepcopy(current)
    record["result_visibility"] = visibility
    if visibility == "committee":
        recipients(s, record, None)  # every owner can be encrypted to, before anyone relies on it
    if not confirm(record):
        raise Cancelled("the result visibility was not changed")
    return publish(s, {"benchmark": record}, title=f"Result visibility of benchmark {benchmark}: {visibility}",
                   kind="benchmark")


@dataclass
class Reencryption:
    outcome: PublishOutcome | None
    records: list[dict[str, Any]]  # the re-encrypted records (empty: nothing was stale)
    unreadable: list[str]  # results this key could not open (left as they are)


def reencrypt(s: RegistrySession, *, benchmark: int, confirm: Confirm) -> Reencryption:
    """Every encrypted result of a benchmark whose recipients are not its current readers, re-encrypted with
    the same plaintext to the current readers, in one submission. Only a current reader can do it."""
    from medperf_git.flows._publish import publish

    s.require_identity()
    s.fetch(tolerate=True)
    bench = s.record("benchmark", benchmark)
    key = my_key(s)
    if key is None:
        raise UsageError("the profile has no readable SSH private key to decrypt with",
                         hint="set one with `medperf-git profile set --signing-key PATH`")
    changed, unreadable, keys = [], [], {}
    for record in published_results(s, benchmark=benchmark):
        sealed = record.get("encrypted")
        if not isinstance(sealed, dict):
            continue
        owner = record.get("owner")
        if owner not in keys:
            keys[owner] = recipients(s, bench, owner)
        if s.profile.handle not in envelope.readers(bench, owner):
            continue
        if envelope.stale(sealed, keys[owner]) == ([], []):
            continue
        if not envelope.can_open(sealed, key[1]):
            unreadable.append(record["name"])
            continue
        try:
            plaintext = envelope.open_payload(sealed, key[0])
            new = dict(record, encrypted=envelope.seal({}, keys[owner], plaintext=plaintext))
        except EnvelopeError as exc:
            raise UsageError(f"result {record['name']}: {exc}") from None
        changed.append(new)
    if not changed:
        return Reencryption(None, [], unreadable)
    summary = {"benchmark": benchmark, "results": [r["name"] for r in changed],
               "recipients": sorted({f"{r['handle']} {r['key']}" for c in changed
                                     for r in c["encrypted"]["recipients"]})}
    if not confirm(summary):
        raise Cancelled("nothing was re-encrypted")
    outcome = publish(s, {r["name"]: r for r in changed},
                      title=f"Re-encrypt {len(changed)} result(s) of benchmark {benchmark}", kind="result",
                      renumber=False)  # the same results, in place
    return Reencryption(outcome, changed, unreadable)
