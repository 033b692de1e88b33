"""The policy bot of a registry hosted on GitHub: judge one pull request, comment, merge when allowed.

It runs from main (``workflow_run``), so nothing a pull request changes can change the bot. It never
checks out or runs the pull request: it fetches its objects, recomputes lint of the merged tree and
the policy with main's records (the validate artifact is never trusted: a fork can rewrite that
workflow), and requires the pull request's opener, by numeric GitHub id, to be the person who signed
its commits. Changes under ``.github/`` also need an admin's approval. It keeps one comment per pull
request (found by a marker, edited in place) and merges with the expected head sha, merge commit only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.errors import UsageError
from medperf_git.registry.git import GitRepo, run_git

BOT_HANDLE = "medperf-git-bot"


@dataclass
class BotOutcome:
    number: int | None
    action: str  # merged | waiting | refused | ignored
    head: str | None = None
    base: str | None = None
    problems: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    merged_commit: str | None = None
    comment_id: int | None = None

    def to_dict(self) -> dict:
        return {"number": self.number, "action": self.action, "head": self.head, "base": self.base,
                "problems": self.problems, "waiting": self.waiting, "merged_commit": self.merged_commit,
                "comment_id": self.comment_id}


def read_event(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the event file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"the event file {path} is not a JSON object")
    return data


def pull_number(event: dict) -> int | None:
    """The pull request an event is about: workflow_run (relayed), pull_request(_review), issue_comment."""
    run = event.get("workflow_run")
    if isinstance(run, dict):
        pulls = run.get("pull_requests") or []
        return int(pulls[0]["number"]) if pulls else None
    if isinstance(event.get("pull_request"), dict):
        return int(event["pull_request"]["number"])
    issue = event.get("issue")
    if isinstance(issue, dict) and issue.get("pull_request"):
        return int(issue["number"])
    return None


def _accounts(record: dict | None) -> set[int]:
    if not isinstance(record, dict):
        return set()
    return {int(a["id"]) for a in record.get("accounts") or []
            if isinstance(a, dict) and a.get("forge") == "github" and isinstance(a.get("id"), int)}


def _record(repo: GitRepo, rev: str, path: str) -> dict | None:
    from medperf_git.records.yamlio import load_yaml

    data = repo.read_path(rev, path)
    try:
        record = load_yaml(data, path) if data else None
    except Exception:  # noqa: BLE001 - an unreadable record vouches for nobody
        return None
    return record if isinstance(record, dict) else None


def opener_problem(repo: GitRepo, base: str, head: str, author: str, opener: dict) -> str | None:
    """Why the pull request's opener is not the person who signed it (by numeric id), or None."""
    ids = _accounts(_record(repo, base, f"people/{author}.yaml"))
    if not ids and repo.read_path(base, f"people/{author}.yaml") is None:
        ids = _accounts(_record(repo, head, f"people/{author}.yaml"))  # a newcomer's own registration
    login, uid = opener.get("login"), opener.get("id")
    if not ids:
        return (f"the commits are signed by '{author}', whose person record lists no GitHub account, so the "
                f"opener (GitHub user {login}, id {uid}) cannot be matched to them")
    if uid not in ids:
        return (f"opened by GitHub user {login} (id {uid}), but the commits are signed by '{author}', whose "
                f"GitHub account id is {', '.join(map(str, sorted(ids)))}")
    return None


def _admin_requirement(repo: GitRepo, base: str, paths: list[str], author: str | None,
                       approvers: list[str]) -> str | None:
    touched = sorted(p for p in paths if p.startswith(".github/"))
    if not touched:
        return None
    admins = [str(a) for a in (_record(repo, base, "registry.yaml") or {}).get("admins") or []]
    if set(approvers) & (set(admins) - {author}):
        return None
    return (f"1 approval from an admin ({', '.join(a for a in admins if a != author) or 'nobody else is an admin'})"
            f": the submission changes {', '.join(touched[:3])}{' ...' if len(touched) > 3 else ''}")


def _fetch_pull(repo: GitRepo, remote: str, env: dict, number: int) -> None:
    run_git("fetch", "--quiet", "--no-tags", remote, f"+refs/pull/{number}/head:refs/medperf-git/pull/{number}",
            cwd=repo.path, env=env, check=False, timeout=600)


def run_bot(repo: GitRepo, event: dict, *, repository: str, token: str, base_url: str | None = None,
            remote: str = "origin", merge: bool = True, throttle: bool = True,
            sleep: Callable[[float], Any] = time.sleep) -> BotOutcome:
    from medperf_git.forges import _github_api as api
    from medperf_git.forges._github_body import BOT_MARK, marker, render
    from medperf_git.forges.github import GitHubForge, _raw
    from medperf_git.policy.approvals import valid_approvers
    from medperf_git.policy.ci import check

    url = repo.out("remote", "get-url", remote, check=False) or remote
    forge = GitHubForge(repo, url, None, BOT_HANDLE, repository=repository, token=token, base_url=base_url,
                        throttle=throttle, sleep=sleep)
    number = pull_number(event)
    run = event.get("workflow_run") if isinstance(event.get("workflow_run"), dict) else {}
    if number is None and run.get("head_sha"):  # a relayed run GitHub did not link: find it by its head
        number = next((s.number for s in forge.list("open") if s.head == run["head_sha"]), None)
    if number is None:
        return BotOutcome(None, "ignored", problems=["the event names no pull request of this repository"])
    forge.refresh()
    pr = forge._pull(number)
    raw = _raw(pr)
    head = str((raw.get("head") or {}).get("sha") or "")
    if raw.get("state") != "open":
        return BotOutcome(number, "ignored", head=head, problems=[f"pull request #{number} is {raw.get('state')}"])
    target = str((raw.get("base") or {}).get("ref") or "")
    if target != "main":  # a merge through the API goes into the pull request's own base branch
        return BotOutcome(number, "ignored", head=head, problems=[f"pull request #{number} targets '{target}', "
                                                                  "not main"])
    if repo.rev_parse(f"{head}^{{commit}}") is None:
        _fetch_pull(repo, url, forge._git_env(), number)
    base = forge.main
    outcome = BotOutcome(number, "waiting", head=head, base=base)
    if repo.rev_parse(f"{head}^{{commit}}") is None:
        outcome.action, outcome.problems = "refused", [f"cannot fetch the head {head[:12]} of pull request #{number}"]
        return outcome
    result = check(repo, base, head)
    verdict = result.verdict
    outcome.problems += [f.text() for f in result.findings if f.severity == "error"]
    outcome.problems += [v.text() for v in verdict.violations]
    approvers = valid_approvers(result.review.approvals)
    if verdict.author:
        problem = opener_problem(repo, base, head, verdict.author, raw.get("user") or {})
        if problem:
            outcome.problems.append(problem)
    outcome.waiting = [r.text() for r in verdict.requirements if not r.satisfied]
    admin = _admin_requirement(repo, base, result.review.line.paths, verdict.author, approvers)
    if admin:
        outcome.waiting.append(admin)
    if outcome.problems:
        outcome.action = "refused"
    elif not outcome.waiting:
        outcome.action = "mergeable"
        if merge:
            try:
                status = api.call(lambda: pr.merge(merge_method="merge", sha=head,
                                                   commit_title=f"Merge submission #{number}: {raw.get('title')}",
                                                   commit_message=f"Submission: {number}\nHead: {head}"),
                                  f"cannot merge pull request #{number}", sleep=sleep)
                outcome.action, outcome.merged_commit = "merged", _raw(status).get("sha")
            except api.GitHubError as exc:
                if exc.status not in (405, 409, 422):
                    raise
                outcome.action = "waiting"
                outcome.waiting.append(f"GitHub did not merge: {exc.message}")
    words = {"merged": "merged", "mergeable": "mergeable (not merged: --no-merge)", "refused": "refused",
             "waiting": "waiting for approvals"}
    body = render("bot_comment.md.j2", marker=marker(BOT_MARK, {"head": head}), head=head, base=base,
                  status=words[outcome.action], problems=outcome.problems, waiting=outcome.waiting, number=number,
                  approvals=[a.to_dict() for a in result.review.approvals])
    outcome.comment_id = _upsert_comment(forge, pr, number, body, sleep)
    return outcome


def _upsert_comment(forge, pr, number: int, body: str, sleep) -> int | None:
    """Edit the bot's one comment in place (found by its marker and its author), or create it."""
    from medperf_git.forges import _github_api as api
    from medperf_git.forges._github_body import BOT_MARK
    from medperf_git.forges.github import _raw

    try:
        me = api.call(lambda: forge.gh.get_user().id, "cannot read the bot's account", sleep=sleep)
    except api.GitHubError:
        me = None  # an App installation token has no /user: its comments are by a Bot
    comments = api.call(lambda: list(pr.get_issue_comments()), f"cannot read the comments of #{number}", sleep=sleep)
    for comment in comments:
        raw = _raw(comment)
        user = raw.get("user") or {}
        mine = user.get("id") == me if me is not None else user.get("type") == "Bot"
        if mine and f"<!-- {BOT_MARK}" in str(raw.get("body") or ""):
            if raw.get("body") != body:
                api.call(lambda c=comment: c.edit(body), f"cannot edit the bot's comment on #{number}", sleep=sleep)
            return raw.get("id")
    created = api.call(lambda: pr.create_issue_comment(body), f"cannot comment on #{number}", sleep=sleep)
    return _raw(created).get("id")
