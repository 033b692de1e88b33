"""What the ``ls`` and ``view`` commands share: progress while indexing, warnings, tables, JSON."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from medperf_git.cli._output import out

MIN_RECORDS_FOR_BAR = 2000  # fewer records index in well under a second: no bar flashing by


class IndexProgress:
    """A ``(done, total)`` callback that shows a bar only once there is real work (a cold index build)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bar = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if total < MIN_RECORDS_FOR_BAR:
            return
        if self._bar is None:
            self._bar = out.progress(total, "Indexing the registry", enabled=self.enabled)
        self._bar(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> IndexProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def warn_all(warnings: Sequence[str]) -> None:
    for warning in warnings:
        out.warn(warning)


def shorten(text: Any, width: int = 40) -> str:
    text = "" if text is None else " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """tabulate's default ("simple") table, without importing tabulate (its import alone costs
    about a third of the 0.3 s that ``benchmark ls`` may take): numbers right-aligned, text left."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (int, float)) and not isinstance(row[i], bool) or row[i] is None
                   for row in rows) and any(row[i] is not None for row in rows) for i in range(len(headers))]
    widths = [max([len(h) + 2, *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))

    lines = [line(headers), "  ".join("-" * w for w in widths), *(line(row) for row in cells)]
    return "\n".join(ln.rstrip() for ln in lines)


def show_listing(listing, as_json: bool, headers: Sequence[str], row: Callable[[Any], Sequence[Any]],
                 next_step: str | None = None, why: str = "") -> None:
    """Render an ``ls``: JSON records for scripts, else a table, then warnings and the next step."""
    warn_all(listing.warnings)
    if as_json:
        out.json([r.data for r in listing.records])
        return
    if not listing.records:
        out.info(f"No {listing.kind}s found.")
        return
    out.echo(table([row(r) for r in listing.records], headers))
    if next_step:
        out.next_step(next_step, why)


def show_record(view, as_json: bool, next_step: str | None = None, why: str = "") -> None:
    """Render a ``view``: the record as YAML (or JSON), then warnings and the next step."""
    warn_all(view.warnings)
    if as_json:
        out.json(view.record.data)
        return
    out.yaml(view.record.data)
    if next_step:
        out.next_step(next_step, why)
