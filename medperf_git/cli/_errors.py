"""Turn exceptions into one clear message and an exit code; keep tracebacks in a log file."""

from __future__ import annotations

import os
import sys

import click

from medperf_git.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, MedperfGitError


def _print_traceback() -> None:
    import traceback  # only on the way out of a failure: --help and every good run skip its import

    traceback.print_exc()


def _save_traceback(exc: BaseException) -> str | None:
    import datetime
    import traceback

    from medperf_git.workspace.workspace import home_dir

    try:
        logs = home_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = logs / f"crash-{stamp}-{os.getpid()}.log"
        from medperf_git import __version__

        path.write_text(f"medperf-git {__version__}\nargv: {sys.argv!r}\n\n"
                        + "".join(traceback.format_exception(exc)), encoding="utf-8")
        return str(path)
    except OSError:
        return None


def run_cli(cli: click.Group, argv: list[str] | None, prog_name: str) -> int:
    from medperf_git.cli._output import out

    debug = os.environ.get("MEDPERF_GIT_DEBUG") == "1"
    try:
        cli.main(args=argv, prog_name=prog_name, standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:  # click's form of Ctrl-C
        out.error("Interrupted. Run the same command again to resume.")
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code if exc.exit_code else EXIT_USAGE
    except KeyboardInterrupt:
        out.error("Interrupted. Run the same command again to resume.")
        return EXIT_INTERRUPTED
    except MedperfGitError as exc:
        if debug:
            _print_traceback()
        if getattr(exc, "cancelled", False):  # the user said no: not an error, but nothing was done
            out.info(f"Cancelled: {exc.message}.")
        else:
            out.error(exc.message, hint=exc.hint)
        return exc.exit_code
    except BrokenPipeError:
        return 141
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if debug:
            _print_traceback()
        saved = _save_traceback(exc)
        out.error(f"unexpected error: {type(exc).__name__}: {exc}",
                  hint=(f"details are in {saved}; " if saved else "")
                  + "set MEDPERF_GIT_DEBUG=1 to see the traceback")
        return EXIT_ERROR
