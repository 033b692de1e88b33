"""A lint finding, printed as ``path:line:col CODE message`` with a hint."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    col: int
    code: str
    message: str
    hint: str | None = None
    severity: str = "error"  # "error" blocks; "warning" does not

    def text(self) -> str:
        line = f"{self.path}:{self.line}:{self.col} {self.code} {self.message}"
        return line + (f"\n    hint: {self.hint}" if self.hint else "")

    def to_dict(self) -> dict:
        return asdict(self)


def has_errors(findings) -> bool:
    return any(f.severity == "error" for f in findings)
