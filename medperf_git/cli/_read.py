"""The ``ls`` and ``view`` commands: one factory for every kind of registry record, and what they
share (progress while indexing, warnings, tables, JSON)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from medperf_git.cli._context import pass_session
from medperf_git.cli._options import format_option, json_option, output_option, with_options
from medperf_git.cli._output import out

MIN_RECORDS_FOR_BAR = 2000  # fewer records index in well under a second: no bar flashing by


class IndexProgress:
    """A ``(done, total)`` callback that shows a bar only once there is real work (a cold index build)."""

    def __init__(self, enabled: bool = True, label: str = "Indexing the registry",
                 min_records: int = MIN_RECORDS_FOR_BAR):
        self.enabled = enabled
        self.label = label
        self.min_records = min_records
        self._bar = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if total < self.min_records:
            return
        if self._bar is None:
            self._bar = out.progress(total, self.label, enabled=self.enabled)
        self._bar(max(done - self._done, 0))
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


# --- The ``ls`` and ``view`` commands of a kind of registry record, built from a description ---

NAME_FILTER = click.option("-n", "--name", help="Only names containing this (case-, '-' and '_'-insensitive).")


@dataclass(frozen=True)
class RecordKind:
    """What ``KIND ls`` and ``KIND view`` show of one kind of registry record, and where they get it.

    ``ls`` always has ``--mine``, ``--owner`` and ``-n/--name``, then ``filters`` (click options, in the order
    ``--help`` shows them), then ``--state`` where the kind can be retired, then ``--json``. Each option's
    name is the keyword the ``lister`` (a function of ``flows.catalog``) takes.
    """

    kind: str  # the record kind, which is also the command group: "benchmark"
    headers: tuple[str, ...]  # the table's columns
    row: Callable[[Any], Sequence[Any]]  # one record -> one table row
    lister: str  # the flows.catalog function that lists them: "list_benchmarks"
    ls_help: str
    view_help: str
    filters: tuple[Callable, ...] = ()
    state_filter: bool = True
    view_next: tuple[str, str] | None = None  # after `view`: the command ("{id}" filled in) and why
    show: Callable[[Any, bool], None] | None = None  # a `view` that shows more than the record
    local: Callable[..., None] | None = None  # `ls --local` (``unregistered=True``: --unregistered) instead
    local_help: str = ""
    local_records: Callable[[Any], list[dict]] | None = None  # `view --unregistered`: this machine's, unpublished

    @property
    def plural(self) -> str:
        return f"{self.kind}s"


def read_commands(spec: RecordKind) -> tuple[click.Command, click.Command]:
    """The ``ls`` and ``view`` commands of one kind of record."""
    return _ls_command(spec), _view_command(spec)


MINE = click.option("--mine", "-user", "mine", is_flag=True, help="Only the records you own (your profile's handle).")


def _ls_command(spec: RecordKind) -> click.Command:
    def ls(s, as_json: bool, local: bool = False, unregistered: bool = False, **filters) -> None:
        if local or unregistered:
            spec.local(s, as_json, unregistered=unregistered)
            return
        from medperf_git.flows import catalog

        with IndexProgress(enabled=not as_json) as progress:
            listing = getattr(catalog, spec.lister)(s, **filters, progress=progress)
        show_listing(listing, as_json, spec.headers, spec.row, f"medperf-git {spec.kind} view ID",
                     f"see one {spec.kind} in full")

    options = [
        *([click.option("--local", is_flag=True, help=spec.local_help),
           click.option("--unregistered", is_flag=True, help="Those prepared here and not registered yet "
                                                             "(MedPerf's spelling).")] if spec.local else []),
        MINE,
        click.option("--owner", metavar="HANDLE", help=f"Only the {spec.plural} this person owns."),
        NAME_FILTER,
        *spec.filters,
        *([click.option("--state", type=click.Choice(["active", "retired"]),
                        help=f"Only active or only retired {spec.plural}.")] if spec.state_filter else []),
        json_option,
    ]
    return click.command("ls", help=spec.ls_help)(with_options(pass_session(ls), options))


def _view_command(spec: RecordKind) -> click.Command:
    def view(s, record_id: int | None, as_json: bool, fmt: str, output: str | None, mine: bool,
             unregistered: bool = False) -> None:
        from medperf_git.flows import catalog

        if as_json:
            fmt = "json"
        if unregistered:
            out.document(spec.local_records(s), fmt, output)
            return
        if record_id is None:  # MedPerf's `view` without an id: every record (or yours), in full
            with IndexProgress(enabled=fmt != "json") as progress:
                listing = getattr(catalog, spec.lister)(s, mine=mine, progress=progress)
            warn_all(listing.warnings)
            out.document([r.data for r in listing.records], fmt, output)
            return
        with IndexProgress(enabled=fmt != "json") as progress:
            shown = catalog.view(s, spec.kind, record_id, progress=progress)
        if output is not None or fmt == "json" and spec.show is None:
            warn_all(shown.warnings)
            out.document(shown.record.data, fmt, output)
        elif spec.show is not None:
            spec.show(shown, fmt == "json")
        elif spec.view_next is not None:
            show_record(shown, False, spec.view_next[0].format(id=record_id), spec.view_next[1])
        else:
            show_record(shown, False)

    options = [click.argument("record_id", metavar="[ID]", type=int, required=False), json_option, format_option,
               output_option, MINE,
               *([click.option("--unregistered", is_flag=True, help="This machine's datasets that are not "
                                                                     "registered yet.")] if spec.local_records else [])]
    help_text = spec.view_help + "\n\nWithout ID, every record (with --mine, yours), as MedPerf's `view` does."
    return click.command("view", help=help_text)(with_options(pass_session(view), options))
