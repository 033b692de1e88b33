"""Submissions as real GitHub pull requests (github.com or GitHub Enterprise through ``base_url``).

A submission is a branch of the registry repository, ``medperf-git/<handle>/<sha12>``, pushed with
git, and a pull request opened through the API. Approvals stay signed commits pushed on that branch
(with a lease), so the offline audit keeps working; GitHub reviews never count. Merges go through
the API with the expected head sha and the merge-commit method only, so authors' signatures stay.
What GitHub does not hold (an update's reason, a close's reason) rides in marker comments, whose
author GitHub itself vouches for.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Callable
from typing import Any

from medperf_git.errors import ForgeError, GitError, RemoteUnavailable
from medperf_git.forges import _github_api as api
from medperf_git.forges._github_body import BODY_MARK, EVENT_MARK, event_comment, pr_body, read_marker
from medperf_git.forges.base import (
    MAIN,
    ClonedForge,
    Event,
    EventJudge,
    MergeCheck,
    MergeConflict,
    RaceLost,
    Submission,
    SubmissionNotFound,
    SubmissionNotOpen,
)
from medperf_git.registry.commits import Identity
from medperf_git.registry.git import GitRepo, is_network_failure, push, run_git

FETCH_REFSPECS = ("+refs/heads/*:refs/remotes/origin/*",)
MAX_TRIES = 4
BRANCH_PREFIX = "medperf-git"


def _raw(obj: Any) -> dict:
    """PyGithub's underlying JSON, without the lazy completion that would cost one request per object."""
    return getattr(obj, "_rawData", None) or {}


class GitHubForge(ClonedForge):
    """A forge over a GitHub repository and the workspace's bare clone of it."""

    name = "github"

    def __init__(self, repo: GitRepo, remote: str, identity: Identity, handle: str, *, repository: str,
                 token: str, base_url: str | None = None, judge: EventJudge | None = None,
                 fetch: Callable[[], None] | None = None, throttle: bool = True,
                 sleep: Callable[[float], Any] = time.sleep, bot_merges: bool = False, wait: float = 600.0,
                 poll: float = 5.0, describe: Callable[[GitRepo, str, str], dict] | None = None):
        self.repo = repo
        self.describe = describe  # what a pull request's body says of a head on a base (see policy.assess)
        self.remote = remote
        self.identity = identity
        self.handle = handle
        self.repository = repository
        self.judge = judge
        self._fetch = fetch
        self._token = token
        self._sleep = sleep
        self.bot_merges = bot_merges  # the registry's policy bot merges; clients wait for it (``wait`` seconds)
        self.wait = wait
        self.poll = poll
        self.gh = api.client(token, base_url, throttle=throttle)
        self._api = None
        self._branches: dict[int, str] = {}
        self._accounts: tuple[str | None, dict[int, str], set[str]] | None = None
        self._accounts_fresh = False

    def __repr__(self) -> str:  # never shows the token
        return f"GitHubForge({self.repository!r}, handle={self.handle!r})"

    # Plumbing
    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        return api.call(fn, what, sleep=self._sleep)

    @property
    def api(self):
        if self._api is None:
            self._api = self._call(lambda: self.gh.get_repo(self.repository), f"cannot open {self.repository}")
        return self._api

    def _git_env(self) -> dict[str, str]:
        return api.git_auth_env(self._token, self.remote)

    def refresh(self) -> None:
        if self._fetch is not None:
            self._fetch()
            return
        try:
            run_git("fetch", "--quiet", "--prune", "--no-tags", self.remote, *FETCH_REFSPECS, cwd=self.repo.path,
                    env=self._git_env(), timeout=600, what=f"cannot fetch the registry {self.remote}")
        except GitError as exc:
            if is_network_failure(exc) and not isinstance(exc, RemoteUnavailable):
                raise RemoteUnavailable(api.redact(exc.message), hint="check the registry address and your "
                                        "network; local work is kept: run the same command again") from None
            raise GitError(api.redact(exc.message), hint=exc.hint) from None

    def _push_branch(self, branch: str, new: str, expected: str | None) -> bool:
        """Push ``new`` to ``refs/heads/<branch>`` if it still is ``expected`` (None: must not exist)."""
        ref = f"refs/heads/{branch}"
        try:
            proc = push(self.repo, self.remote, [f"{new}:{ref}"], leases=[f"{ref}:{expected or ''}"],
                        env=self._git_env(), check=False)
        except RemoteUnavailable as exc:
            raise RemoteUnavailable(api.redact(exc.message), hint="local work is kept: run the same command again") \
                from None
        if proc.returncode == 0:
            self.repo.git("update-ref", f"refs/remotes/origin/{branch}", new)
            return True
        text = api.redact(proc.stdout + proc.stderr)
        if "stale info" in text or "already exists" in text or "fetch first" in text or "non-fast-forward" in text:
            return False
        raise ForgeError(f"cannot push to {api.redact(self.remote)}: {text.strip().splitlines()[-1:] or 'rejected'}",
                         hint="check that the token may push branches to the registry repository")

    # Who is who
    def _people_accounts(self) -> tuple[dict[int, str], set[str]]:
        """GitHub numeric id -> handle from main's person records, and the handles that list an account."""
        if self._accounts is not None and self._accounts_fresh:
            return self._accounts[1], self._accounts[2]
        main = self.repo.rev_parse(MAIN)
        self._accounts_fresh = True  # until the next list() or get(): main is read once per call
        if self._accounts is not None and self._accounts[0] == main:
            return self._accounts[1], self._accounts[2]
        ids: dict[int, str] = {}
        claimed: set[str] = set()
        if main:
            from medperf_git.records.yamlio import load_yaml

            proc = self.repo.git("grep", "-l", "-F", "github", main, "--", "people/", check=False)
            for line in proc.stdout.splitlines():
                path = line.split(":", 1)[-1]
                try:
                    record = load_yaml(self.repo.read_path(main, path), path)
                except Exception:  # noqa: BLE001 - a broken record vouches for nobody
                    continue
                if not isinstance(record, dict):
                    continue
                for account in record.get("accounts") or []:
                    if isinstance(account, dict) and account.get("forge") == "github":
                        ids[int(account.get("id") or 0)] = str(record.get("handle"))
                        claimed.add(str(record.get("handle")))
        self._accounts = (main, ids, claimed)
        return ids, claimed

    def who(self, user: dict | None) -> str:
        """The handle behind a GitHub user, matched on the numeric id (a login can be renamed or reused)."""
        if not user:
            return ""
        ids, claimed = self._people_accounts()
        if user.get("id") in ids:
            return ids[user["id"]]
        login = str(user.get("login") or "")
        return f"github:{login}" if login in claimed else login

    def account(self) -> dict:
        """The token's GitHub account as a person record lists it: login and the numeric id policy matches."""
        def read() -> tuple[str, int]:
            user = self.gh.get_user()
            return user.login, user.id

        login, uid = self._call(read, "cannot read the token's GitHub account")
        return {"forge": "github", "login": login, "id": int(uid)}

    # Reading
    def list(self, state: str | None = None) -> list[Submission]:
        self._accounts_fresh = False
        pulls = self._call(lambda: [_raw(p) for p in self.api.get_pulls(state="all", sort="created",
                                                                          direction="asc")],
                           "cannot list the pull requests")
        comments: dict[int, list[dict]] = {}
        for comment in self._call(lambda: [_raw(c) for c in self.api.get_issues_comments(sort="created",
                                                                                         direction="asc")],
                                  "cannot list the pull request comments"):
            number = str(comment.get("issue_url", "")).rsplit("/", 1)[-1]
            if number.isdigit():
                comments.setdefault(int(number), []).append(comment)
        pulls = [p for p in pulls if (p.get("base") or {}).get("ref", "main") == "main"]  # submissions go to main
        approvals = self._approvals(pulls)
        subs = sorted((self._build(p, comments.get(p["number"], []), approvals) for p in pulls),
                      key=lambda s: s.number)
        flush = getattr(self.judge, "flush", None)
        if flush is not None:
            flush()
        return [s for s in subs if state is None or s.state == state]

    def _pull(self, number: int):
        from medperf_git.forges._github_api import GitHubError

        try:
            return self._call(lambda: self.api.get_pull(number), f"cannot read pull request #{number}")
        except GitHubError as exc:
            if exc.status == 404:
                raise SubmissionNotFound(number) from None
            raise

    def get(self, number: int) -> Submission:
        self._accounts_fresh = False
        pr = self._pull(number)
        comments = self._call(lambda: [_raw(c) for c in pr.get_issue_comments()],
                              f"cannot read the comments of pull request #{number}")
        raw = _raw(pr)
        if (raw.get("base") or {}).get("ref", "main") != "main":
            raise SubmissionNotFound(number)  # a pull request into another branch is not a submission
        return self._build(raw, comments, self._approvals([raw]))

    def _build(self, pr: dict, comments: list[dict], approvals: dict[tuple[str, str], list]) -> Submission:
        meta = read_marker(pr.get("body"), BODY_MARK) or {}
        number = int(pr["number"])
        head = pr.get("head") or {}
        self._branches[number] = str(head.get("ref") or "")
        author = self.who(pr.get("user"))
        sub = Submission(number=number, title=str(pr.get("title") or ""), author=author,
                         kind=str(meta.get("kind") or ""), base=str(meta.get("base") or ""),
                         head=str(head.get("sha") or ""))
        found: list[tuple[str, str, str, dict, str | None, str | None]] = []  # at, type, by, data, commit, problem
        for c in comments:
            data = read_marker(c.get("body"), EVENT_MARK)
            if not data or data.get("type") not in ("updated", "closed"):
                continue
            by = self.who(c.get("user"))
            problem = None if data.get("by") in (None, by) else f"claims to be by '{data.get('by')}' but GitHub " \
                                                                  f"says '{by}' wrote it"
            extra = {k: v for k, v in data.items() if k not in ("type", "by")}
            found.append((str(c.get("created_at") or ""), str(data["type"]), by, extra, None, problem))
        found += approvals.get((sub.head, sub.base), [])
        if pr.get("merged_at"):
            found.append((str(pr["merged_at"]), "merged", self.who(pr.get("merged_by")),
                          {"commit": pr.get("merge_commit_sha"), "head": sub.head}, None, None))
        found.sort(key=lambda f: f[0])
        opened = {"head": str(meta.get("head") or sub.head)}
        sub.events = [Event(1, "opened", author, str(pr.get("created_at") or ""), opened)]
        for i, (at, kind, by, data, commit, problem) in enumerate(found, start=2):
            event = Event(i, kind, by, at, data, commit, problem)
            if problem is None and commit is not None and self.judge is not None:
                from dataclasses import replace

                event = replace(event, problem=self.judge(sub, event))
            sub.events.append(event)
        if pr.get("merged_at"):
            sub.state, sub.merged_commit = "merged", pr.get("merge_commit_sha")
            sub.merged_by = self.who(pr.get("merged_by")) or None
        elif pr.get("state") == "closed":
            sub.state = "closed"
            closes = [e for e in sub.events if e.type == "closed" and e.valid]
            sub.close_reason = str(closes[-1].data.get("reason", "")) if closes else ""
            sub.closed_by = closes[-1].by if closes else None
        return sub

    def _approvals(self, pulls: list[dict]) -> dict[tuple[str, str], list]:
        """``Approved-by`` commits of base..head of every open pull request, from one ``git log``.

        Keyed by (head, base), oldest first; the judge then verifies each one's signature.
        """
        pairs = set()
        for pr in pulls:
            meta = read_marker(pr.get("body"), BODY_MARK) or {}
            head = str((pr.get("head") or {}).get("sha") or "")
            if pr.get("state") == "open" and head and meta.get("base"):
                pairs.add((head, str(meta["base"])))
        if not pairs:
            return {}
        revs = sorted({h for h, _ in pairs}) + sorted({f"^{b}" for _, b in pairs})
        proc = self.repo.git("log", "--ignore-missing", "--stdin", "--format=%x1e%H%x00%P%x00%ct%x00"
                             "%(trailers:key=Approved-by,valueonly,separator=%x2C)", input="\n".join(revs) + "\n",
                             check=False)
        nodes: dict[str, tuple[list[str], int, str]] = {}
        for record in proc.stdout.split("\x1e")[1:]:
            parts = record.strip("\n").split("\0")
            if len(parts) >= 4:
                nodes[parts[0]] = (parts[1].split(), int(parts[2] or 0), parts[3].strip())
        found: dict[tuple[str, str], list] = {}
        for head, base in pairs:
            seen, stack, events = set(), [head], []
            while stack:
                sha = stack.pop()
                if sha in seen or sha not in nodes or sha == base:
                    continue
                seen.add(sha)
                parents, ct, names = nodes[sha]
                stack += parents
                if names:
                    at = datetime.datetime.fromtimestamp(ct, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                    events.append((at, "approved", names, {"commit": sha}, sha, None))
            found[(head, base)] = sorted(events, key=lambda e: e[0])
        return found

    # Writing
    def open(self, head: str, *, title: str, kind: str, base: str) -> Submission:
        from medperf_git.forges._github_api import GitHubError

        branch = f"{BRANCH_PREFIX}/{self.handle}/{head[:12]}"
        if not self._push_branch(branch, head, None):
            existing = self.repo.rev_parse(f"refs/remotes/origin/{branch}")
            if existing != head and not self._push_branch(branch, head, existing):
                raise RaceLost(f"the branch {branch} is taken", hint="run the same command again")
        body = pr_body(kind=kind, author=self.handle, base=base, head=head, **self._details(base, head))
        try:
            pr = self._call(lambda: self.api.create_pull(base="main", head=branch, title=title, body=body),
                            "cannot open the pull request")
        except GitHubError as exc:
            if exc.status != 422:
                raise
            mine = [s for s in self.list("open") if self._branches.get(s.number) == branch]
            if not mine:
                raise
            return mine[0]  # opened before, by a run that was interrupted: resume it
        return self.get(_raw(pr)["number"])

    def _details(self, base: str, head: str) -> dict:
        """Records, lint findings and who must approve, for the pull request's body; best effort (the bot
        recomputes everything). The caller's ``describe`` knows the rules; the forge only hosts."""
        details: dict = {"records": [], "findings": None, "approvers": [], "compat": []}
        if self.describe is not None:
            with contextlib.suppress(Exception):  # the body is information only
                details.update(self.describe(self.repo, base, head))
        return details

    def update(self, number: int, new_head: str, *, expected_head: str, reason: str) -> Submission:
        sub = self._open_sub(number)
        if sub.head != expected_head or not self._push_branch(self._branches[number], new_head, expected_head):
            raise RaceLost(f"submission #{number} changed meanwhile", hint="run the same command again")
        pr = self._pull(number)
        self._call(lambda: pr.create_issue_comment(event_comment("updated", self.handle, f"Updated: {reason}",
                                                                 head=new_head, reason=reason)),
                   f"cannot comment on pull request #{number}")
        return self.get(number)

    def add_approval(self, number: int, approval: str, *, expected_head: str) -> Submission:
        self._open_sub(number)
        if not self._push_branch(self._branches[number], approval, expected_head):
            raise RaceLost(f"submission #{number} changed while approving it", hint="run the same command again")
        return self.get(number)

    def merge(self, number: int, *, expected_head: str | None = None, check: MergeCheck | None = None) -> Submission:
        from medperf_git.forges._github_api import GitHubError
        from medperf_git.forges._merge import merge_commit

        if self.bot_merges:
            return self._wait_for_bot(number)
        self.refresh()
        sub = self._open_sub(number)
        if expected_head and sub.head != expected_head:
            raise RaceLost(f"submission #{number} changed meanwhile", hint="review it again")
        main = self.main
        merged = merge_commit(self.repo, number, sub.title, main, sub.head, self.identity)  # refuses conflicts
        if check is not None:
            check(merged, main)
        pr = self._pull(number)
        try:
            status = self._call(lambda: pr.merge(merge_method="merge", sha=sub.head,
                                                 commit_title=f"Merge submission #{number}: {sub.title}",
                                                 commit_message=f"Submission: {number}\nHead: {sub.head}"),
                                f"cannot merge pull request #{number}")
        except GitHubError as exc:
            if exc.status == 409:
                raise RaceLost(f"submission #{number} changed meanwhile: GitHub refused to merge an older head",
                               hint="review it again") from None
            if exc.status in (405, 422):
                raise ForgeError(f"GitHub refuses to merge pull request #{number}: {exc.message}",
                                 hint="bring it up to date with main, or check the repository's rules") from None
            raise
        self.refresh()
        done = self.get(number)
        done.state, done.merged_commit, done.merged_by = "merged", _raw(status).get("sha") or done.merged_commit, \
            self.handle
        parent = self.repo.rev_parse(f"{done.merged_commit}^1") if done.merged_commit else None
        if check is not None and parent and parent != main:  # GitHub cannot merge "only onto this main"
            try:
                check(done.merged_commit, parent)
            except Exception as exc:  # noqa: BLE001 - reported with what it means
                raise ForgeError(f"submission #{number} was merged onto a main that moved after it was checked, "
                                 f"and the result fails the check: {exc}",
                                 hint="ask the registry's admins; a ruleset that lets only the bot update main "
                                      "prevents this") from None
        return done

    def _wait_for_bot(self, number: int) -> Submission:
        """Where only the bot may update main: wait until it merged (or gave up); the submission as it is then."""
        from medperf_git.forges._merge import taken_new_paths

        deadline = time.monotonic() + self.wait
        sub = self._open_sub(number)
        while sub.state == "open" and time.monotonic() < deadline:
            self._sleep(self.poll)
            sub = self.get(number)
            if sub.state == "open":  # the bot cannot renumber (content is signed by its author): the author can
                self.refresh()
                taken = taken_new_paths(self.repo, self.main, sub.head)
                if taken:
                    raise MergeConflict(number, taken)
        if sub.state == "closed":
            raise SubmissionNotOpen(f"submission #{number} was closed" + (f" ({sub.close_reason})"
                                                                          if sub.close_reason else ""))
        if sub.state == "merged":
            self.refresh()
        return sub

    def close(self, number: int, reason: str) -> Submission:
        self._open_sub(number)
        pr = self._pull(number)
        self._call(lambda: pr.create_issue_comment(event_comment("closed", self.handle, f"Closed: {reason}",
                                                                 reason=reason)),
                   f"cannot comment on pull request #{number}")
        self._call(lambda: pr.edit(state="closed"), f"cannot close pull request #{number}")
        return self.get(number)


def from_profile(profile, clone, identity: Identity, handle: str,
                 describe: Callable[[GitRepo, str, str], dict] | None = None,
                 fetch: Callable[[], None] | None = None) -> GitHubForge:
    """The forge a profile with ``forge: github`` describes (its ``github`` settings: repository, base_url,
    token_env or token, bot (default true: the registry's bot merges; clients wait), wait (seconds))."""
    from medperf_git.errors import ConfigError

    settings = dict(profile.github or {})
    repository = str(settings.get("repository") or api.repository_from_url(clone.remote) or "")
    if not repository:
        raise ConfigError(f"profile '{profile.name}': which GitHub repository is the registry?",
                          hint="add `github: {repository: OWNER/NAME}` to the profile in config.yaml")
    return GitHubForge(clone.repo, clone.remote, identity, handle, repository=repository,
                       token=api.resolve_token(settings), base_url=settings.get("base_url"),
                       fetch=fetch or clone.fetch,
                       bot_merges=bool(settings.get("bot", True)), wait=float(settings.get("wait", 600)),
                       poll=float(settings.get("poll", 5)), describe=describe)
