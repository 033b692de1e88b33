"""A server that drops connections when busy (``git daemon`` past its connection limit drops the oldest)
costs a retry of a read, never a failed command; a push is never retried, since one cut off midway may
have landed. Real git against a real ``git daemon``, behind a proxy that drops the first connections."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

import pytest

from medperf_git.errors import GitError
from medperf_git.registry import git
from medperf_git.registry.git import init_bare, push
from tests.submissions.test_concurrency import git_daemon  # noqa: F401 - the fixture


class DroppingProxy:
    """Forwards 127.0.0.1 connections to ``target``, resetting the first ``drop`` of them at once."""

    def __init__(self, target: tuple[str, int], drop: int):
        self.target, self.drop, self.seen = target, drop, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.seen += 1
            if self.seen <= self.drop:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()  # a reset, as a server shedding load sends
                continue
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def served(tmp_path, git_daemon):  # noqa: F811 - the fixture imported above
    remote = init_bare(tmp_path / "r.git")
    tree = remote.out("mktree", input="")
    commit = remote.out("-c", "user.name=t", "-c", "user.email=t@example.org", "commit-tree", tree, "-m", "x")
    remote.git("update-ref", "refs/heads/main", commit)
    host, port = git_daemon.removeprefix("git://").split(":")
    return remote, commit, (host, int(port))


def test_a_read_dropped_by_a_busy_server_is_asked_again(served, tmp_path, monkeypatch):
    remote, commit, target = served
    local = init_bare(tmp_path / "local.git")
    monkeypatch.setattr(git, "BUSY_RETRIES", 0)
    with pytest.raises(GitError):  # without the retries, the drop reaches the caller
        local.out("ls-remote", DroppingProxy(target, drop=1).url("r.git"))
    monkeypatch.undo()
    proxy = DroppingProxy(target, drop=2)
    out = local.out("ls-remote", proxy.url("r.git"), "refs/heads/main")
    assert out.split() == [commit, "refs/heads/main"] and proxy.seen == 3
    local.git("fetch", "-q", proxy.url("r.git"), "+refs/heads/main:refs/remotes/origin/main")
    assert local.rev_parse("refs/remotes/origin/main") == commit


def test_a_push_dropped_by_a_busy_server_is_reported_not_repeated(served, tmp_path):
    remote, commit, target = served
    proxy = DroppingProxy(target, drop=1)
    local = init_bare(tmp_path / "local.git")
    local.git("fetch", "-q", str(remote.path), "+refs/heads/main:refs/heads/main")
    proc = push(local, proxy.url("r.git"), [f"{commit}:refs/heads/other"], check=False)
    assert proc.returncode != 0 and proxy.seen == 1
    with pytest.raises(GitError):
        remote.out("rev-parse", "--verify", "refs/heads/other")
