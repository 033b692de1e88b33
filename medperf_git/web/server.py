"""Serving the app on 127.0.0.1 with uvicorn: a port of its own (or the one asked for), quiet logs.

uvicorn's access log is off (it would print each URL, the first one with the token); the guard keeps
its own, without query strings.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from pathlib import Path

from medperf_git.errors import UsageError
from medperf_git.web._guard import Secrets
from medperf_git.web.app import AppConfig, create_app


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 only; port 0 takes a free one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Connections inherit it: a response's head and body go out at once, not 40 ms apart (Nagle's
    # algorithm waiting on the browser's delayed acknowledgement on a kept-alive connection).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}",
                         hint="choose another --port, or leave it out to take a free one") from None
    sock.listen(128)
    return sock


def serve(home: Path, *, profile: str | None, offline: bool, port: int = 0,
          ready: Callable[[str], None] | None = None) -> None:
    """Run until interrupted; ``ready`` gets the URL with the token once the server listens."""
    import uvicorn

    sock = bind(port)
    port = sock.getsockname()[1]
    keys = Secrets.new()
    app = create_app(AppConfig(profile, offline, port, keys, home))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           server_header=False, date_header=False))
    url = f"http://127.0.0.1:{port}/?token={keys.token}"
    original = server.startup

    async def startup(sockets=None) -> None:
        await original(sockets=sockets)
        if ready is not None:
            ready(url)

    server.startup = startup  # type: ignore[method-assign]
    try:
        server.run(sockets=[sock])
    finally:
        with contextlib.suppress(OSError):
            sock.close()
