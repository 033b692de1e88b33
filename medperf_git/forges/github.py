"""Submissions as real GitHub pull requests (github.com or GitHub Enterprise through ``base_url``).

A submission is a branch ``medperf-git/<handle>/<sha12>``, pushed with git to the submitter's fork
(or to the registry repository when the token may push there), and a pull request opened through
the API. Approvals stay signed commits, so the offline audit keeps working; GitHub reviews never
count. Where the approver may push the branch, the approval is pushed on it (with a lease); on a
fork's pull request, which nobody else may push to, the signed commit object rides in a comment
(``medperf-git:approval``), and every reader rebuilds it and chains it on the head: the
submission's head is that chain's tip. The policy bot merges the tip into main itself. Client-side
merges go through the API with the expected head sha and the merge-commit method only.
What GitHub does not hold (an update's reason, a close's reason) rides in marker comments, whose
author GitHub itself vouches for.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import time
from collections.abc import Callable
from typing import Any

from medperf_git.errors import ForgeError, GitError, RemoteUnavailable
from medperf_git.forges import _github_api as api
from medperf_git.forges._github_body import (
    APPROVAL_MARK,
    BODY_MARK,
    EVENT_MARK,
    cut,
    event_comment,
    marker,
    pr_body,
    read_marker,
)
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

FETCH_REFSPECS = ("+refs/heads/*:refs/remotes/origin/*",  # a fork's pull request lives here only:
                  "+refs/pull/*/head:refs/remotes/origin/pull/*")
MAX_TRIES = 4
BRANCH_PREFIX = "medperf-git"
MAX_APPROVAL_BYTES = 16_384  # a signed approval commit is about 1 KB


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
        self._heads: dict[int, tuple[str, str, str, bool]] = {}  # number -> (push url, branch, head, in the registry)
        self._comments: dict[int, list[dict]] = {}
        self._raws: dict[int, dict] = {}
        self._fork_cache: tuple[str, str] | None = None
        self._me: dict | None = None

    def __repr__(self) -> str:  # never shows the token
        return f"GitHubForge({self.repository!r}, handle={self.handle!r})"

    # Plumbing
    def _call(self, fn: Callable[[], Any], what: str, done: Callable[[], Any] | None = None) -> Any:
        return api.call(fn, what, sleep=self._sleep, done=done)

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

    def _push_branch(self, branch: str, new: str, expected: str | None, url: str | None = None) -> bool:
        """Push ``new`` to ``refs/heads/<branch>`` of ``url`` (the registry) if it still is ``expected`` (None:
        must not exist)."""
        ref = f"refs/heads/{branch}"
        url = url or self.remote
        try:
            proc = push(self.repo, url, [f"{new}:{ref}"], leases=[f"{ref}:{expected or ''}"],
                        env=api.git_auth_env(self._token, url), check=False)
        except RemoteUnavailable as exc:
            raise RemoteUnavailable(api.redact(exc.message), hint="local work is kept: run the same command again") \
                from None
        if proc.returncode == 0:
            if url == self.remote:
                self.repo.git("update-ref", f"refs/remotes/origin/{branch}", new)
            return True
        text = api.redact(proc.stdout + proc.stderr)
        if "stale info" in text or "already exists" in text or "fetch first" in text or "non-fast-forward" in text:
            return False
        raise ForgeError(f"cannot push to {api.redact(url)}: {text.strip().splitlines()[-1:] or 'rejected'}",
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

        if self._me is None:
            login, uid = self._call(read, "cannot read the token's GitHub account")
            self._me = {"forge": "github", "login": login, "id": int(uid)}
        return dict(self._me)

    # Reading
    def list(self, state: str | None = None) -> list[Submission]:
        """Pull requests into main; ``state="open"`` asks GitHub for the open ones only, and for the
        comments written since the oldest of them was opened (older ones cannot be about them)."""
        self._accounts_fresh = False
        wanted = "open" if state == "open" else "all"
        pulls = self._call(lambda: [_raw(p) for p in self.api.get_pulls(state=wanted, base="main", sort="created",
                                                                          direction="asc")],
                           "cannot list the pull requests")
        pulls = [p for p in pulls if (p.get("base") or {}).get("ref", "main") == "main"]  # submissions go to main
        since = min((_parse_time(p.get("created_at")) for p in pulls), default=None) if wanted == "open" else None
        comments: dict[int, list[dict]] = {}
        if pulls:
            listing = (lambda: self.api.get_issues_comments(sort="created", direction="asc", since=since)) \
                if since else (lambda: self.api.get_issues_comments(sort="created", direction="asc"))
            for comment in self._call(lambda: [_raw(c) for c in listing()], "cannot list the pull request comments"):
                number = str(comment.get("issue_url", "")).rsplit("/", 1)[-1]
                if number.isdigit():
                    comments.setdefault(int(number), []).append(comment)
        subs = self._build_all([(p, comments.get(p["number"], [])) for p in pulls])
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
        return self._build_all([(raw, comments)])[0]

    def _build_all(self, pulls: list[tuple[dict, list[dict]]]) -> list[Submission]:
        tips = {int(p["number"]): self._chain(p, c) for p, c in pulls}
        approvals = self._approvals([(tips[int(p["number"])], p) for p, _ in pulls])
        return sorted((self._build(p, c, tips[int(p["number"])], approvals) for p, c in pulls),
                      key=lambda s: s.number)

    def _chain(self, pr: dict, comments: list[dict]) -> str:
        """The tip of the pull request's head and the approval commits its comments carry, in order.

        A comment's commit counts only if it rebuilds to the sha it claims, has the current tip as its
        one parent and the same tree (an approval changes nothing); its signature is judged later, by
        policy, like any approval's. Whoever wrote or edited the comment cannot forge a signature."""
        head = pr.get("head") or {}
        number = int(pr["number"])
        tip = str(head.get("sha") or "")
        self._comments[number] = comments
        self._raws[number] = pr
        repo_name = str(((head.get("repo") or {}).get("full_name")) or self.repository)
        url = self.remote if repo_name == self.repository else str((head.get("repo") or {}).get("clone_url") or "")
        self._heads[number] = (url, str(head.get("ref") or ""), tip, repo_name == self.repository)
        if pr.get("state") != "open" or not tip or self.repo.rev_parse(f"{tip}^{{commit}}") is None:
            return tip
        tree = self.repo.rev_parse(f"{tip}^{{tree}}")
        for c in comments:
            data = read_marker(c.get("body"), APPROVAL_MARK)
            if not data:
                continue
            sha = _store_commit(self.repo, data)
            if sha is None:
                continue
            parents = self.repo.out("rev-list", "--parents", "-n1", sha).split()[1:]
            if parents == [tip] and self.repo.rev_parse(f"{sha}^{{tree}}") == tree:
                tip = sha
        return tip

    def _build(self, pr: dict, comments: list[dict], tip: str, approvals: dict[tuple[str, str], list]) -> Submission:
        meta = read_marker(pr.get("body"), BODY_MARK) or {}
        number = int(pr["number"])
        head = pr.get("head") or {}
        self._branches[number] = str(head.get("ref") or "")
        author = self.who(pr.get("user"))
        sub = Submission(number=number, title=str(pr.get("title") or ""), author=author,
                         kind=str(meta.get("kind") or ""), base=str(meta.get("base") or ""), head=tip)
        found: list[tuple[str, str, str, dict, str | None, str | None]] = []  # at, type, by, data, commit, problem
        for c in comments:
            data = read_marker(c.get("body"), EVENT_MARK)
            if not data or data.get("type") not in ("updated", "closed"):
                continue
            by = self.who(c.get("user"))
            problem = None if data.get("by") in (None, by) else f"claims to be by '{data.get('by')}' but GitHub " \
                                                                  f"says '{by}' wrote it"
            if problem is None and c.get("updated_at") not in (None, c.get("created_at")):
                problem = "edited after it was written, perhaps by someone else: GitHub does not say who"
            extra = {k: v for k, v in data.items() if k not in ("type", "by")}
            found.append((str(c.get("created_at") or ""), str(data["type"]), by, extra, None, problem))
        found += approvals.get((sub.head, sub.base), [])
        if pr.get("merged_at"):
            found.append((str(pr["merged_at"]), "merged", self.who(pr.get("merged_by")),
                          {"commit": pr.get("merge_commit_sha"), "head": sub.head}, None, None))
        found.sort(key=lambda f: f[0])
        opened = {"head": str(meta.get("head") or head.get("sha") or "")}
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

    def _approvals(self, pulls: list[tuple[str, dict]]) -> dict[tuple[str, str], list]:
        """``Approved-by`` commits of base..tip of every open pull request, from one ``git log``.

        Keyed by (tip, base), oldest first; the judge then verifies each one's signature.
        """
        pairs = set()
        for tip, pr in pulls:
            meta = read_marker(pr.get("body"), BODY_MARK) or {}
            if pr.get("state") == "open" and tip and meta.get("base"):
                pairs.add((tip, str(meta["base"])))
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

    def next_number(self) -> int:
        """One above the largest pull request number the clone has fetched: GitHub numbers issues and pull
        requests alike, so the next submission's number is at least this."""
        refs = self.repo.out("for-each-ref", "--format=%(refname:lstrip=4)", "refs/remotes/origin/pull/")
        return max((int(n) for n in refs.split() if n.isdigit()), default=0) + 1

    # Writing
    def _may_push(self) -> bool:
        """Whether the token may push branches to the registry repository (admins); others use a fork."""
        return bool((_raw(self.api).get("permissions") or {}).get("push"))

    def _fork(self) -> tuple[str, str]:
        """The submitter's fork of the registry: its owner login and clone URL (made when missing)."""
        if self._fork_cache is None:
            fork = _raw(self._call(lambda: self.api.create_fork(), f"cannot fork {self.repository}"))
            self._fork_cache = (str((fork.get("owner") or {}).get("login") or ""), str(fork.get("clone_url") or ""))
        return self._fork_cache

    def _push_to(self, url: str, branch: str, new: str, expected: str | None, tries: int = 5) -> bool:
        """Push to a fork, which GitHub makes in the background: a fork not there yet is waited for."""
        for attempt in range(tries):
            try:
                return self._push_branch(branch, new, expected, url=url)
            except ForgeError as exc:
                if attempt == tries - 1 or "not found" not in exc.message.lower() and "does not" not in exc.message:
                    raise
                self._sleep(min(2.0 * 2 ** attempt, 30.0))
        return False

    def open(self, head: str, *, title: str, kind: str, base: str) -> Submission:
        from medperf_git.forges._github_api import GitHubError

        branch = f"{BRANCH_PREFIX}/{self.handle}/{head[:12]}"
        if self._may_push():
            url, label = self.remote, branch
        else:
            login, url = self._fork()
            label = f"{login}:{branch}"
        if not self._push_to(url, branch, head, None):  # there already: an interrupted run's, or a race
            listed = run_git("ls-remote", url, f"refs/heads/{branch}", cwd=self.repo.path,
                             env=api.git_auth_env(self._token, url), check=False).stdout.split()
            existing = listed[0] if listed else None
            if existing != head and not self._push_to(url, branch, head, existing, tries=1):
                raise RaceLost(f"the branch {branch} is taken", hint="run the same command again")
        body = cut(pr_body(kind=kind, author=self.handle, base=base, head=head, **self._details(base, head)),
                   self._html(f"commit/{head}"))

        def opened() -> Any:  # a create answered with an error may have happened: find it before trying again
            return next((s for s in self.list("open") if self._branches.get(s.number) == branch), None)

        try:
            pr = self._call(lambda: self.api.create_pull(base="main", head=label, title=title, body=body),
                            "cannot open the pull request", done=opened)
        except GitHubError as exc:
            if exc.status != 422:
                raise
            mine = opened()
            if mine is None:
                raise
            return mine  # opened before, by a run that was interrupted: resume it
        return pr if isinstance(pr, Submission) else self.get(_raw(pr)["number"])

    def _html(self, path: str) -> str:
        return f"{_raw(self.api).get('html_url') or self.repository}/{path}"

    def _details(self, base: str, head: str) -> dict:
        """Records, lint findings and who must approve, for the pull request's body; best effort (the bot
        recomputes everything). The caller's ``describe`` knows the rules; the forge only hosts."""
        details: dict = {"records": [], "findings": None, "approvers": [], "compat": []}
        if self.describe is not None:
            with contextlib.suppress(Exception):  # the body is information only
                details.update(self.describe(self.repo, base, head))
        return details

    def comment(self, number: int, body: str, mine: Callable[[dict], bool] | None = None) -> dict:
        """Post one comment; after an answer that leaves it unknown, look for it before posting again.
        ``mine`` tells this token's comments (default: by the account's id; an App has no account)."""
        if mine is None:
            me = self.account()["id"]
            mine = lambda c: (c.get("user") or {}).get("id") == me  # noqa: E731
        url = f"{self.api.url}/issues/{number}/comments"
        requester = self.api._requester

        def posted() -> dict | None:
            from github.IssueComment import IssueComment
            from github.PaginatedList import PaginatedList

            listed = self._call(lambda: [_raw(c) for c in PaginatedList(IssueComment, requester, url, None)],
                                f"cannot read the comments of #{number}")
            return next((c for c in listed if mine(c) and c.get("body") == body), None)

        return self._call(lambda: requester.requestJsonAndCheck("POST", url, input={"body": body})[1],
                          f"cannot comment on pull request #{number}", done=posted)

    def update(self, number: int, new_head: str, *, expected_head: str, reason: str) -> Submission:
        sub = self._open_sub(number)
        url, branch, pr_head, _ = self._heads[number]
        if sub.head != expected_head or not self._push_to(url, branch, new_head, pr_head, tries=1):
            raise RaceLost(f"submission #{number} changed meanwhile", hint="run the same command again")
        self.comment(number, event_comment("updated", self.handle, f"Updated: {reason}", head=new_head,
                                           reason=reason))
        return self.get(number)

    def add_approval(self, number: int, approval: str, *, expected_head: str) -> Submission:
        sub = self._open_sub(number)
        url, branch, pr_head, same_repo = self._heads[number]
        if sub.head != expected_head:
            raise RaceLost(f"submission #{number} changed while approving it", hint="run the same command again")
        if same_repo and pr_head == sub.head and self._may_push():
            if not self._push_to(url, branch, approval, expected_head, tries=1):
                raise RaceLost(f"submission #{number} changed while approving it", hint="run the same command again")
        else:  # a fork's branch: only its owner may push there, so the signed commit rides in a comment
            raw = self.repo.git("cat-file", "commit", approval, input=None).stdout
            data = {"commit": approval, "object": base64.b64encode(raw.encode()).decode()}
            self.comment(number, f"{marker(APPROVAL_MARK, data)}\nApproved by `{self.handle}`: signed commit "
                                 f"`{approval[:12]}` on `{expected_head[:12]}`.\n")
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
        if sub.head != self._heads[number][2]:
            raise ForgeError(f"pull request #{number} comes from a fork: its approvals are in comments, and only "
                             "the registry's policy bot merges them", hint="set `bot: true` in the profile's github "
                                                                           "settings and let the bot merge")
        main = self.main
        merged = merge_commit(self.repo, number, sub.title, main, sub.head, self.identity)  # refuses conflicts
        if check is not None:
            check(merged, main)
        pr = self._pull(number)

        def went_through() -> dict | None:  # an error answer to a merge that happened all the same
            now = _raw(self._pull(number))
            return {"sha": now.get("merge_commit_sha")} if now.get("merged") else None

        try:
            status = self._call(lambda: pr.merge(merge_method="merge", sha=sub.head,
                                                 commit_title=f"Merge submission #{number}: {sub.title}",
                                                 commit_message=f"Submission: {number}\nHead: {sub.head}"),
                                f"cannot merge pull request #{number}", done=went_through)
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
        merged_sha = status.get("sha") if isinstance(status, dict) else _raw(status).get("sha")
        done.state, done.merged_commit, done.merged_by = "merged", merged_sha or done.merged_commit, self.handle
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
        self.comment(number, event_comment("closed", self.handle, f"Closed: {reason}", reason=reason))
        self._call(lambda: pr.edit(state="closed"), f"cannot close pull request #{number}")
        return self.get(number)


def _parse_time(text: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def _store_commit(repo: GitRepo, data: dict) -> str | None:
    """Write the commit object an approval comment carries; its sha if it is the one claimed, else None."""
    claimed = str(data.get("commit") or "")
    try:
        raw = base64.b64decode(str(data.get("object") or ""), validate=True)
    except ValueError:
        return None
    if len(raw) > MAX_APPROVAL_BYTES or len(claimed) != 40:
        return None
    proc = repo.git("hash-object", "-t", "commit", "-w", "--stdin", input=raw, check=False)
    return claimed if proc.returncode == 0 and proc.stdout.decode().strip() == claimed else None


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
