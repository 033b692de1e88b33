"""A compiled (Rust) JSON Schema check for the common case: a valid record.

``jsonschema`` explains problems well but costs milliseconds per record; ``jsonschema-rs``
answers "valid or not" in microseconds. Lint asks the fast one first and runs the explaining
one only for records it rejects, so a valid 10,000-record registry validates in a fraction of a
second and every message still comes from ``records/schemas.py``.
"""

from __future__ import annotations

import functools
import json
from typing import Any


@functools.cache
def _validators() -> dict[str, Any] | None:
    try:
        import jsonschema_rs
    except ImportError:  # optional speed-up: without it every record takes the explaining path
        return None
    from medperf_git.records.schemas import _EXTRA, KINDS, schema_text

    loaded = {name: json.loads(schema_text(name)) for name in KINDS + _EXTRA}
    try:
        registry = jsonschema_rs.Registry([(schema["$id"], schema) for schema in loaded.values()])
        return {kind: jsonschema_rs.validator_for(loaded[kind], registry=registry) for kind in KINDS}
    except Exception:  # noqa: BLE001 - an older jsonschema-rs without registries: use the slow path
        return None


def is_valid(kind: str, data: Any) -> bool | None:
    """True or False when the fast validator can answer, None when it cannot (then ask ``validate``)."""
    validators = _validators()
    if validators is None or kind not in validators:
        return None
    try:
        return bool(validators[kind].is_valid(data))
    except Exception:  # noqa: BLE001 - values it cannot convert (non-string keys, sets, bytes)
        return None
