"""What cross-record checks need to know about the rest of a registry.

Full lint answers from the records it has just parsed; ``lint --base`` on a large registry answers
from the SQLite index of the base commit overlaid with the changed records, so it never parses
the whole registry. Both sides implement this one protocol.
"""

from __future__ import annotations

from typing import Any, Protocol


class Facts(Protocol):
    def has(self, kind: str, key: str) -> bool:
        """Whether a record exists; ``key`` is a handle, an id as text, "<b>/<component>-<id>" or "<b>/<name>"."""

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The parsed record, or None."""

    def names(self, kind: str) -> dict[str, list[str]]:
        """normalize_name(name) -> keys of the records of ``kind`` that carry it."""

    def generated_uids(self) -> dict[str, list[str]]:
        """A dataset's generated_uid -> keys of the datasets that carry it."""
