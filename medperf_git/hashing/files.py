"""Single-file and canonical-JSON sha256, written ``sha256:<hex>`` as pins are in records."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

from medperf_git.errors import MedperfGitError
from medperf_git.hashing import _reader

SHA256_PREFIX = "sha256:"


def sha256_file(path: str | os.PathLike, progress: Callable[[int], None] | None = None) -> str:
    """sha256 of a file's bytes (following a link to it, as for downloaded artefacts)."""
    try:
        hexdigest, _ = _reader.hash_file(os.fsencode(path), -1, _reader.FOLLOW, progress)
    except _reader.FileChanged as exc:
        raise MedperfGitError(f"{os.fsdecode(path)}: {exc.reason}") from None
    return SHA256_PREFIX + hexdigest


def sha256_bytes(data: bytes) -> str:
    return SHA256_PREFIX + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """The bytes that are hashed: key order and YAML formatting do not matter, values do."""
    import json

    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical_json_hash(obj: Any) -> str:
    """sha256 of a parsed config or parameters file, so a result names exactly what ran."""
    return sha256_bytes(canonical_json(obj))


def normalize_sha256(value: str) -> str:
    """``sha256:<hex>`` from ``sha256:<hex>`` or bare hex; ValueError for anything else."""
    hexpart = value[len(SHA256_PREFIX):] if value.startswith(SHA256_PREFIX) else value
    hexpart = hexpart.lower()
    if len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise ValueError(f"not a sha256: {value!r}")
    return SHA256_PREFIX + hexpart
