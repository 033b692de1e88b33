"""Downloads: a real HTTP server on 127.0.0.1, resumed transfers, mismatches, a tampered cache, proxies."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from medperf_git.errors import EXIT_HASH, DownloadError, HashMismatch
from medperf_git.runners.fetch import fetch

PAYLOAD = bytes(range(256)) * 12_000  # about 3 MiB, several read chunks
PAYLOAD_SHA = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()

pytestmark = pytest.mark.unprivileged  # also run as a user who owns nothing here


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    ranges: bool = True
    cut_after: int | None = None  # the next response stops after this many bytes, then the connection drops
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path or absolute URL, Range header)


class Handler(http.server.BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        state = self.server.state  # type: ignore[attr-defined]
        state.requests.append((self.path, self.headers.get("Range")))
        name = self.path.rsplit("/", 1)[-1]
        data = state.files.get(name)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and state.ranges and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state.cut_after is not None:
            self.wfile.write(body[:state.cut_after])
            state.cut_after = None
            self.close_connection = True
            return
        self.wfile.write(body)


def start_server(state: ServerState) -> tuple[http.server.ThreadingHTTPServer, threading.Thread]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(autouse=True)
def no_proxy_from_host(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[tuple[ServerState, str]]:
    state = ServerState(files={"model.tar.gz": PAYLOAD})
    srv, thread = start_server(state)
    try:
        yield state, f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def test_download_then_served_from_cache(server, tmp_path):
    state, base = server
    seen: list[int] = []
    path = fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache", progress=seen.append)
    assert path == tmp_path / "cache" / "sha256" / PAYLOAD_SHA.split(":")[1]
    assert path.read_bytes() == PAYLOAD
    assert sum(seen) == len(PAYLOAD)
    again = fetch(f"{base}/model.tar.gz", PAYLOAD_SHA.split(":")[1], tmp_path / "cache")  # bare hex works too
    assert again == path
    assert len(state.requests) == 1  # the second call never reached the server


def test_unknown_hash_is_computed(server, tmp_path):
    _, base = server
    path = fetch(f"{base}/model.tar.gz", None, tmp_path / "cache")
    assert path.name == PAYLOAD_SHA.split(":")[1]
    assert not list((tmp_path / "cache" / "partial").glob("*.partial"))


def test_mismatch_keeps_nothing(server, tmp_path):
    _, base = server
    wrong = "sha256:" + "0" * 64
    with pytest.raises(HashMismatch) as info:
        fetch(f"{base}/model.tar.gz", wrong, tmp_path / "cache")
    assert info.value.exit_code == EXIT_HASH
    assert info.value.found == PAYLOAD_SHA
    assert f"{base}/model.tar.gz" in str(info.value)
    assert not (tmp_path / "cache" / "sha256").exists() or not any((tmp_path / "cache" / "sha256").iterdir())
    assert not list((tmp_path / "cache" / "partial").glob("*.partial"))


def test_interrupted_download_resumes_with_range(server, tmp_path):
    state, base = server
    state.cut_after = 1_000_000
    with pytest.raises(DownloadError, match="interrupted"):
        fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache")
    partial = tmp_path / "cache" / "partial" / (PAYLOAD_SHA.split(":")[1] + ".partial")
    assert partial.stat().st_size == 1_000_000
    path = fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache")
    assert path.read_bytes() == PAYLOAD
    assert state.requests[-1][1] == "bytes=1000000-"
    assert not partial.exists()


def test_server_without_ranges_restarts(server, tmp_path):
    state, base = server
    state.ranges = False
    state.cut_after = 500_000
    with pytest.raises(DownloadError):
        fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache")
    path = fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache")  # a 200 reply: start over
    assert path.read_bytes() == PAYLOAD


def test_stale_complete_partial_is_redone(server, tmp_path):
    state, base = server
    partial = tmp_path / "cache" / "partial" / (PAYLOAD_SHA.split(":")[1] + ".partial")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * (len(PAYLOAD) + 10))  # longer than the file: the server answers 416
    assert fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache").read_bytes() == PAYLOAD


def test_corrupt_partial_is_caught_by_the_hash(server, tmp_path):
    _, base = server
    partial = tmp_path / "cache" / "partial" / (PAYLOAD_SHA.split(":")[1] + ".partial")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"garbage!")
    with pytest.raises(HashMismatch):
        fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache")
    assert not partial.exists()  # so the next attempt starts clean
    assert fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache").read_bytes() == PAYLOAD


def test_tampered_cache_is_detected_and_removed(server, tmp_path):
    state, base = server
    path = fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache")
    with open(path, "r+b") as handle:
        handle.write(b"EVIL")
    with pytest.raises(HashMismatch, match="cached copy"):
        fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache")
    assert not path.exists()
    assert fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache").read_bytes() == PAYLOAD
    assert len(state.requests) == 2


def test_http_error_names_the_url(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match=rf"{base}/missing.bin failed: HTTP 404"):
        fetch(f"{base}/missing.bin", None, tmp_path / "cache")


def test_connection_refused_names_the_url(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once it is closed
    url = f"http://127.0.0.1:{port}/x"
    with pytest.raises(DownloadError, match=f"download of {url} failed"):
        fetch(url, None, tmp_path / "cache", timeout=5)


@pytest.mark.parametrize("url", ["http://example.org/a.tgz", "ftp://example.org/a.tgz", "s3://bucket/a.tgz"])
def test_only_https_outside_loopback(url, tmp_path):
    with pytest.raises(DownloadError, match="only https:// URLs"):
        fetch(url, None, tmp_path / "cache")


def test_file_url_refused_unless_allowed(tmp_path):
    src = tmp_path / "weights.bin"
    src.write_bytes(PAYLOAD)
    with pytest.raises(DownloadError, match="file:// URLs are not allowed"):
        fetch(src.as_uri(), PAYLOAD_SHA, tmp_path / "cache")
    path = fetch(src.as_uri(), PAYLOAD_SHA, tmp_path / "cache", allow_file=True)
    assert path.read_bytes() == PAYLOAD and path != src


def test_file_url_mismatch_and_missing(tmp_path):
    src = tmp_path / "weights.bin"
    src.write_bytes(b"abc")
    with pytest.raises(HashMismatch):
        fetch(src.as_uri(), PAYLOAD_SHA, tmp_path / "cache", allow_file=True)
    with pytest.raises(DownloadError, match="cannot read"):
        fetch((tmp_path / "nope").as_uri(), None, tmp_path / "cache", allow_file=True)


def test_bad_expected_hash(tmp_path):
    with pytest.raises(DownloadError, match="is not a sha256"):
        fetch("https://example.org/a", "md5:abc", tmp_path / "cache")


def test_proxy_variables_are_honoured(server, tmp_path, monkeypatch):
    """A second local server stands in for the proxy: it sees the absolute URL and answers for the origin."""
    _, base = server
    proxy_state = ServerState(files={"model.tar.gz": PAYLOAD})
    proxy, thread = start_server(proxy_state)
    try:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.server_address[1]}")
        fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "c1")
        assert proxy_state.requests and proxy_state.requests[0][0] == f"{base}/model.tar.gz"
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "c2")
        assert len(proxy_state.requests) == 1  # bypassed
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()


def test_cache_layout_is_content_addressed(server, tmp_path):
    _, base = server
    path = fetch(f"{base}/model.tar.gz", PAYLOAD_SHA, tmp_path / "cache")
    assert path.parent == Path(tmp_path / "cache" / "sha256")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
