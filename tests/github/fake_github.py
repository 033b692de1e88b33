"""A small GitHub REST server on 127.0.0.1, backed by real bare git repositories.

It serves the endpoints the ``github`` forge, the policy bot and the settings check use, under
``/api/v3`` like GitHub Enterprise, and git itself over smart HTTP (``git http-backend``) with the
same tokens, so that who may push where is GitHub's: collaborators with write access push to the
registry, everyone to their own fork. Where the code depends on GitHub's behaviour, it behaves like
GitHub: forks (``POST /forks``, pull requests ``owner:branch`` whose head GitHub copies to
``refs/pull/N/head``), a pull request marked merged once its head is in main (however it got there),
``mergeable`` null until computed, 409 on a merge with a stale ``sha``, 422 on bodies over 65,536
characters, comments that collaborators with write access may edit, secondary rate limits, App
installation tokens minted from a JWT. Lists are paginated with ``Link`` headers. With a ``spec``
(tests/github/openapi.py), every response is completed from GitHub's published OpenAPI description
and checked against it; what does not validate is kept in ``invalid``.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlparse

PREFIX = "/api/v3"
MAX_BODY = 65_536
BOT_USER = {"login": "medperf-git[bot]", "id": 4242, "type": "Bot"}


def github_accounts(actors: dict, handles, first_id: int) -> tuple[dict[str, int], dict[str, bytes]]:
    """GitHub user ids for ``handles`` and their person records listing them (changes to commit)."""
    from medperf_git.records.yamlio import dump_yaml

    ids = {h: first_id + i for i, h in enumerate(handles)}
    people = {}
    for h in handles:
        record = actors[h].person_record()
        record["accounts"] = [{"forge": "github", "login": h, "id": ids[h]}]
        people[f"people/{h}.yaml"] = dump_yaml(record).encode()
    return ids, people


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Injected:
    status: int
    headers: dict[str, str]
    count: int
    message: str | None = None
    after: bool = False  # act on the request, then answer with the failure (a write that went through)


@dataclass
class FakeGitHub:
    bare: Path
    owner: str = "org"
    name: str = "registry"
    users: dict[str, dict] = field(default_factory=dict)  # token -> {"login", "id", "type"}
    repo_settings: dict = field(default_factory=lambda: {"private": True, "allow_merge_commit": True,
                                                         "allow_squash_merge": False, "allow_rebase_merge": False})
    rulesets: list = field(default_factory=list)
    spec: Any = None  # tests.github.openapi.Spec: complete and check every response

    default_spec: ClassVar[Any] = None  # set for the whole test session by tests/github/conftest.py
    instances: ClassVar[list[FakeGitHub]] = []

    def __post_init__(self):
        if self.spec is None:
            self.spec = FakeGitHub.default_spec
        FakeGitHub.instances.append(self)
        self.pulls: dict[int, dict] = {}
        self.comments: list[dict] = []
        self.statuses: dict[str, list[dict]] = {}
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers)
        self.injected: list[Injected] = []
        self.invalid: list[str] = []
        self.permissions: dict[int, str] = {}  # user id -> admin | write | read (default: write)
        self.forks: dict[str, Path] = {}  # owner/name -> bare repository
        self.environments: dict[str, dict] = {}  # name -> {"branches": [...] or None, "secrets": [...]}
        self.repo_secrets: list[str] = []
        self.workflow_permissions = {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": False}
        self.fork_approval = "first_time_contributors"  # GitHub's default: who waits before a fork's run starts
        self.apps: dict[int, str] = {}  # app id -> public key (PEM)
        self.minted: list[dict] = []  # what each installation token was asked for (repositories, permissions)
        self.last_pusher: dict | None = None
        self._main_seen: str | None = None
        self.busy = 0.0  # seconds spent answering API and git requests
        self.mergeable_polls = 1  # GETs of a pull request that answer null before mergeable is known
        self.lock = threading.RLock()
        self._next_issue = 1
        self._next_comment = 1
        self._seen: dict[int, tuple[str, str, int]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.git("config", "http.receivepack", "true", check=False)

    # Lifecycle
    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.root + PREFIX

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def git_url(self) -> str:
        return f"{self.root}/{self.full_name}.git"

    def start(self) -> FakeGitHub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_user(self, token: str, login: str, uid: int, permission: str | None = None) -> dict:
        self.users[token] = {"login": login, "id": uid, "type": "User"}
        if permission:
            self.permissions[uid] = permission
        return self.users[token]

    def pull(self, number: int) -> dict:
        """A pull request as GitHub shows it now: its head followed, merged once its head is in main."""
        with self.lock:
            self.sync()
            return self.pulls[number]

    def permission(self, user: dict) -> str:
        if user.get("type") == "Bot":
            return "write"
        return self.permissions.get(user["id"], "write")

    def inject(self, status: int, count: int = 1, headers: dict[str, str] | None = None, *,
               message: str | None = None, after: bool = False) -> None:
        """Answer the next ``count`` API requests with ``status`` (rate limits, 5xx); ``after``: act first."""
        self.injected.append(Injected(status, headers or {}, count, message, after))

    # Git
    def git(self, *args: str, check: bool = True, input: str | None = None, cwd: Path | None = None) -> str:
        proc = subprocess.run(["git", *args], cwd=cwd or self.bare, capture_output=True, text=True, input=input)
        if check and proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def sha(self, ref: str, repo: Path | None = None) -> str | None:
        return self.git("rev-parse", "--verify", "--quiet", ref, check=False, cwd=repo) or None

    def _repo_path(self, full_name: str) -> Path | None:
        return self.bare if full_name == self.full_name else self.forks.get(full_name)

    def fork(self, user: dict) -> dict:
        full = f"{user['login']}/{self.name}"
        if full not in self.forks:
            path = self.bare.parent / f"fork-{user['login']}.git"
            subprocess.run(["git", "clone", "-q", "--bare", "--shared", str(self.bare), str(path)], check=True,
                           capture_output=True)
            subprocess.run(["git", "-C", str(path), "config", "http.receivepack", "true"], check=True)
            self.forks[full] = path
        return self._repo_json(full, user)

    def sync(self) -> None:
        """As on GitHub: an open pull request follows its branch (copied to ``refs/pull/N/head``), and is
        marked merged once its head is in main, whoever put it there. A few git calls, however many pulls."""
        open_pulls = [pr for pr in self.pulls.values() if pr["state"] == "open"]
        if not open_pulls:
            return
        tips: dict[str, dict[str, str]] = {}
        for full in {pr["head"]["repo"]["full_name"] for pr in open_pulls}:
            path = self._repo_path(full)
            listing = self.git("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/", cwd=path) \
                if path else ""
            tips[full] = {ref: sha for sha, ref in (line.split(" ", 1) for line in listing.splitlines())}
        for pr in open_pulls:
            full = pr["head"]["repo"]["full_name"]
            tip = tips[full].get(f"refs/heads/{pr['head']['ref']}")
            if tip and tip != pr["head"]["sha"]:
                if full != self.full_name:
                    ref = f"+refs/heads/{pr['head']['ref']}:refs/pull/{pr['number']}/head"
                    self.git("fetch", "-q", str(self._repo_path(full)), ref)
                pr["head"]["sha"] = tip
                self.git("update-ref", f"refs/pull/{pr['number']}/head", tip)
        main = tips.get(self.full_name, {}).get("refs/heads/main") or self.sha("refs/heads/main")
        if main and main != self._main_seen:
            since = [f"^{self._main_seen}"] if self._main_seen else []
            arrived = set(self.git("rev-list", main, *since).split())
            self._main_seen = main
            for pr in open_pulls:
                if pr["head"]["sha"] in arrived:
                    pr.update(state="closed", merged=True, merged_at=_now(), closed_at=_now(), merge_commit_sha=main,
                              merged_by=self.last_pusher or BOT_USER)

    # JSON shapes
    def _repo_json(self, full_name: str, user: dict | None = None) -> dict:
        owner, name = full_name.split("/")
        url = f"{self.base_url}/repos/{full_name}"
        data = {"id": abs(hash(full_name)) % 10**8, "full_name": full_name, "name": name,
                "owner": self._user_json({"login": owner, "id": abs(hash(owner)) % 10**6, "type": "Organization"
                                          if full_name == self.full_name else "User"}),
                "default_branch": "main", "fork": full_name != self.full_name, "url": url,
                "html_url": f"{self.root}/{full_name}", "clone_url": f"{self.root}/{full_name}.git",
                "private": self.repo_settings.get("private", True)}
        if full_name == self.full_name:
            permission = self.permission(user) if user else "read"
            data["permissions"] = {"admin": permission == "admin", "maintain": permission == "admin",
                                   "push": permission in ("admin", "write"), "triage": permission != "read",
                                   "pull": True}
            if permission == "admin":  # GitHub shows the merge settings to admins only
                data.update(self.repo_settings)
        else:
            data["parent"] = data["source"] = {"full_name": self.full_name}
        return data

    def _user_json(self, user: dict) -> dict:
        return {**user, "url": f"{self.base_url}/users/{user['login']}", "html_url": f"{self.root}/{user['login']}"}

    # Endpoints
    def create_pull(self, user: dict, body: dict) -> tuple[int, dict]:
        owner, _, branch = str(body.get("head", "")).rpartition(":")
        source = f"{owner}/{self.name}" if owner and owner != self.owner else self.full_name
        path = self._repo_path(source)
        tip = self.sha(f"refs/heads/{branch}", path) if path else None
        if not tip or not body.get("title"):
            return 422, {"message": "Validation Failed",
                         "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}]}
        if len(body.get("body") or "") > MAX_BODY:
            return 422, _too_long("PullRequest")
        if any(p["head"]["ref"] == branch and p["head"]["repo"]["full_name"] == source and p["state"] == "open"
               for p in self.pulls.values()):
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "PullRequest", "code": "custom",
                 "message": f"A pull request already exists for {source.split('/')[0]}:{branch}."}]}
        number = self._next_issue
        self._next_issue += 1
        url = f"{self.base_url}/repos/{self.full_name}"
        pr = {"number": number, "id": 1000 + number, "title": body["title"], "body": body.get("body") or "",
              "state": "open", "user": self._user_json(user), "created_at": _now(), "updated_at": _now(),
              "closed_at": None, "merged_at": None, "merged": False, "merged_by": None, "merge_commit_sha": None,
              "mergeable": None, "maintainer_can_modify": False,
              "head": {"ref": branch, "sha": tip, "label": f"{source.split('/')[0]}:{branch}",
                       "repo": self._repo_json(source)},
              "base": {"ref": body.get("base", "main"), "sha": self.sha("refs/heads/main"),
                       "label": f"{self.owner}:main",
                       "repo": self._repo_json(self.full_name)},
              "url": f"{url}/pulls/{number}", "issue_url": f"{url}/issues/{number}",
              "comments_url": f"{url}/issues/{number}/comments", "statuses_url": f"{url}/statuses/{tip}",
              "html_url": f"{self.root}/{self.full_name}/pull/{number}"}
        self.pulls[number] = pr
        if path != self.bare:
            self.git("fetch", "-q", str(path), f"+refs/heads/{branch}:refs/pull/{number}/head")
        self.git("update-ref", f"refs/pull/{number}/head", tip)
        return 201, pr

    def read_pull(self, number: int) -> dict:
        """``mergeable`` is computed in the background: null on the first reads after a change."""
        pr = self.pulls[number]
        key = (pr["head"]["sha"], self.sha("refs/heads/main") or "")
        seen = self._seen.get(number)
        polls = seen[2] + 1 if seen and seen[:2] == key else 1
        self._seen[number] = (*key, polls)
        if pr["state"] != "open" or polls <= self.mergeable_polls:
            return {**pr, "mergeable": None if pr["state"] == "open" else pr.get("mergeable")}
        clean = subprocess.run(["git", "merge-tree", "--write-tree", key[1], key[0]], cwd=self.bare,
                               capture_output=True).returncode == 0
        return {**pr, "mergeable": clean}

    def merge(self, user: dict, number: int, body: dict) -> tuple[int, dict]:
        pr = self.pulls[number]
        if pr["state"] != "open":
            return 405, {"message": "Pull Request is not mergeable"}
        if body.get("merge_method", "merge") != "merge":
            return 405, {"message": "Only merge commits are allowed in this repository."}
        if body.get("sha") and body["sha"] != pr["head"]["sha"]:
            return 409, {"message": "Head branch was modified. Review and try the merge again."}
        main = self.sha("refs/heads/main")
        proc = subprocess.run(["git", "merge-tree", "--write-tree", main, pr["head"]["sha"]], cwd=self.bare,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return 405, {"message": "Pull Request is not mergeable"}
        tree = proc.stdout.split()[0]
        message = (body.get("commit_title") or f"Merge pull request #{number}") + "\n\n" + \
            (body.get("commit_message") or "") + "\n"
        env_cmd = ["git", "-c", "user.name=GitHub", "-c", "user.email=noreply@github.com", "commit-tree", tree,
                   "-p", main, "-p", pr["head"]["sha"]]
        commit = subprocess.run(env_cmd, cwd=self.bare, capture_output=True, text=True, input=message,
                                check=True).stdout.strip()
        self.git("update-ref", "refs/heads/main", commit, main)
        pr.update(state="closed", merged=True, merged_at=_now(), closed_at=_now(), merged_by=self._user_json(user),
                  merge_commit_sha=commit)
        return 200, {"sha": commit, "merged": True, "message": "Pull Request successfully merged"}

    def add_comment(self, user: dict, number: int, body: dict) -> tuple[int, dict]:
        if number not in self.pulls:
            return 404, {"message": "Not Found"}
        if len(body.get("body") or "") > MAX_BODY:
            return 422, _too_long("IssueComment")
        cid = self._next_comment
        self._next_comment += 1
        url = f"{self.base_url}/repos/{self.full_name}"
        comment = {"id": cid, "body": body.get("body", ""), "user": self._user_json(user), "created_at": _now(),
                   "updated_at": _now(), "issue_url": f"{url}/issues/{number}", "url": f"{url}/issues/comments/{cid}",
                   "html_url": f"{self.root}/{self.full_name}/pull/{number}#issuecomment-{cid}"}
        self.comments.append(comment)
        return 201, comment

    def edit_comment(self, user: dict, cid: int, body: dict) -> tuple[int, dict]:
        """Its author, or anyone with write access to the repository, may edit a comment (GitHub says not who)."""
        for c in self.comments:
            if c["id"] == cid:
                if c["user"]["id"] != user["id"] and self.permission(user) not in ("admin", "write"):
                    return 403, {"message": "Must have admin rights to Repository."}
                if len(body.get("body") or "") > MAX_BODY:
                    return 422, _too_long("IssueComment")
                c.update(body=body.get("body", c["body"]), updated_at=_later(c["created_at"]))
                return 200, c
        return 404, {"message": "Not Found"}

    def add_status(self, user: dict, sha: str, body: dict) -> tuple[int, dict]:
        if body.get("state") not in ("error", "failure", "pending", "success"):
            return 422, {"message": "Validation Failed"}
        if len(str(body.get("description") or "")) > 140:
            return 422, {"message": "Validation Failed", "errors": [{"resource": "Status", "field": "description",
                                                                      "code": "custom", "message": "description is "
                                                                      "too long (maximum is 140 characters)"}]}
        status = {"id": sum(len(v) for v in self.statuses.values()) + 1, "state": body["state"],
                  "description": body.get("description"), "target_url": body.get("target_url"),
                  "context": body.get("context") or "default", "created_at": _now(), "updated_at": _now(),
                  "creator": self._user_json(user), "url": f"{self.base_url}/repos/{self.full_name}/statuses/{sha}"}
        self.statuses.setdefault(sha, []).insert(0, status)
        return 201, status

    def latest_status(self, sha: str, context: str) -> dict | None:
        return next((s for s in self.statuses.get(sha, []) if s["context"] == context), None)

    def app_token(self, headers: dict, installation: int, body: dict | None = None) -> tuple[int, dict]:
        """An installation token for the App whose JWT signs the request, scoped as asked (kept in ``minted``)."""
        import jwt

        auth = headers.get("Authorization", "")
        for app_id, public in self.apps.items():
            try:
                claims = jwt.decode(auth.split(" ", 1)[-1], public, algorithms=["RS256"])
            except jwt.PyJWTError:
                continue
            if str(claims.get("iss")) == str(app_id) and installation == app_id:
                body = body or {}
                if any(r != self.name for r in body.get("repositories") or []):
                    return 422, {"message": "There is at least one repository that does not exist or is not "
                                            "accessible to the parent installation."}
                token = "ghs_" + secrets.token_hex(16)
                self.users[token] = dict(BOT_USER)
                self.minted.append(body)
                return 201, {"token": token, "expires_at": _now(), "permissions": body.get("permissions") or {},
                             "repository_selection": "selected" if body.get("repositories") else "all"}
        return 401, {"message": "A JSON web token could not be decoded"}


def _too_long(resource: str) -> dict:
    return {"message": "Validation Failed", "errors": [{"resource": resource, "code": "custom", "field": "body",
                                                        "message": f"body is too long (maximum is {MAX_BODY} "
                                                                   "characters)"}]}


def _later(created: str) -> str:
    then = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ") + datetime.timedelta(seconds=1)
    return max(_now(), then.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _page(server: FakeGitHub, path: str, query: dict, items: list) -> tuple[list, dict[str, str]]:
    per_page = int(query.get("per_page", ["30"])[0])
    page = int(query.get("page", ["1"])[0])
    last = max(1, -(-len(items) // per_page))
    links = []

    def link(n: int, rel: str) -> str:
        q = {k: v[0] for k, v in query.items()}
        q["page"] = str(n)
        return f'<{server.root}{path}?{urlencode(q)}>; rel="{rel}"'

    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    return items[(page - 1) * per_page:page * per_page], ({"Link": ", ".join(links)} if links else {})


def _handler(server: FakeGitHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, data, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(data).encode() if data is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        def _user(self) -> dict | None:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):  # git over HTTP: x-access-token:TOKEN
                token = base64.b64decode(auth[6:]).decode(errors="replace").partition(":")[2]
            else:
                token = auth.split(" ", 1)[-1]
            return server.users.get(token)

        def _git(self, method: str, url) -> None:
            """Smart HTTP through ``git http-backend``; pushes need write access (the owner, for a fork)."""
            full, _, rest = url.path.lstrip("/").partition(".git")
            path = server._repo_path(full)
            user = self._user()
            pushing = "git-receive-pack" in (rest + url.query)
            if path is None:
                return self._send(404, {"message": "Repository not found."})
            if pushing:
                allowed = user is not None and (server.permission(user) in ("admin", "write")
                                                if path == server.bare else full.split("/")[0] == user["login"])
                if not allowed:
                    self.send_response(401 if user is None else 403)
                    self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            env = {"GIT_PROJECT_ROOT": str(path.parent), "PATH_INFO": f"/{path.name}{rest}",
                   "REQUEST_METHOD": method, "QUERY_STRING": url.query, "GIT_HTTP_EXPORT_ALL": "1",
                   "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(data)),
                   "REMOTE_USER": (user or {}).get("login", ""), "REMOTE_ADDR": "127.0.0.1",
                   "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""), "PATH": "/usr/bin:/bin"}
            with server.lock:
                proc = subprocess.run(["git", "http-backend"], input=data, env=env, capture_output=True)
                if pushing and user is not None and path == server.bare:
                    server.last_pusher = server._user_json(user)
            head, _, body = proc.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode().split("\r\n"):
                key, _, value = line.partition(": ")
                if key.lower() == "status":
                    status = int(value.split()[0])
                elif key:
                    headers.append((key, value))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None

        def _dispatch(self, method: str) -> None:
            started = time.perf_counter()
            try:
                self._serve(method)
            finally:
                server.busy += time.perf_counter() - started

        def _serve(self, method: str) -> None:
            url = urlparse(self.path)
            if ".git/" in url.path:
                return self._git(method, url)
            query = parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            with server.lock:
                server.requests.append((method, self.path, dict(self.headers)))
                inj = None
                if server.injected:
                    inj = server.injected[0]
                    inj.count -= 1
                    if inj.count <= 0:
                        server.injected.pop(0)
                    if not inj.after:
                        return self._fail(inj)
                if url.path.startswith(f"{PREFIX}/app/installations/") and method == "POST":
                    number = int(url.path.split("/")[-2])
                    return self._answer(method, url.path, *server.app_token(dict(self.headers), number, body), {})
                user = self._user()
                if url.path.endswith("/installation") and self.headers.get("Authorization", "").startswith("Bearer "):
                    return self._answer(method, url.path, 200, {"id": next(iter(server.apps), 0), "app_id":
                                                                next(iter(server.apps), 0)}, {})
                if user is None:
                    return self._send(401, {"message": "Bad credentials"})
                if "/pulls" in url.path:  # what GitHub computes in the background shows on pull requests
                    server.sync()
                status, data, headers = self._route(method, url.path, query, body, user)
                if inj is not None:
                    return self._fail(inj)
                self._answer(method, url.path, status, data, headers)
            return None

        def _fail(self, inj: Injected) -> None:
            limited = inj.status == 429 or (inj.status == 403 and inj.headers)
            message = inj.message or ("API rate limit exceeded" if limited else
                                      "Resource not accessible by integration" if inj.status == 403 else "Server Error")
            self._send(inj.status, {"message": message, "documentation_url": "https://docs.github.com/rest"},
                       inj.headers)

        def _answer(self, method: str, path: str, status: int, data, headers: dict) -> None:
            if server.spec is not None:
                data = server.spec.complete(method, path[len(PREFIX):], status, data)
                problem = server.spec.check(method, path[len(PREFIX):], status, data)
                if problem:
                    server.invalid.append(problem)
            self._send(status, data, headers)

        def _route(self, method: str, path: str, query: dict, body: dict, user: dict):
            if not path.startswith(PREFIX):
                return 404, {"message": "Not Found"}, {}
            rest = path[len(PREFIX):]
            if rest == "/user" and method == "GET":
                if user.get("type") == "Bot":
                    return 403, {"message": "Resource not accessible by integration"}, {}
                return 200, server._user_json(user), {}
            m = re.fullmatch(r"/repos/([^/]+/[^/]+)", rest)
            if m and m.group(1) != server.full_name and method == "GET":
                found = m.group(1) in server.forks
                return (200, server._repo_json(m.group(1), user), {}) if found else (404, {"message": "Not Found"}, {})
            repo = f"/repos/{server.full_name}"
            if not rest.startswith(repo):
                return 404, {"message": "Not Found"}, {}
            rest = rest[len(repo):]
            admin = server.permission(user) == "admin"
            if rest == "" and method == "GET":
                return 200, server._repo_json(server.full_name, user), {}
            if rest == "/forks" and method == "POST":
                return 202, server.fork(user), {}
            if rest == "/rulesets" and method == "GET":
                summary = ("id", "name", "target", "enforcement", "source", "source_type")
                return 200, [{k: r[k] for k in summary if k in r} for r in server.rulesets], {}
            if rest.startswith("/rulesets/") and method == "GET":
                found = [r for r in server.rulesets if str(r.get("id")) == rest.rsplit("/", 1)[1]]
                if not found:
                    return 404, {"message": "Not Found"}, {}
                shown = dict(found[0])
                if not admin:  # GitHub shows who may bypass a ruleset only to those who may edit it
                    shown.pop("bypass_actors", None)
                return 200, shown, {}
            if rest == "/collaborators" and method == "GET":
                if not admin:
                    return 403, {"message": "Must have push access to view repository collaborators."}, {}
                people = [{**server._user_json(u), "permissions": {"admin": server.permission(u) == "admin",
                                                                   "push": server.permission(u) != "read",
                                                                   "pull": True},
                           "role_name": server.permission(u)} for u in server.users.values() if u["type"] == "User"]
                return 200, people, {}
            if rest == "/actions/secrets" and method == "GET":
                if not admin:
                    return 403, {"message": "Resource not accessible by integration"}, {}
                items = [{"name": n, "created_at": _now(), "updated_at": _now()} for n in server.repo_secrets]
                return 200, {"total_count": len(items), "secrets": items}, {}
            if rest == "/actions/permissions/workflow" and method == "GET":
                if not admin:
                    return 403, {"message": "Must have admin rights to Repository."}, {}
                return 200, dict(server.workflow_permissions), {}
            if rest == "/actions/permissions/fork-pr-contributor-approval" and method == "GET":
                if not admin:
                    return 403, {"message": "Must have admin rights to Repository."}, {}
                return 200, {"approval_policy": server.fork_approval}, {}
            m = re.fullmatch(r"/environments/([^/]+)(/deployment-branch-policies)?", rest)
            if m and method == "GET":
                env = server.environments.get(m.group(1))
                if env is None:
                    return 404, {"message": "Not Found"}, {}
                branches = env.get("branches")
                if m.group(2):
                    items = [{"id": i + 1, "name": b, "type": "branch"} for i, b in enumerate(branches or [])]
                    return 200, {"total_count": len(items), "branch_policies": items}, {}
                policy = None if branches is None else {"protected_branches": False, "custom_branch_policies": True}
                return 200, {"id": 1, "name": m.group(1), "deployment_branch_policy": policy,
                             "created_at": _now(), "updated_at": _now()}, {}
            m = re.fullmatch(r"/statuses/([0-9a-f]{40})", rest)
            if m and method == "POST":
                status, data = server.add_status(user, m.group(1), body)
                return status, data, {}
            m = re.fullmatch(r"/commits/([0-9a-f]{40})/status", rest)
            if m and method == "GET":
                statuses = server.statuses.get(m.group(1), [])
                latest = {s["context"]: s for s in reversed(statuses)}
                state = "pending" if not latest else "failure" if any(
                    s["state"] in ("failure", "error") for s in latest.values()) else "success" if all(
                    s["state"] == "success" for s in latest.values()) else "pending"
                return 200, {"state": state, "sha": m.group(1), "statuses": list(latest.values()),
                             "total_count": len(latest)}, {}
            if rest == "/pulls":
                if method == "POST":
                    status, data = server.create_pull(user, body)
                    return status, data, {}
                state = query.get("state", ["open"])[0]
                base = query.get("base", [None])[0]
                items = [p for _, p in sorted(server.pulls.items())
                         if (state == "all" or p["state"] == state) and base in (None, p["base"]["ref"])]
                if query.get("direction", ["desc"])[0] == "desc":
                    items.reverse()
                page, headers = _page(server, path, query, items)
                return 200, page, headers
            if rest == "/issues/comments" and method == "GET":
                since = query.get("since", [""])[0].replace("+00:00", "Z")
                items = [c for c in server.comments if not since or c["updated_at"] >= since]
                page, headers = _page(server, path, query, items)
                return 200, page, headers
            m = re.fullmatch(r"/issues/comments/(\d+)", rest)
            if m and method == "PATCH":
                status, data = server.edit_comment(user, int(m.group(1)), body)
                return status, data, {}
            m = re.fullmatch(r"/(pulls|issues)/(\d+)(/merge|/comments)?", rest)
            if not m or int(m.group(2)) not in server.pulls:
                return 404, {"message": "Not Found"}, {}
            number, tail = int(m.group(2)), m.group(3)
            pr = server.pulls[number]
            if tail is None and method == "GET":
                return 200, server.read_pull(number), {}
            if tail is None and method == "PATCH":
                if len(body.get("body") or "") > MAX_BODY:
                    return 422, _too_long("PullRequest"), {}
                if body.get("state") == "closed" and pr["state"] == "open":
                    pr.update(state="closed", closed_at=_now())
                for key in ("title", "body"):
                    if key in body:
                        pr[key] = body[key]
                return 200, pr, {}
            if tail == "/merge" and method == "PUT":
                status, data = server.merge(user, number, body)
                return status, data, {}
            if tail == "/comments" and method == "GET":
                items = [c for c in server.comments if c["issue_url"].endswith(f"/issues/{number}")]
                page, headers = _page(server, path, query, items)
                return 200, page, headers
            if tail == "/comments" and method == "POST":
                status, data = server.add_comment(user, number, body)
                return status, data, {}
            return 404, {"message": "Not Found"}, {}

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        def do_PATCH(self):
            self._dispatch("PATCH")

        def do_PUT(self):
            self._dispatch("PUT")

    return Handler


def comment_event(server: FakeGitHub, number: int, comment: dict) -> dict:
    """The payload GitHub sends a workflow on ``issue_comment``: the issue (with a ``pull_request`` key when
    it is one), the comment, and the repository; no head, no base: the run itself is on main."""
    pr = server.pulls[number]
    return {"action": "created", "repository": server._repo_json(server.full_name),
            "issue": {"number": number, "title": pr["title"], "state": pr["state"], "user": pr["user"],
                      "pull_request": {"url": pr["url"], "html_url": pr["html_url"]}},
            "comment": comment, "sender": comment["user"]}
