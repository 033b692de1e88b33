"""Trees that several hashing tests read."""

from __future__ import annotations

import os
from pathlib import Path


def many_files(root: Path) -> Path:
    """300 small files of 0 to 5,000 bytes in 7 folders (file i holds i * 37 % 5000 bytes)."""
    for i in range(300):
        sub = root / f"d{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:04d}").write_bytes(os.urandom(i * 37 % 5000))
    return root
