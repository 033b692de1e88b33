"""`medperf-git ui`: the local web app for data owners and committees, on 127.0.0.1, behind a token."""

from __future__ import annotations

import contextlib

import click

from medperf_git.cli._output import out


@click.command("ui")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0 takes a free one).")
@click.option("--no-browser", is_flag=True, help="Print the address only; do not open a browser.")
@click.pass_context
def ui(ctx: click.Context, port: int, no_browser: bool) -> None:
    """Open the web app: prepare and submit datasets, run benchmarks, submit results, review submissions.

    It calls the same flows as the commands, listens on 127.0.0.1 only, and answers only the browser that
    opened the address it prints (a random token). Long tasks go on when the tab is closed; Ctrl-C stops it.
    """
    from medperf_git.cli._context import AppContext
    from medperf_git.errors import ConfigError

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ConfigError("the web app needs its extra packages, which are not installed",
                          hint="pip install 'medperf-git[web]'") from None
    from medperf_git.web.server import serve

    app = ctx.find_object(AppContext) or AppContext()
    ws = app.workspace  # refuses a missing profile now, not in the browser

    def ready(url: str) -> None:
        out.success("medperf-git ui is running; open this address (it holds your access token, keep it private):")
        out.echo(url)
        out.info("Press Ctrl-C to stop. Tasks that are running stop with it; start them again to go on.")
        if not no_browser:
            import webbrowser

            with contextlib.suppress(Exception):  # no browser here: the address is printed
                webbrowser.open(url)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it is meant to stop
        serve(ws.home, profile=ws.profile.name, offline=ws.offline, port=port, ready=ready)
    out.info("The app has stopped.")
