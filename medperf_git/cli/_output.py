"""All terminal output: data to stdout; messages, warnings and progress to stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click


def _color() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


class Output:
    def echo(self, text: str = "") -> None:
        click.echo(text)

    def info(self, text: str) -> None:
        click.echo(text, err=True)

    def json(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str, ensure_ascii=False))

    def yaml(self, data: Any) -> None:
        from medperf_git.records.yamlio import dump_yaml

        click.echo(dump_yaml(data).rstrip("\n"))

    def table(self, rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> None:
        from tabulate import tabulate

        click.echo(tabulate(list(rows), headers=list(headers)))

    def success(self, text: str) -> None:
        click.secho(f"✅ {text}", err=True, fg="green" if _color() else None)

    def warn(self, text: str) -> None:
        click.secho(f"Warning: {text}", err=True, fg="yellow" if _color() else None)

    def error(self, text: str, hint: str | None = None) -> None:
        click.secho(f"Error: {text}", err=True, fg="red" if _color() else None)
        if hint:
            click.echo(f"Hint: {hint}", err=True)

    def next_step(self, command: str, why: str = "") -> None:
        click.echo(f"Next step: {command}" + (f"  ({why})" if why else ""), err=True)

    def preview(self, data: Any, audience: str) -> None:
        """Show exactly what will be published, and who will be able to read it."""
        from medperf_git.records.yamlio import dump_yaml

        click.echo("=" * 20, err=True)
        click.echo(dump_yaml(data).rstrip("\n"), err=True)
        click.echo("=" * 20, err=True)
        click.echo(f"This will be readable by {audience}.", err=True)

    def confirm(self, question: str, yes: bool = False) -> bool:
        """Ask; an empty answer means no. ``-y`` answers yes without asking."""
        if yes:
            return True
        if not sys.stdin.isatty() and os.environ.get("MEDPERF_GIT_ASSUME_TTY") != "1":
            # Piped input still works; a closed stdin answers "no".
            pass
        while True:
            try:
                answer = click.prompt(f"{question} [y/N]", default="", show_default=False,
                                      err=True).strip().lower()
            except click.exceptions.Abort:
                return False
            if answer in ("y", "yes"):
                return True
            if answer in ("", "n", "no"):
                return False

    def progress(self, total: int | None, label: str, enabled: bool = True):
        """A progress callback ``(advance: int) -> None`` and a closer, or no-ops off a TTY."""
        if not enabled or not sys.stderr.isatty() or os.environ.get("MEDPERF_GIT_NO_PROGRESS") == "1":
            return _NoProgress()
        return _ClickProgress(total, label)


class _NoProgress:
    def __call__(self, advance: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _ClickProgress(_NoProgress):
    def __init__(self, total: int | None, label: str):
        self._bar = click.progressbar(length=total, label=label, file=sys.stderr,
                                      show_eta=True, show_percent=total is not None)
        self._bar.__enter__()

    def __call__(self, advance: int = 1) -> None:
        self._bar.update(advance)

    def close(self) -> None:
        self._bar.__exit__(None, None, None)


out = Output()
