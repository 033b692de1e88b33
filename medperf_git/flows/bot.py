"""The policy bot of a registry hosted on GitHub: judge every open pull request, say so on it, merge.

Every run is a sweep of all open pull requests into main (the one an event names first), so that a
run GitHub cancels (it keeps one pending run per concurrency group) loses no verdict: the next run
judges everything again. It runs from main only (schedule, manual, or a ``@medperf-git check``
comment), never checks out or runs a pull request: it fetches its objects, recomputes lint of the
merged tree and the policy with main's records (the validate workflow is never trusted: a pull
request can rewrite it), and requires the pull request's opener, by numeric GitHub id, to be the
person who signed its commits. The verdict is a commit status on the pull request's head (a refused
one fails there, not in the workflow) and one comment edited in place that lists what is missing.
What each pull request was last judged on (its head, main) is kept in the registry repository under
``refs/medperf-git/verdicts``, which only the bot writes: a pull request whose head and main have not
moved is not judged again, and a verdict that did not change is not written again. Mergeable
ones are merged by the bot itself: a merge commit of main and the head with its approvals (those a
fork's pull request carries in comments included), pushed to main with a lease; GitHub then marks
the pull request merged.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.errors import UsageError
from medperf_git.records.layout import ADMIN_ONLY_PREFIXES
from medperf_git.registry.git import GitRepo, push, run_git

BOT_HANDLE = "medperf-git-bot"
CONTEXT = "medperf-git/policy"
COMMAND = "@medperf-git check"
MAX_DESCRIPTION = 140  # characters: GitHub's limit for a commit status
VERDICTS = "refs/medperf-git/verdicts"  # what each open pull request was last judged on (the bot's own ref)


@dataclass
class BotOutcome:
    number: int | None
    action: str  # merged | mergeable | waiting | refused | unchanged | ignored
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
    """The pull request an event names first: pull_request(_review), or a comment on a pull request."""
    run = event.get("workflow_run")
    if isinstance(run, dict):
        pulls = run.get("pull_requests") or []
        return int(pulls[0]["number"]) if pulls else None
    if isinstance(event.get("pull_request"), dict):
        return int(event["pull_request"]["number"])
    issue = event.get("issue")
    if isinstance(issue, dict) and isinstance(issue.get("pull_request"), dict):
        return int(issue["number"])
    return None


def ignored_comment(event: dict) -> str | None:
    """Why a comment event is not for the bot (not on a pull request, or without the command), or None."""
    if "comment" not in event:
        return None
    if not isinstance((event.get("issue") or {}).get("pull_request"), dict):
        return "the comment is not on a pull request"
    if COMMAND not in str((event.get("comment") or {}).get("body") or ""):
        return f"the comment does not ask for `{COMMAND}`"
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


def run_bot(repo: GitRepo, event: dict, *, repository: str, token: str, base_url: str | None = None,
            remote: str = "origin", merge: bool = True, throttle: bool = True,
            sleep: Callable[[float], Any] = time.sleep, log_url: str | None = None) -> list[BotOutcome]:
    """Judge every open pull request into main (the event's first); one outcome each."""
    from medperf_git.forges.github import GitHubForge

    why = ignored_comment(event)
    if why:
        return [BotOutcome(pull_number(event), "ignored", problems=[why])]
    url = repo.out("remote", "get-url", remote, check=False) or remote
    forge = GitHubForge(repo, url, None, BOT_HANDLE, repository=repository, token=token, base_url=base_url,
                        throttle=throttle, sleep=sleep)
    forge.refresh()  # main, branches and every pull request's head (a fork's lives only in refs/pull/N/head)
    run_git("fetch", "--quiet", "--no-tags", url, f"+{VERDICTS}:{VERDICTS}", cwd=repo.path, env=forge._git_env(),
            check=False, timeout=900)
    subs = forge.list("open")
    first = pull_number(event)
    subs.sort(key=lambda s: (s.number != first, s.number))
    judge = _Judge(repo, forge, url, merge=merge, sleep=sleep, log_url=log_url)
    try:
        return [judge.one(sub) for sub in subs]
    finally:
        judge.save({s.number for s in subs})


class _Judge:
    """One sweep's state: main as it moves with each merge, and the bot's own GitHub account."""

    def __init__(self, repo: GitRepo, forge, url: str, *, merge: bool, sleep, log_url: str | None):
        from medperf_git.forges import _github_api as api

        self.repo, self.forge, self.url, self.merge, self.sleep, self.log_url = repo, forge, url, merge, sleep, log_url
        self.main = forge.main
        self.known = self.repo.rev_parse(VERDICTS)
        try:
            self.verdicts: dict[str, dict] = json.loads(self.repo.read_path(self.known, "verdicts.json") or b"{}") \
                if self.known else {}
        except ValueError:
            self.verdicts = {}
        self.changed = False
        try:
            self.me: int | None = api.call(lambda: forge.gh.get_user().id, "cannot read the bot's account",
                                           sleep=sleep)
        except api.GitHubError:
            self.me = None  # an App installation token has no /user: its comments are by a Bot

    def _mine(self, comment: dict) -> bool:
        user = comment.get("user") or {}
        return user.get("id") == self.me if self.me is not None else user.get("type") == "Bot"

    def one(self, sub) -> BotOutcome:
        from medperf_git.forges._github_body import BOT_MARK, read_marker
        from medperf_git.policy.ci import check

        number, tip = sub.number, sub.head
        raw = self.forge._raws[number]
        pr_head = str((raw.get("head") or {}).get("sha") or "")
        ours = next((c for c in self.forge._comments.get(number, []) if self._mine(c)
                     and read_marker(c.get("body"), BOT_MARK) is not None), None)
        last = self.verdicts.get(str(number)) or read_marker((ours or {}).get("body"), BOT_MARK) or {}
        if ours is not None and last.get("head") == tip and last.get("base") == self.main and \
                last.get("pr_head") == pr_head:
            return BotOutcome(number, "unchanged", head=tip, base=self.main)
        outcome = BotOutcome(number, "waiting", head=tip, base=self.main)
        if self.repo.rev_parse(f"{tip}^{{commit}}") is None:
            outcome.action, outcome.problems = "refused", [f"cannot fetch the head {tip[:12]} of #{number}"]
            return self._report(outcome, raw, pr_head, ours, [])
        result = check(self.repo, self.main, tip)
        verdict = result.verdict
        outcome.problems += [f.text() for f in result.findings if f.severity == "error"]
        outcome.problems += [v.text() for v in verdict.violations]
        if verdict.author:
            problem = opener_problem(self.repo, self.main, tip, verdict.author, raw.get("user") or {})
            if problem:
                outcome.problems.append(problem)
        outcome.waiting = [r.text() for r in verdict.requirements if not r.satisfied]
        touched = sorted(p for p in result.review.line.paths if p.startswith(ADMIN_ONLY_PREFIXES))
        if touched:  # the workflows and CI scripts that judge everyone: only admins may change them
            outcome.waiting = [f"{w} (it changes {', '.join(touched[:3])}{' ...' * (len(touched) > 3)})"
                               if "admins" in w else w for w in outcome.waiting]
        if outcome.problems:
            outcome.action = "refused"
        elif not outcome.waiting:
            outcome.action = "mergeable"
            if self.merge:
                self._merge(outcome, sub)
        return self._report(outcome, raw, pr_head, ours, [a.to_dict() for a in result.review.approvals])

    def _merge(self, outcome: BotOutcome, sub) -> None:
        """Main and the head with its approvals, as one merge commit pushed with a lease on main."""
        from medperf_git.errors import MedperfGitError
        from medperf_git.forges._merge import merge_commit
        from medperf_git.registry.commits import Identity

        identity = Identity("medperf-git bot", "medperf-git-bot@users.noreply.github.com")
        try:
            commit = merge_commit(self.repo, sub.number, sub.title, self.main, sub.head, identity)
        except MedperfGitError as exc:
            outcome.action, outcome.waiting = "waiting", [f"it does not merge with main: {exc.message}"]
            return
        env = self.forge._git_env()
        proc = push(self.repo, self.url, [f"{commit}:refs/heads/main"], leases=[f"refs/heads/main:{self.main}"],
                    env=env, check=False)
        if proc.returncode != 0:  # refused, or unknown: main tells which
            now = run_git("ls-remote", self.url, "refs/heads/main", cwd=self.repo.path, env=env, check=False)
            if now.stdout.split("\t", 1)[0].strip() != commit:
                outcome.action = "waiting"
                outcome.waiting = ["main moved while this run merged: the next run judges it again"]
                return
        self.repo.git("update-ref", "refs/remotes/origin/main", commit)
        self.main = commit
        outcome.action, outcome.merged_commit = "merged", commit

    def _report(self, outcome: BotOutcome, raw: dict, pr_head: str, ours: dict | None, approvals: list) -> BotOutcome:
        """The commit status on the head, then the one comment: written last, it says the verdict is out."""
        from medperf_git.forges import _github_api as api
        from medperf_git.forges._github_body import BOT_MARK, cut, marker, read_marker, render

        number = outcome.number
        words = {"merged": "merged", "mergeable": "mergeable (not merged: --no-merge)", "refused": "refused",
                 "waiting": "waiting for approvals"}
        text = render("bot_comment.md.j2", marker="", head=outcome.head, base=outcome.base,
                      status=words[outcome.action], problems=outcome.problems, waiting=outcome.waiting,
                      number=number, approvals=approvals)
        state = {"merged": "success", "mergeable": "success", "waiting": "pending", "refused": "failure"}
        description = {"merged": f"merged as {(outcome.merged_commit or '')[:12]}",
                       "mergeable": "mergeable: lint and policy pass",
                       "waiting": "waiting for: " + "; ".join(outcome.waiting),
                       "refused": "refused: " + "; ".join(outcome.problems)}[outcome.action]
        if len(description) > MAX_DESCRIPTION:
            description = description[:MAX_DESCRIPTION - 3] + "..."
        digest = hashlib.sha256(f"{pr_head}\0{state[outcome.action]}\0{description}\0{text}".encode()).hexdigest()
        mark = {"head": outcome.head, "base": outcome.base, "pr_head": pr_head, "digest": digest[:16]}
        self.verdicts[str(number)] = mark
        self.changed = True
        old = read_marker((ours or {}).get("body"), BOT_MARK) or {}
        if ours is not None and old.get("digest") == mark["digest"]:  # judged again, said the same: write nothing
            outcome.comment_id = int(ours["id"])
            return outcome
        body = cut(marker(BOT_MARK, mark) + text, self.log_url or str(raw.get("html_url") or ""))
        target = (ours or {}).get("html_url") or raw.get("html_url") or None
        api.call(lambda: self._status(pr_head, state[outcome.action], description, target),
                 f"cannot set the status of #{number}", sleep=self.sleep)
        if ours is not None:
            if ours.get("body") != body:
                api.call(lambda: self._edit(int(ours["id"]), body), f"cannot edit the bot's comment on #{number}",
                         sleep=self.sleep)
            outcome.comment_id = int(ours["id"])
        else:
            outcome.comment_id = int(self.forge.comment(number, body, mine=self._mine).get("id") or 0) or None
        return outcome

    def save(self, still_open: set[int]) -> None:
        """Keep what was judged on what, for the next run: one commit on the bot's ref, pushed with a lease
        (a lost race only means that the next run judges those pull requests again)."""
        if not self.changed:
            return
        from medperf_git.registry.commits import Identity, build_tree, commit_tree

        kept = {k: v for k, v in sorted(self.verdicts.items()) if k.isdigit() and int(k) in still_open}
        tree = build_tree(self.repo, None, {"verdicts.json": json.dumps(kept, indent=1, sort_keys=True).encode()})
        commit = commit_tree(self.repo, tree, [self.known] if self.known else [], "Verdicts",
                             Identity("medperf-git bot", "medperf-git-bot@users.noreply.github.com"))
        push(self.repo, self.url, [f"{commit}:{VERDICTS}"], leases=[f"{VERDICTS}:{self.known or ''}"],
             env=self.forge._git_env(), check=False)

    def _status(self, sha: str, state: str, description: str, target: str | None) -> None:
        """POST a commit status without reading the commit first (PyGithub's way costs a request more)."""
        data = {"state": state, "description": description, "context": CONTEXT}
        if target:
            data["target_url"] = target
        self.forge.api._requester.requestJsonAndCheck("POST", f"{self.forge.api.url}/statuses/{sha}", input=data)

    def _edit(self, comment_id: int, body: str) -> None:
        self.forge.api._requester.requestJsonAndCheck("PATCH", f"{self.forge.api.url}/issues/comments/{comment_id}",
                                                      input={"body": body})

