"""Confidential payloads: age (age-encryption.org/v1, ASCII-armored) to the recipients' SSH ed25519 keys.

A record of a ``committee`` benchmark keeps its numbers in an envelope::

    encrypted:
      format: age-armor-v1
      recipients: [{handle: testbo, key: "SHA256:..."}, ...]   # OpenSSH fingerprints of the keys used
      plaintext_sha256: sha256:<hex>                            # of the JSON inside, so a reader checks it
      payload: "-----BEGIN AGE ENCRYPTED FILE-----..."

The cryptography is pyrage's (the age reference implementation in Rust); `age -d -i ~/.ssh/id_ed25519`
opens the same payload. What this module does by itself reads only what age writes in clear: the
armor, and the header's ``ssh-ed25519`` stanzas, whose tag is the first four bytes of the sha256 of
the recipient's key. That is how lint and the audit check who a payload is for without decrypting it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "age-armor-v1"
BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
END = "-----END AGE ENCRYPTED FILE-----"
HEADER = b"age-encryption.org/v1\n"
# Stanza types that name a recipient; any other type is age's "grease" (random, ignored by readers).
RECIPIENT_TYPES = ("ssh-ed25519", "ssh-rsa", "X25519", "scrypt")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


class EnvelopeError(Exception):
    """A payload that cannot be made or opened; the message says why and for whom."""


@dataclass(frozen=True)
class Recipient:
    handle: str
    key: str  # "ssh-ed25519 AAAA..." (no comment needed)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


def _wire(key: str) -> bytes:
    parts = key.split()
    if len(parts) < 2:
        raise EnvelopeError(f"'{key[:40]}' is not an SSH public key")
    try:
        return base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"'{key[:40]}...' is not an SSH public key (bad base64)") from None


def fingerprint(key: str) -> str:
    """OpenSSH's fingerprint of a public key (what `ssh-keygen -l` prints)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(_wire(key)).digest()).decode().rstrip("=")


def _tag(key: str) -> str:
    """age's ssh-ed25519 stanza tag: the first 4 bytes of sha256(key), base64 without padding."""
    return base64.b64encode(hashlib.sha256(_wire(key)).digest()[:4]).decode().rstrip("=")


def _tag_of_fingerprint(fp: str) -> str | None:
    raw = fp.removeprefix("SHA256:")
    try:
        digest = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return base64.b64encode(digest[:4]).decode().rstrip("=") if len(digest) == 32 else None


def ed25519_keys(person: dict[str, Any] | None) -> list[str]:
    """The SSH ed25519 public keys of a person record, without comments."""
    keys = (person or {}).get("keys") or []
    return [" ".join(k.split()[:2]) for k in keys if isinstance(k, str) and k.startswith("ssh-ed25519 ")]


def payload_bytes(content: dict[str, Any]) -> bytes:
    """The plaintext: canonical JSON, one line per key, so `age -d` prints something a person can read."""
    return (json.dumps(content, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def sha256_hex(data: bytes) -> str:
    """The registry's way of writing a sha256 (``sha256:<hex>``)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def seal(content: dict[str, Any], recipients: Sequence[Recipient], *, plaintext: bytes | None = None
         ) -> dict[str, Any]:
    """The envelope of ``content`` for ``recipients`` (a re-encryption passes the exact ``plaintext``)."""
    import pyrage

    if not recipients:
        raise EnvelopeError("nobody to encrypt for: no recipient has an SSH ed25519 key in their person record")
    data = payload_bytes(content) if plaintext is None else plaintext
    try:
        keys = [pyrage.ssh.Recipient.from_str(r.key) for r in recipients]
        armored = pyrage.encrypt(data, keys, armored=True).decode("ascii")
    except (pyrage.RecipientError, pyrage.EncryptError, ValueError) as exc:
        raise EnvelopeError(f"cannot encrypt: {exc}") from None
    listed = sorted({(r.handle, r.fingerprint) for r in recipients})
    return {"format": FORMAT, "recipients": [{"handle": h, "key": fp} for h, fp in listed],
            "plaintext_sha256": sha256_hex(data), "payload": armored}


def open_payload(envelope: dict[str, Any], private_key: str | Path) -> bytes:
    """Decrypt with an OpenSSH private key file and check the plaintext's sha256 against the record."""
    import pyrage

    try:
        identity = pyrage.ssh.Identity.from_buffer(Path(private_key).read_bytes())
    except OSError as exc:
        raise EnvelopeError(f"cannot read the key {private_key}: {exc.strerror}") from None
    except (pyrage.IdentityError, ValueError) as exc:
        raise EnvelopeError(f"{private_key} is not an unencrypted OpenSSH ed25519 private key: {exc}") from None
    try:
        data = pyrage.decrypt(str(envelope.get("payload") or "").encode("ascii"), [identity])
    except (pyrage.DecryptError, ValueError, UnicodeEncodeError) as exc:
        raise EnvelopeError(f"this key cannot open the payload: {exc}") from None
    if sha256_hex(data) != envelope.get("plaintext_sha256"):
        raise EnvelopeError("the decrypted payload does not match the record's plaintext_sha256: it was altered")
    return data


def open_content(envelope: dict[str, Any], private_key: str | Path) -> dict[str, Any]:
    data = open_payload(envelope, private_key)
    try:
        content = json.loads(data)
    except ValueError:
        raise EnvelopeError("the decrypted payload is not JSON") from None
    if not isinstance(content, dict):
        raise EnvelopeError("the decrypted payload is not a JSON object")
    return content


def can_open(envelope: dict[str, Any] | None, keys: Iterable[str]) -> bool:
    """Whether one of these public keys is among the envelope's listed recipients."""
    if not isinstance(envelope, dict):
        return False
    listed = {r.get("key") for r in envelope.get("recipients") or [] if isinstance(r, dict)}
    return any(fingerprint(k) in listed for k in keys)


def header_stanzas(payload: str) -> list[tuple[str, list[str]]]:
    """(type, arguments) of each stanza in an armored age file's clear-text header."""
    text = payload.strip()
    if not text.startswith(BEGIN) or not text.endswith(END):
        raise EnvelopeError(f"the payload is not ASCII-armored age (it must start with {BEGIN})")
    body = "".join(text[len(BEGIN):-len(END)].split())
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("the payload's armor is not valid base64") from None
    if not raw.startswith(HEADER):
        raise EnvelopeError("the payload is not age-encryption.org/v1")
    end = raw.find(b"\n---", len(HEADER) - 1)
    if end < 0:
        raise EnvelopeError("the payload's age header has no end (---)")
    stanzas = []
    for line in raw[len(HEADER):end + 1].split(b"\n"):
        if line.startswith(b"-> "):
            parts = line[3:].decode("ascii", "replace").split(" ")
            stanzas.append((parts[0], parts[1:]))
    return stanzas


def check(envelope: Any) -> list[tuple[tuple, str]]:
    """Problems of an envelope, as (key path, message), found without decrypting."""
    if not isinstance(envelope, dict):
        return [((), "encrypted: is not an envelope (format, recipients, plaintext_sha256, payload)")]
    found: list[tuple[tuple, str]] = []
    if envelope.get("format") != FORMAT:
        found.append((("format",), f"format is '{envelope.get('format')}', not {FORMAT}"))
    if not _SHA256.match(str(envelope.get("plaintext_sha256") or "")):
        found.append((("plaintext_sha256",), "plaintext_sha256 is not sha256:<64 lower-case hex digits>"))
    listed = [r for r in envelope.get("recipients") or [] if isinstance(r, dict)]
    tags = {}
    for i, r in enumerate(listed):
        tag = _tag_of_fingerprint(str(r.get("key") or ""))
        if tag is None:
            found.append((("recipients", i, "key"), f"recipients[{i}].key is not an SSH SHA256 fingerprint"))
        else:
            tags[tag] = r.get("handle")
    if not listed:
        found.append((("recipients",), "the envelope lists no recipient"))
    try:
        stanzas = header_stanzas(str(envelope.get("payload") or ""))
    except EnvelopeError as exc:
        return found + [(("payload",), str(exc))]
    in_header = [args[0] for kind, args in stanzas if kind == "ssh-ed25519" and args]
    hidden = [kind for kind, _ in stanzas if kind in RECIPIENT_TYPES and kind != "ssh-ed25519"]
    unlisted = [t for t in in_header if t not in tags]
    missing = [h for t, h in tags.items() if t not in in_header]
    if hidden or unlisted:
        found.append((("payload",), f"the payload is also encrypted to {len(hidden) + len(unlisted)} key(s) that "
                                    "recipients does not list"))
    if missing:
        found.append((("recipients",), f"recipients lists {', '.join(map(str, missing))}, but the payload is not "
                                       "encrypted to their key"))
    return found


def reencryption_problem(old: Any, new: Any) -> str | None:
    """A re-encryption may change recipients and payload, never what was encrypted (its sha256)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return "an envelope may be re-encrypted, not added or removed once merged"
    if old.get("plaintext_sha256") != new.get("plaintext_sha256"):
        return "plaintext_sha256 changed: a re-encryption keeps the exact plaintext"
    return None


COMMITTEE = "committee"


def committee(benchmark: dict[str, Any] | None) -> bool:
    """Whether a benchmark keeps its results (and its datasets' statistics) among its committee."""
    return isinstance(benchmark, dict) and benchmark.get("result_visibility") == COMMITTEE


def readers(benchmark: dict[str, Any], owner: str | None) -> list[str]:
    """Who may read: the benchmark's owners and the record's owner (the data owner), in that order."""
    handles = list(benchmark.get("owners") or [])
    return handles + [owner] if owner and owner not in handles else handles


def recipients(handles: Iterable[str], person: Any) -> list[Recipient]:
    """Every SSH ed25519 key of these people; ``person(handle)`` returns a person record or None."""
    return [Recipient(h, k) for h in handles for k in ed25519_keys(person(h))]


def stale(envelope: Any, expected: Sequence[Recipient]) -> tuple[list[str], list[str]]:
    """(readers missing, keys no longer current) of an envelope against the current recipients."""
    listed = {(r.get("handle"), r.get("key")) for r in (envelope or {}).get("recipients") or []
              if isinstance(r, dict)}
    want = {(r.handle, r.fingerprint) for r in expected}
    missing = sorted({h for h, fp in want - listed})
    extra = sorted({f"{h} {fp}" for h, fp in listed - want})
    return missing, extra
