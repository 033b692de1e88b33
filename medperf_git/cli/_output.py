"""All terminal output: data to stdout; messages, warnings and progress to stderr."""

from __future__ import annotations

import os
import sys
import threading
import time
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
        import json

        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str, ensure_ascii=False))

    def yaml(self, data: Any) -> None:
        from medperf_git.records.yamlio import dump_yaml

        click.echo(dump_yaml(data).rstrip("\n"))

    def document(self, data: Any, fmt: str = "yaml", output: str | None = None) -> None:
        """A record or a listing as YAML or JSON (MedPerf's view -f), on stdout or saved to ``output`` (-o)."""
        if fmt == "json":
            import json

            text = json.dumps(data, indent=2, sort_keys=False, default=str, ensure_ascii=False)
        else:
            from medperf_git.records.yamlio import dump_yaml

            text = dump_yaml(data).rstrip("\n")
        if output is None:
            click.echo(text)
            return
        from medperf_git.workspace.atomic import write_text

        try:
            write_text(output, text + "\n")
        except OSError as exc:
            from medperf_git.errors import UsageError

            raise UsageError(f"cannot write {output}: {exc.strerror}",
                             hint="give -o a file in a folder you can write") from None
        self.info(f"Saved to {output}")

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

    def confirm(self, question: str, yes: bool = False, medperf_asks: bool = True) -> bool:
        """Ask; an empty answer means no. ``-y`` answers yes without asking.

        ``medperf_asks=False``: MedPerf's twin of the command asks nothing and has no -y, so its scripts give
        none; then a script (stdin not a terminal) is not asked either, and the preview above stays on record.
        """
        if yes:
            return True
        if not medperf_asks and not sys.stdin.isatty() and os.environ.get("MEDPERF_GIT_ASSUME_TTY") != "1":
            self.info("Not asking: this is a script (stdin is not a terminal), and MedPerf's command asks nothing.")
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


class Heartbeat:
    """Says that a silent container task is still running: every ``every`` seconds without a line of output,
    one line with the step and the time since it started, so a long task is never just silence."""

    def __init__(self, every: float | None = None):
        self.every = every or float(os.environ.get("MEDPERF_GIT_HEARTBEAT_SECONDS") or 30)
        self.step: str | None = None
        self.started = self.last = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def on_step(self, text: str) -> None:
        self.step, self.started, self.last = text, time.monotonic(), time.monotonic()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
            self._thread.start()

    def on_output(self, line: str) -> None:
        self.last = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(min(self.every, 5.0)):
            now = time.monotonic()
            if self.step and now - self.last >= self.every:
                elapsed = int(now - self.started)
                click.echo(f"  ... {self.step}: still running ({elapsed // 60}m {elapsed % 60:02d}s)", err=True)
                self.last = now

    def stop(self) -> None:
        self._stop.set()

    def attach(self, settings):
        """Wrap a RunSettings' callbacks; the heartbeat stops when the command ends."""
        step, output = settings.on_step, settings.on_output

        def on_step(text: str) -> None:
            self.on_step(text)
            if step:
                step(text)

        def on_output(line: str) -> None:
            self.on_output(line)
            if output:
                output(line)

        settings.on_step, settings.on_output = on_step, on_output
        context = click.get_current_context(silent=True)
        if context is not None:
            context.call_on_close(self.stop)
        return settings


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
