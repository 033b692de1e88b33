"""Private model weights: an additional-files archive encrypted with age, whose key reaches a data owner
only through an approved association.

The container record pins the **ciphertext** (url + sha256) and says how it is locked::

    additional_files:
      url: https://.../weights.tar.gz.age
      hash: sha256:<hex of the encrypted bytes>
      private: {format: age-v1, recipient: age1...}   # the X25519 recipient it was encrypted to

The model owner keeps the matching identity (``AGE-SECRET-KEY-1...``) on their machine. For each data
owner whose dataset's association with the benchmark is approved, the model owner adds to the model's
association an envelope (records/envelope.py) holding that identity, encrypted to the data owner's
SSH ed25519 keys::

    weights_keys:
      - dataset: 1
        encrypted: {format: age-armor-v1, recipients: [...], plaintext_sha256: ..., payload: ...}

All cryptography is pyrage's (age); nothing here is hand-written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

PRIVATE_FORMAT = "age-v1"
_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")  # bech32, as age prints an X25519 recipient
GRANTS = "weights_keys"


class WeightsError(Exception):
    """A private archive that cannot be made or opened; the message says why."""


def private_pin(pin: Any) -> dict[str, Any] | None:
    """The ``private`` part of an archive pin, or None when the archive is in clear."""
    return pin.get("private") if isinstance(pin, dict) and isinstance(pin.get("private"), dict) else None


def is_private(container: dict[str, Any] | None) -> bool:
    return private_pin((container or {}).get("additional_files")) is not None


def check_private(private: dict[str, Any]) -> list[str]:
    """Problems of a pin's ``private`` part, found without any key."""
    found = []
    if private.get("format") != PRIVATE_FORMAT:
        found.append(f"format is '{private.get('format')}', not {PRIVATE_FORMAT}")
    if not _RECIPIENT.match(str(private.get("recipient") or "")):
        found.append("recipient is not an age X25519 recipient (age1...)")
    return found


def grants(association: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [g for g in (association or {}).get(GRANTS) or [] if isinstance(g, dict)]


def new_identity() -> tuple[str, str]:
    """(secret identity, public recipient) of a fresh X25519 key."""
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def encrypt_archive(source: Path, target: Path, recipient: str) -> None:
    """Encrypt ``source`` to ``recipient`` into ``target`` (binary age), streaming."""
    import pyrage

    try:
        key = pyrage.x25519.Recipient.from_str(recipient)
        pyrage.encrypt_file(str(source), str(target), [key])
    except (pyrage.RecipientError, pyrage.EncryptError, ValueError, OSError) as exc:
        raise WeightsError(f"cannot encrypt {source}: {exc}") from None


def decrypt_archive(source: Path, target: Path, identity: str) -> None:
    """Decrypt ``source`` with ``identity`` into ``target``; age authenticates every chunk."""
    import pyrage

    try:
        key = pyrage.x25519.Identity.from_str(identity.strip())
    except (pyrage.IdentityError, ValueError) as exc:
        raise WeightsError(f"the released key is not an age identity: {exc}") from None
    try:
        pyrage.decrypt_file(str(source), str(target), [key])
    except (pyrage.DecryptError, ValueError, OSError) as exc:
        Path(target).unlink(missing_ok=True)
        raise WeightsError(f"the released key does not open {source.name}: {exc}") from None


def recipient_of(identity: str) -> str:
    """The public recipient of a secret identity (to check a kept key matches a pin)."""
    import pyrage

    try:
        return str(pyrage.x25519.Identity.from_str(identity.strip()).to_public())
    except (pyrage.IdentityError, ValueError) as exc:
        raise WeightsError(f"not an age identity: {exc}") from None
