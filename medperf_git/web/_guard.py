"""Who may talk to the local app: the browser holding the token that ``ui`` printed, and nothing else.

Every request needs the token, in the URL's ``token`` parameter (the first visit) or in the cookie that
visit sets (HttpOnly, SameSite=Strict, so other sites' pages cannot send it); without it the answer is
403. Requests that change anything also need the CSRF token that every form carries, and a Host and
Origin of this server (no DNS rebinding). The access log holds method, path, status and time: never a
query string, so never the token.
"""

from __future__ import annotations

import secrets
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 1 << 20
SAFE_METHODS = ("GET", "HEAD")
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"), (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
]


@dataclass(frozen=True)
class Secrets:
    """The access token (in the printed URL) and the CSRF token (in every form), random per start."""

    token: str
    csrf: str

    @classmethod
    def new(cls) -> Secrets:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32))


def form_fields(body: bytes) -> dict[str, str]:
    """A URL-encoded form, one value per field (the last one wins)."""
    return {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


class Guard:
    """ASGI middleware in front of the app: host, token, CSRF, security headers and the access log."""

    def __init__(self, app: ASGIApp, keys: Secrets, port: int, access_log: Path | None = None):
        self.app = app
        self.keys = keys
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.cookie = f"medperf_git_ui_{port}"
        self.access_log = access_log
        self._log_lock = threading.Lock()

    def _valid(self, value: str | None, expected: str) -> bool:
        return bool(value) and secrets.compare_digest(str(value).encode(), expected.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 0}

        async def logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = list(message.get("headers", [])) + HEADERS
            await send(message)

        try:
            await self._guarded(scope, receive, logged)
        finally:
            self._log(scope, status["code"], time.perf_counter() - start)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if headers.get("host") not in self.hosts:
            await _plain(send, 403, "This app answers only on 127.0.0.1 and localhost.")
            return
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        cookies = _cookies(headers.get("cookie", ""))
        method = scope["method"]
        if self._valid((query.get("token") or [None])[-1], self.keys.token):
            if method in SAFE_METHODS:  # keep the token out of the address bar and the history
                rest = urllib.parse.urlencode([(k, v) for k, vs in query.items() if k != "token" for v in vs])
                location = "/" + urllib.parse.quote(scope["path"].lstrip("/")) + (f"?{rest}" if rest else "")
                await _redirect(send, location, f"{self.cookie}={self.keys.token}; HttpOnly; SameSite=Strict; Path=/")
                return
        elif not self._valid(cookies.get(self.cookie), self.keys.token):
            await _plain(send, 403, "Forbidden: open the address that `medperf-git ui` printed (it holds the token).")
            return
        if method in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins:
            await _plain(send, 403, "Forbidden: this request comes from another site.")
            return
        body = await _read_body(receive)
        if body is None:
            await _plain(send, 413, "The request is too large.")
            return
        sent = headers.get("x-csrf-token") or form_fields(body).get("csrf")
        if not self._valid(sent, self.keys.csrf):
            await _plain(send, 403, "Forbidden: the form is out of date; reload the page and try again.")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _log(self, scope: Scope, status: int, seconds: float) -> None:
        if self.access_log is None or scope["type"] != "http":
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        line = f"{stamp} {scope['method']} {scope['path']} {status} {seconds * 1000:.1f}ms\n"
        with self._log_lock:
            self.access_log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.access_log, "a", encoding="utf-8") as handle:
                handle.write(line)


def _cookies(header: str) -> dict[str, str]:
    found = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            found[name] = value
    return found


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str, cookie: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode("latin-1")),
                            (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
