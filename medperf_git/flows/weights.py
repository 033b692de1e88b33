"""Private model weights (records/weights.py): the model owner encrypts the additional-files archive and
keeps its key; `container grant-access` releases the key to each data owner whose dataset's association
is approved, in the model's association; a run opens it with the profile's SSH key, inside the task.

The key is never written in clear outside the model owner's own keys folder: a data owner's run
decrypts it in memory and the weights only into the task's private scratch (flows/_containers.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.errors import PolicyDenied, RecordNotFound, UsageError
from medperf_git.flows.dataset import Cancelled, Confirm, PublishOutcome
from medperf_git.flows.session import RegistrySession
from medperf_git.records import envelope, weights
from medperf_git.workspace.atomic import write_text


def kept_key_path(keys_dir: Path, ciphertext_hash: str) -> Path:
    """Where the model owner keeps the key of one encrypted archive (named by the ciphertext's sha256)."""
    return keys_dir / "weights" / f"{ciphertext_hash.split(':', 1)[-1]}.age-key"


def seal_archive(s: RegistrySession, archive: Path) -> tuple[Path, str]:
    """Encrypt a local weights archive to a fresh key kept in this profile's keys folder.

    Returns the encrypted file (``<archive>.age``, to publish where the pin's URL says) and its recipient.
    """
    from medperf_git.hashing import sha256_file

    identity, recipient = weights.new_identity()
    target = archive.with_name(archive.name + ".age")
    partial = target.with_name(target.name + ".partial")
    try:
        weights.encrypt_archive(archive, partial, recipient)
    except weights.WeightsError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(str(exc)) from None
    partial.replace(target)
    write_text(kept_key_path(s.ws.keys_dir, sha256_file(target)), identity + "\n")
    return target, recipient


@dataclass
class Grant:
    outcome: PublishOutcome | None
    released: list[int] = field(default_factory=list)  # datasets given the key by this submission
    already: list[int] = field(default_factory=list)  # datasets that had it


def _kept_identity(s: RegistrySession, container: dict[str, Any]) -> str | None:
    pin = container.get("additional_files") or {}
    path = kept_key_path(s.ws.keys_dir, str(pin.get("hash") or ""))
    if not path.is_file():
        return None
    identity = path.read_text().strip()
    private = weights.private_pin(pin) or {}
    return identity if weights.recipient_of(identity) == private.get("recipient") else None


def grant_access(s: RegistrySession, *, benchmark: int, model: int, datasets: list[int] | None = None,
                 confirm: Confirm) -> Grant:
    """Release a private model's key to the owners of the datasets associated with the benchmark (all of them
    that lack it, or ``datasets``), as one submission to the model's association. The model's owner only."""
    from medperf_git.flows._publish import publish

    s.require_identity()
    s.fetch(tolerate=True)
    container = s.record("container", model)
    if container.get("owner") != s.profile.handle:
        raise PolicyDenied(f"model {model} belongs to {container.get('owner')}; only its owner releases its key")
    if not weights.is_private(container):
        raise UsageError(f"model {model}'s weights are not private: every data owner can already run it")
    identity = _kept_identity(s, container)
    if identity is None:
        raise UsageError(f"the key of model {model}'s weights is not in {s.ws.keys_dir / 'weights'}",
                         hint="grant access from the profile that submitted the model (its key stays there)")
    current = s.association(benchmark, "model", model)
    if current is None or current.get("revoked"):
        raise RecordNotFound(f"model {model} has no approved association with benchmark {benchmark}",
                             hint=f"ask for it with `medperf-git model associate -b {benchmark} -m {model}`")
    approved = {a["dataset"]: a for a in s.all_associations("dataset", benchmark) if not a.get("revoked")}
    wanted = sorted(approved) if datasets is None else list(dict.fromkeys(datasets))
    missing = [d for d in wanted if d not in approved]
    if missing:
        raise PolicyDenied(f"dataset(s) {', '.join(map(str, missing))} have no approved association with benchmark "
                           f"{benchmark}: the key is released only through an approved association")
    record = copy.deepcopy(current)
    grants = weights.grants(record)
    had = {g.get("dataset") for g in grants}
    result = Grant(None, already=[d for d in wanted if d in had])
    for did in wanted:
        if did in had:
            continue
        owner = s.record("dataset", did).get("owner")
        readers = envelope.recipients([owner], lambda h: s.find("person", h))
        try:
            sealed = envelope.seal({}, readers, plaintext=(identity + "\n").encode())
        except envelope.EnvelopeError as exc:
            raise UsageError(f"dataset {did} (owner {owner}): {exc}") from None
        grants.append({"dataset": did, "encrypted": sealed})
        result.released.append(did)
    if not result.released:
        return result
    record[weights.GRANTS] = grants
    if not confirm(record):
        raise Cancelled("no key was released")
    result.outcome = publish(s, {"association": record}, title=f"Model {model}'s key for dataset(s) "
                             f"{', '.join(map(str, result.released))} in benchmark {benchmark}",
                             kind="association", renumber=False)
    return result


def release_key(s: RegistrySession, container_id: int, container: dict[str, Any]) -> str:
    """The key of a private model for this profile: kept (its owner) or released to one of its keys through an
    approved, unrevoked association on main; otherwise a clear refusal."""
    kept = _kept_identity(s, container)
    if kept is not None:
        return kept
    me = s.profile.handle
    key_file = s.profile.signing_key
    mine = envelope.ed25519_keys(s.find("person", me)) if me else []
    for association in s.all_associations("model"):
        if association.get("model") != container_id or association.get("revoked"):
            continue
        for grant in weights.grants(association):
            sealed = grant.get("encrypted")
            dataset = s.find("dataset", grant.get("dataset")) or {}
            if dataset.get("owner") != me or not envelope.can_open(sealed, mine) or not key_file:
                continue
            approved = s.association(association["benchmark"], "dataset", grant.get("dataset"))
            if approved is None or approved.get("revoked"):
                continue
            try:
                return envelope.open_payload(sealed, key_file).decode().strip()
            except envelope.EnvelopeError as exc:
                raise PolicyDenied(f"the key of model {container_id} released to {me} cannot be opened: {exc}") \
                    from None
    raise PolicyDenied(f"model {container_id}'s weights are private, and no approved association releases their "
                       f"key to {me or 'this profile'}",
                       hint=f"once your dataset's association with the benchmark is approved, ask its owner "
                            f"({container.get('owner')}) to run `medperf-git container grant-access`")
