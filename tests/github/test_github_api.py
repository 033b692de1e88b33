"""GitHub specifics of the github forge: pagination, 409/422, rate limits, 5xx, and the token kept secret."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("github", reason="PyGithub is not installed (pip install -e '.[test]')")

from medperf_git.errors import ConfigError, ForgeError  # noqa: E402
from medperf_git.forges import _github_api as api  # noqa: E402
from medperf_git.forges.base import RaceLost  # noqa: E402


def _open(h, handle, path, content=b"v: 1\n"):
    forge = h.forge(handle)
    forge.refresh()
    head = h.content_commit(handle, {path: content})
    return forge, forge.open(head, title=f"add {path}", kind="container", base=h.remote_main())


def test_lists_follow_every_page(forge_harness, monkeypatch):
    h = forge_harness
    for i in range(5):
        forge, _ = _open(h, "bo", f"containers/{i + 1}.yaml")
    forge.close(2, "one comment per close")
    forge.gh._Github__requester.per_page = 2  # small pages: five pull requests take three
    monkeypatch.setattr(forge.gh, "per_page", 2, raising=False)
    subs = forge.list()
    assert [s.number for s in subs] == [1, 2, 3, 4, 5]
    assert subs[1].state == "closed" and subs[1].close_reason == "one comment per close"
    pages = [p for m, p, _ in h.server.requests if m == "GET" and "/pulls?" in p and "page=" in p]
    assert any("page=3" in p for p in pages)


def test_rate_limit_and_5xx_are_retried_with_back_off(forge_harness):
    h = forge_harness
    forge, sub = _open(h, "bo", "containers/1.yaml")
    h.sleeps.clear()
    h.server.inject(403, 1, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"})
    h.server.inject(429, 1, {"Retry-After": "2"})
    h.server.inject(502, 2)
    assert forge.get(sub.number).number == sub.number
    assert len(h.sleeps) == 4 and h.sleeps[0] == 1.0  # the primary limit: until its reset (long past), plus 1 s
    assert h.sleeps[1] >= 60.0  # a secondary limit: at least a minute, whatever retry-after says below it
    h.server.inject(503, 99)
    with pytest.raises(ForgeError, match="GitHub is failing .503"):
        forge.get(sub.number)
    h.server.injected.clear()


def test_a_plain_403_is_not_retried(forge_harness):
    h = forge_harness
    forge, sub = _open(h, "bo", "containers/1.yaml")
    h.sleeps.clear()
    h.server.inject(403, 1)
    with pytest.raises(ForgeError, match="403 Resource not accessible"):
        forge.close(sub.number, "x")
    assert h.sleeps == []


def test_merge_on_a_head_that_moved_is_refused_by_github_with_409(forge_harness):
    h = forge_harness
    forge, sub = _open(h, "bo", "containers/1.yaml")
    admin = h.forge("admin")
    newer = h.content_commit("bo", {"containers/1.yaml": b"v: 2\n"}, parent=sub.head)

    def push_meanwhile(merged: str, main: str) -> None:  # the head moves between our check and GitHub's merge
        assert forge._push_branch(forge._branches[sub.number], newer, sub.head)

    before = h.remote_main()
    with pytest.raises(RaceLost, match="GitHub refused to merge an older head"):
        admin.merge(sub.number, expected_head=sub.head, check=push_meanwhile)
    assert h.remote_main() == before
    assert admin.get(sub.number).state == "open"


def test_an_approval_on_an_outdated_head_is_refused(forge_harness):
    h = forge_harness
    forge, sub = _open(h, "bo", "containers/1.yaml")
    newer = h.content_commit("bo", {"containers/1.yaml": b"v: 2\n"}, parent=sub.head)
    forge.update(sub.number, newer, expected_head=sub.head, reason="fix")
    admin = h.forge("admin")
    with pytest.raises(RaceLost):
        admin.add_approval(sub.number, h.approval_commit("admin", sub.head), expected_head=sub.head)
    after = admin.add_approval(sub.number, h.approval_commit("admin", newer), expected_head=newer)
    assert [e.type for e in after.events] == ["opened", "updated", "approved"]


def test_422_is_a_clear_message(forge_harness):
    h = forge_harness
    forge = h.forge("bo")
    with pytest.raises(ForgeError, match="422") as info:
        forge._call(lambda: forge.api.create_pull(base="main", head="no-such-branch", title="t", body="b"),
                    "cannot open the pull request")
    assert "rejected the request as invalid" in info.value.message


def test_opening_twice_resumes_the_same_pull_request(forge_harness):
    h = forge_harness
    forge, sub = _open(h, "bo", "containers/1.yaml")
    again = forge.open(sub.head, title="again", kind="container", base=h.remote_main())
    assert again.number == sub.number and len(forge.list()) == 1


def test_the_token_never_appears_in_errors_logs_or_reprs(forge_harness, caplog, monkeypatch):
    h = forge_harness
    caplog.set_level(logging.DEBUG)
    forge, sub = _open(h, "bo", "containers/1.yaml")
    token = h.token("bo")
    h.server.users.pop(token)
    with pytest.raises(ForgeError) as info:
        forge.get(sub.number)
    assert "401" in info.value.message
    texts = [info.value.message, str(info.value.hint), repr(forge), caplog.text]
    assert all(token not in t for t in texts)
    assert api.redact(f"x {token} y") == "x *** y"
    assert api.git_auth_env(token, "https://example.org/r.git")["GIT_CONFIG_VALUE_0"].startswith(
        "Authorization: Basic ")


def test_the_token_comes_from_the_environment_first(monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("MEDPERF_GIT_GITHUB_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="no GitHub token"):
        api.resolve_token({})
    assert api.resolve_token({"token": "from-profile"}) == "from-profile"
    monkeypatch.setenv("GITHUB_TOKEN", "from-env")
    assert api.resolve_token({"token": "from-profile"}) == "from-env"
    monkeypatch.setenv("MEDPERF_GIT_GITHUB_TOKEN", "ours")
    assert api.resolve_token({}) == "ours"


def test_a_main_that_moved_between_check_and_merge_is_checked_again_and_reported(forge_harness):
    from medperf_git.registry.commits import commit_changes, update_ref

    h = forge_harness
    _, sub = _open(h, "bo", "containers/1.yaml")
    admin = h.forge("admin")
    calls = []

    def check(merged: str, main: str) -> None:
        calls.append(main)
        if len(calls) == 1:  # someone updates main right after our check
            new = commit_changes(h.remote, main, {"containers/9.yaml": b"v: 9\n"}, "direct",
                                 h.actors["admin"].identity)
            update_ref(h.remote, "refs/heads/main", new, main)
        else:
            raise RuntimeError("lint fails on the newer main")

    with pytest.raises(ForgeError, match="merged onto a main that moved after it was checked"):
        admin.merge(sub.number, check=check)
    assert len(calls) == 2 and calls[0] != calls[1]
