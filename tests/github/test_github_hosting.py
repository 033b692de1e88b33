"""A registry on GitHub as SETTINGS.md sets it up, against the fake server (every answer checked against
GitHub's published description): forks, approvals in comments, the bot's sweep and its commit statuses,
GitHub's concurrency, and safe use of the API (rate limits, writes checked before a retry, body limits)."""

from __future__ import annotations

import json

import pytest

from medperf_git.errors import ForgeError
from medperf_git.flows.bot import COMMAND
from medperf_git.registry.commits import commit_changes
from tests.github.fake_actions import ConcurrencyGroup
from tests.github.fake_github import BOT_USER, comment_event
from tests.policy.policy_world import association, dataset, y

ASSOCIATION = {"associations/1/dataset-2.yaml": y(association("dataset", 2, "do"))}


def _eves_edit(world) -> bytes:
    record = world.read("datasets/1.yaml")
    record["description"] = "not mine"
    return y(record)


def test_a_submitter_without_write_access_submits_from_a_fork_and_an_approval_in_a_comment_merges(hosting):
    sub = hosting.submit("do", ASSOCIATION)
    pr = hosting.server.pulls[sub.number]
    assert pr["head"]["repo"]["full_name"] == "do/registry" and pr["head"]["label"].startswith("do:")
    forge = hosting.forge("do")
    with pytest.raises(ForgeError, match="cannot push"):  # no write access to the registry itself
        forge._push_branch("medperf-git/do/direct", sub.head, None)
    first = hosting.sweep()[0]
    assert first.action == "waiting" and "committee of benchmark 1 (bo)" in first.waiting[0]
    assert hosting.status(sub.number)["state"] == "pending" and "bo" in hosting.status(sub.number)["description"]
    approved = hosting.approve("bo", sub.number)  # bo may not push to do's fork: the commit rides in a comment
    assert approved.head != pr["head"]["sha"] and [e.type for e in approved.events][-1] == "approved"
    assert hosting.server.pulls[sub.number]["head"]["sha"] == pr["head"]["sha"]
    merged = hosting.sweep()[0]
    assert merged.action == "merged", merged.to_dict()
    main = hosting.server.sha("refs/heads/main")
    assert merged.merged_commit == main
    assert hosting.server.git("rev-list", "--parents", "-n1", main).split()[2] == approved.head  # approval kept
    assert hosting.server.pull(sub.number)["merged"]  # GitHub saw its head reach main
    assert hosting.server.pulls[sub.number]["merged_by"]["login"] == BOT_USER["login"]
    assert hosting.status(sub.number)["state"] == "success"
    assert hosting.forge("do").get(sub.number).state == "merged"
    from medperf_git.policy.audit import audit

    report = audit(hosting.bot_repo, "refs/remotes/origin/main")
    assert report.findings == [], [f.text() for f in report.findings]


def test_every_open_pull_request_gets_a_status_and_a_refusal_does_not_fail_the_run(hosting, invoke, monkeypatch):
    refused = hosting.submit("eve", {"datasets/1.yaml": _eves_edit(hosting.world)})
    waiting = hosting.submit("do", ASSOCIATION)
    merged = hosting.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    monkeypatch.setenv("MEDPERF_GIT_APP_ID", "77")
    monkeypatch.setenv("MEDPERF_GIT_APP_PRIVATE_KEY", hosting.app_key)
    monkeypatch.delenv("MEDPERF_GIT_GITHUB_TOKEN", raising=False)
    done = invoke("ci", "bot", "--path", str(hosting.bot_repo.path), "--repository", hosting.server.full_name,
                  "--api-url", hosting.server.base_url)
    assert done.exit_code == 0, done.stdout + done.stderr
    assert f"pull request #{refused.number}: refused" in done.stdout
    assert hosting.app_key.splitlines()[1] not in done.stdout + done.stderr
    from medperf_git.forges._github_api import APP_PERMISSIONS

    assert hosting.server.minted[-1] == {"repositories": ["registry"], "permissions": APP_PERMISSIONS}  # this repo
    states = {n: hosting.status(n)["state"] for n in (refused.number, waiting.number, merged.number)}
    assert states == {refused.number: "failure", waiting.number: "pending", merged.number: "success"}
    assert "waiting for: 1 approval from the committee of benchmark 1 (bo)" in hosting.status(waiting.number)[
        "description"]
    bot_comments = [c for c in hosting.server.comments if c["user"]["type"] == "Bot"]
    assert len(bot_comments) == 3 and all(len(c["body"]) < 60_000 for c in bot_comments)
    before = len(hosting.server.requests)
    assert {o.action for o in hosting.sweep()} == {"refused", "waiting"}  # main moved with the merge: judged again
    writes = [p for m, p, _ in hosting.server.requests[before:] if m != "GET" and "access_tokens" not in p]
    assert writes == []  # ... and found the same: nothing written again
    assert hosting.server.sha("refs/medperf-git/verdicts")  # what was judged on what, for the next run
    before = len(hosting.server.requests)
    again = hosting.sweep()
    assert {o.action for o in again} == {"unchanged"}  # nothing moved: no verdict written again
    asked = [(m, p.split("?")[0]) for m, p, _ in hosting.server.requests[before:] if "installation" not in p]
    assert all(m == "GET" for m, _ in asked) and len(asked) <= 4, asked  # the pulls, the comments, who am I


def test_a_cancelled_run_loses_no_verdict(hosting):
    """GitHub keeps one running and one pending run per concurrency group and cancels the older pending one
    when another arrives; every run sweeps, so the one that runs judges what the cancelled one would."""
    group = ConcurrencyGroup()
    group.queue({"schedule": "*/10 * * * *"})  # running, before the pull requests exist
    assert hosting.sweep(group.running) == []
    subs = [hosting.submit("do", {f"datasets/{n}.yaml": y(dataset(n, "do"))}) for n in (3, 4)]
    comment = hosting.server.add_comment(hosting.server.users[hosting.token("bo")], subs[0].number,
                                         {"body": f"{COMMAND} please"})[1]
    group.queue(comment_event(hosting.server, subs[0].number, comment))
    group.queue({})  # a manual run: the comment's run is cancelled before it starts
    assert len(group.cancelled) == 1 and "comment" in group.cancelled[0]
    outcomes = hosting.sweep(group.finish())
    assert {o.number for o in outcomes} == {s.number for s in subs}
    assert all(hosting.server.pull(s.number)["merged"] for s in subs)


def test_comment_runs_need_the_command_and_the_commented_pull_request_goes_first(hosting):
    subs = [hosting.submit("do", {f"datasets/{n}.yaml": y(dataset(n, "do"))}) for n in (3, 4)]
    bo = hosting.server.users[hosting.token("bo")]
    chatter = hosting.server.add_comment(bo, subs[1].number, {"body": "nice"})[1]
    ignored = hosting.sweep(comment_event(hosting.server, subs[1].number, chatter))
    assert [o.action for o in ignored] == ["ignored"] and COMMAND in ignored[0].problems[0]
    asked = hosting.server.add_comment(bo, subs[1].number, {"body": COMMAND})[1]
    assert [o.number for o in hosting.sweep(comment_event(hosting.server, subs[1].number, asked))] == \
        [subs[1].number, subs[0].number]


def test_a_comment_event_is_the_payload_github_documents_with_no_head(hosting, openapi_spec):
    """What a comment's run gets: the issue (a pull request's, by its ``pull_request`` key), never its head or
    base; checked against the issue-comment-created webhook GitHub describes."""
    sub = hosting.submit("do", ASSOCIATION)
    comment = hosting.server.add_comment(hosting.server.users[hosting.token("bo")], sub.number,
                                         {"body": COMMAND})[1]
    event = comment_event(hosting.server, sub.number, comment)
    assert openapi_spec.check_event("issue-comment-created", event) is None
    assert "head" not in json.dumps(event["issue"]) and "pull_request" in event["issue"]
    assert hosting.sweep(event)[0].number == sub.number  # judged from the listing, not from the event


def test_secondary_rate_limits_wait_a_minute_or_what_github_says_and_the_primary_until_its_reset(hosting):
    from medperf_git.forges import _github_api as api

    sub = hosting.submit("do", ASSOCIATION)
    forge = hosting.forge("do")
    hosting.sleeps.clear()
    hosting.server.inject(403, 1, message="You have exceeded a secondary rate limit. Please wait a few minutes.")
    hosting.server.inject(429, 1, {"Retry-After": "90"})
    hosting.server.inject(403, 1, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"})
    assert forge.get(sub.number).number == sub.number
    assert hosting.sleeps[:2] == [60.0, 120.0] or hosting.sleeps[0] >= 60.0 and hosting.sleeps[1] >= 90.0
    assert hosting.sleeps[2] == 1.0
    limited = type("Limited", (Exception,), {"status": 403, "data": {"message": "rate limit"},
                                              "headers": {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1030"}})
    assert api.retry_wait(limited(), 0, now=lambda: 1000.0) == 31.0  # until the reset, plus a second
    assert api.retry_wait(type("Later", (limited,), {"headers": {"retry-after": "300"}})(), 0) == 300.0


def test_a_comment_answered_with_an_error_that_was_posted_is_not_posted_twice(hosting):
    sub = hosting.submit("do", ASSOCIATION)
    forge = hosting.forge("do")
    hosting.server.inject(502, 1, after=True)  # GitHub posts it, then answers 502
    forge.comment(sub.number, "one comment only")
    assert [c["body"] for c in hosting.server.comments].count("one comment only") == 1


def test_a_merge_answered_with_an_error_that_went_through_is_seen(hosting):
    forge = hosting.forge("admin", bot_merges=False)  # an admin's own registry branch, merged through the API
    head = commit_changes(forge.repo, forge.main, {"datasets/3.yaml": y(dataset(3, "admin"))}, "d",
                          hosting.world["admin"].identity)
    sub = forge.open(head, title="d", kind="dataset", base=forge.main)
    assert hosting.server.pulls[sub.number]["head"]["repo"]["full_name"] == hosting.server.full_name
    hosting.server.inject(502, 1, after=True)
    done = forge.merge(sub.number, expected_head=sub.head)
    assert done.state == "merged" and hosting.server.pull(sub.number)["merged"]
    assert hosting.server.git("rev-list", "--count", "--merges", "refs/heads/main") == "1"


def test_a_merge_with_a_stale_head_is_refused_with_409(hosting):
    forge = hosting.forge("admin")
    head = commit_changes(forge.repo, forge.main, {"datasets/3.yaml": y(dataset(3, "admin"))}, "d",
                          hosting.world["admin"].identity)
    sub = forge.open(head, title="d", kind="dataset", base=forge.main)
    status, answer = hosting.server.merge(hosting.server.users[hosting.token("admin")], sub.number,
                                          {"sha": "0" * 40, "merge_method": "merge"})
    assert status == 409 and "modified" in answer["message"]


def test_bodies_are_cut_below_60000_characters_with_a_link_to_the_full_text(hosting):
    from medperf_git.forges._github_api import GitHubError

    def describe(repo, base, head):
        return {"records": [("A", "datasets/3.yaml")], "contents": {"datasets/3.yaml": "x: 1\n" * 30_000}}

    forge = hosting.forge("do", describe=describe)
    head = commit_changes(forge.repo, forge.main, {"datasets/3.yaml": y(dataset(3, "do"))}, "d",
                          hosting.world["do"].identity)
    sub = forge.open(head, title="d", kind="dataset", base=forge.main)
    body = hosting.server.pulls[sub.number]["body"]
    assert len(body) < 60_000 and f"/commit/{head}" in body and body.count("```") % 2 == 0
    assert forge.get(sub.number).kind == "dataset"  # the hidden marker survived the cut
    with pytest.raises(GitHubError, match="422"):  # GitHub's own limit, as the fake enforces it
        forge._call(lambda: forge._pull(sub.number).create_issue_comment("y" * 65_537), "comment")


def test_open_listings_ask_only_for_open_pull_requests_and_recent_comments(hosting):
    old = hosting.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    hosting.sweep()  # merged: closed
    hosting.submit("do", ASSOCIATION)
    before = len(hosting.server.requests)
    subs = hosting.forge("bo").list("open")
    assert [s.state for s in subs] == ["open"] and old.number not in [s.number for s in subs]
    asked = [p for _, p, _ in hosting.server.requests[before:]]
    pulls = [p for p in asked if "/pulls?" in p]
    comments = [p for p in asked if "/issues/comments?" in p]
    assert pulls and all("state=open" in p for p in pulls)
    assert comments and all("since=" in p for p in comments)


def test_mergeable_is_null_until_github_has_computed_it(hosting):
    sub = hosting.submit("do", ASSOCIATION)
    forge = hosting.forge("do")
    hosting.world.direct({"datasets/5.yaml": y(dataset(5, "do"))}, "main moves: GitHub computes it again")
    first = forge._pull(sub.number)
    assert first.mergeable is None
    assert forge._pull(sub.number).mergeable is True
    assert forge.get(sub.number).state == "open"


def test_comments_edited_by_others_are_not_believed(hosting):
    sub = hosting.submit("do", ASSOCIATION)
    hosting.approve("bo", sub.number)
    approval = next(c for c in hosting.server.comments if "medperf-git:approval" in c["body"])
    admin = hosting.server.users[hosting.token("admin")]
    data = json.loads(approval["body"].split("medperf-git:approval", 1)[1].split("-->", 1)[0])
    forged = approval["body"].replace(data["object"][:40], data["object"][:40][::-1])
    assert hosting.server.edit_comment(admin, approval["id"], {"body": forged})[0] == 200  # admins may edit
    assert hosting.server.edit_comment(hosting.server.users[hosting.token("eve")], approval["id"],
                                       {"body": "x"})[0] == 403
    assert hosting.sweep()[0].action == "waiting"  # the edited commit no longer rebuilds: no approval
    forge = hosting.forge("do")
    forge.comment(sub.number, "<!-- medperf-git:event {\"by\": \"do\", \"type\": \"updated\", \"reason\": \"x\"} -->")
    event = hosting.server.comments[-1]
    hosting.server.edit_comment(admin, event["id"], {"body": event["body"].replace("x", "changed by admin")})
    updated = [e for e in forge.get(sub.number).events if e.type == "updated"]
    assert updated and not updated[0].valid and "edited" in updated[0].problem


def test_opening_again_from_a_fork_resumes_the_same_pull_request(hosting):
    forge = hosting.forge("do")
    head = commit_changes(forge.repo, forge.main, {"datasets/3.yaml": y(dataset(3, "do"))}, "d",
                          hosting.world["do"].identity)
    first = forge.open(head, title="d", kind="dataset", base=forge.main)
    again = forge.open(head, title="d", kind="dataset", base=forge.main)  # an interrupted run, started again
    assert again.number == first.number and len(hosting.server.pulls) == 1
