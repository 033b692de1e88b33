"""A small GitHub REST server on 127.0.0.1, backed by a real bare git repository.

It serves the endpoints the ``github`` forge and the policy bot use, under ``/api/v3`` like GitHub
Enterprise. Branch pushes go to the bare repository with git itself; pull request heads follow their
branch; merges really happen in the bare repository as merge commits (409 when the expected head sha
differs, 405 when it does not merge cleanly). Lists are paginated with ``Link`` headers, and failures
(rate limits, 5xx) can be injected for the next requests.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

PREFIX = "/api/v3"


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


@dataclass
class FakeGitHub:
    bare: Path
    owner: str = "org"
    name: str = "registry"
    users: dict[str, dict] = field(default_factory=dict)  # token -> {"login", "id"}
    repo_settings: dict = field(default_factory=lambda: {"private": True, "allow_merge_commit": True,
                                                         "allow_squash_merge": False, "allow_rebase_merge": False})
    rulesets: list = field(default_factory=list)

    def __post_init__(self):
        self.pulls: dict[int, dict] = {}
        self.comments: list[dict] = []
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers)
        self.injected: list[Injected] = []
        self.lock = threading.RLock()
        self._next_issue = 1
        self._next_comment = 1
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

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

    def start(self) -> FakeGitHub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_user(self, token: str, login: str, uid: int) -> None:
        self.users[token] = {"login": login, "id": uid, "type": "User"}

    def inject(self, status: int, count: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``count`` API requests with ``status`` (rate limits, 5xx)."""
        self.injected.append(Injected(status, headers or {}, count))

    # Git
    def git(self, *args: str, check: bool = True, input: str | None = None) -> str:
        proc = subprocess.run(["git", *args], cwd=self.bare, capture_output=True, text=True, input=input)
        if check and proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def sha(self, ref: str) -> str | None:
        return self.git("rev-parse", "--verify", "--quiet", ref, check=False) or None

    def sync(self) -> None:
        """Open pull requests follow their branch, as on GitHub (also ``refs/pull/N/head``)."""
        if not any(pr["state"] == "open" for pr in self.pulls.values()):
            return
        tips = dict(line.split(" ", 1)[::-1] for line in
                    self.git("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/").splitlines())
        for pr in self.pulls.values():
            tip = tips.get(f"refs/heads/{pr['head']['ref']}")
            if pr["state"] == "open" and tip and tip != pr["head"]["sha"]:
                pr["head"]["sha"] = tip
                self.git("update-ref", f"refs/pull/{pr['number']}/head", tip)

    # Endpoints
    def create_pull(self, user: dict, body: dict) -> tuple[int, dict]:
        branch = str(body.get("head", "")).split(":")[-1]
        tip = self.sha(f"refs/heads/{branch}")
        if not tip or not body.get("title"):
            return 422, {"message": "Validation Failed",
                         "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}]}
        if any(p["head"]["ref"] == branch and p["state"] == "open" for p in self.pulls.values()):
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "PullRequest", "code": "custom",
                 "message": f"A pull request already exists for {self.owner}:{branch}."}]}
        number = self._next_issue
        self._next_issue += 1
        url = f"{self.base_url}/repos/{self.full_name}"
        pr = {"number": number, "id": 1000 + number, "title": body["title"], "body": body.get("body") or "",
              "state": "open", "user": user, "created_at": _now(), "updated_at": _now(), "closed_at": None,
              "merged_at": None, "merged": False, "merged_by": None, "merge_commit_sha": None,
              "head": {"ref": branch, "sha": tip, "label": f"{self.owner}:{branch}"},
              "base": {"ref": body.get("base", "main"), "sha": self.sha("refs/heads/main"), "label": "main"},
              "url": f"{url}/pulls/{number}", "issue_url": f"{url}/issues/{number}",
              "comments_url": f"{url}/issues/{number}/comments",
              "html_url": f"{self.root}/{self.full_name}/pull/{number}"}
        self.pulls[number] = pr
        self.git("update-ref", f"refs/pull/{number}/head", tip)
        return 201, pr

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
        pr.update(state="closed", merged=True, merged_at=_now(), closed_at=_now(), merged_by=user,
                  merge_commit_sha=commit)
        return 200, {"sha": commit, "merged": True, "message": "Pull Request successfully merged"}

    def add_comment(self, user: dict, number: int, body: dict) -> tuple[int, dict]:
        if number not in self.pulls:
            return 404, {"message": "Not Found"}
        cid = self._next_comment
        self._next_comment += 1
        url = f"{self.base_url}/repos/{self.full_name}"
        comment = {"id": cid, "body": body.get("body", ""), "user": user, "created_at": _now(),
                   "updated_at": _now(), "issue_url": f"{url}/issues/{number}", "url": f"{url}/issues/comments/{cid}"}
        self.comments.append(comment)
        return 201, comment


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

        def _dispatch(self, method: str) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            with server.lock:
                server.requests.append((method, self.path, dict(self.headers)))
                if server.injected:
                    inj = server.injected[0]
                    inj.count -= 1
                    if inj.count <= 0:
                        server.injected.pop(0)
                    limited = inj.status == 429 or (inj.status == 403 and inj.headers)
                    message = "API rate limit exceeded" if limited else \
                        "Resource not accessible by integration" if inj.status == 403 else "Server Error"
                    return self._send(inj.status, {"message": message}, inj.headers)
                auth = self.headers.get("Authorization", "")
                user = server.users.get(auth.split(" ", 1)[-1])
                if user is None:
                    return self._send(401, {"message": "Bad credentials"})
                server.sync()
                status, data, headers = self._route(method, url.path, query, body, user)
                self._send(status, data, headers)

        def _route(self, method: str, path: str, query: dict, body: dict, user: dict):
            if not path.startswith(PREFIX):
                return 404, {"message": "Not Found"}, {}
            rest = path[len(PREFIX):]
            if rest == "/user" and method == "GET":
                return 200, user, {}
            repo = f"/repos/{server.full_name}"
            if not rest.startswith(repo):
                return 404, {"message": "Not Found"}, {}
            rest = rest[len(repo):]
            if rest == "" and method == "GET":
                return 200, {"full_name": server.full_name, "name": server.name, "owner": {"login": server.owner},
                             "default_branch": "main", **server.repo_settings}, {}
            if rest == "/rulesets" and method == "GET":
                summary = ("id", "name", "target", "enforcement")
                return 200, [{k: r[k] for k in summary if k in r} for r in server.rulesets], {}
            if rest.startswith("/rulesets/") and method == "GET":
                found = [r for r in server.rulesets if str(r.get("id")) == rest.rsplit("/", 1)[1]]
                return (200, found[0], {}) if found else (404, {"message": "Not Found"}, {})
            if rest == "/pulls":
                if method == "POST":
                    status, data = server.create_pull(user, body)
                    return status, data, {}
                state = query.get("state", ["open"])[0]
                items = [p for _, p in sorted(server.pulls.items())
                         if state == "all" or p["state"] == state]
                if query.get("direction", ["desc"])[0] == "desc":
                    items.reverse()
                page, headers = _page(server, path, query, items)
                return 200, page, headers
            if rest == "/issues/comments" and method == "GET":
                page, headers = _page(server, path, query, server.comments)
                return 200, page, headers
            m = re.fullmatch(r"/issues/comments/(\d+)", rest)
            if m and method == "PATCH":
                for c in server.comments:
                    if c["id"] == int(m.group(1)):
                        if c["user"]["id"] != user["id"]:
                            return 403, {"message": "Must have admin rights to Repository."}, {}
                        c.update(body=body.get("body", c["body"]), updated_at=_now())
                        return 200, c, {}
                return 404, {"message": "Not Found"}, {}
            m = re.fullmatch(r"/(pulls|issues)/(\d+)(/merge|/comments)?", rest)
            if not m or int(m.group(2)) not in server.pulls:
                return 404, {"message": "Not Found"}, {}
            number, tail = int(m.group(2)), m.group(3)
            pr = server.pulls[number]
            if tail is None and method == "GET":
                return 200, pr, {}
            if tail is None and method == "PATCH":
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
