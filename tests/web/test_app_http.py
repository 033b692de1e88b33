"""The local app over plain HTTP: the token, the CSRF token, the host, the logs, and tasks that outlive the tab."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import time
import urllib.parse

import pytest

from medperf_git.web.jobs import Job, JobStore
from tests.web.tutorial_state import seeded

ROUTES = ["/", "/benchmarks", "/benchmarks/1", "/datasets", "/datasets/new", "/results", "/associations", "/review",
          "/jobs", "/static/style.css", "/static/app.js", "/jobs/nothing/state", "/no/such/page"]
POSTS = ["/datasets", "/datasets/abc/submit", "/results/b1m4d1/submit", "/review/1/approve", "/jobs/x/answer"]


class Client:
    """Requests as a browser (or anything else on this machine) would send them."""

    def __init__(self, app):
        self.app = app
        self.cookie: str | None = None

    def request(self, method: str, path: str, *, body: dict | None = None, headers: dict | None = None,
                cookie: bool = True) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.app.port, timeout=60)
        sent = {"Host": f"127.0.0.1:{self.app.port}", **(headers or {})}
        if cookie and self.cookie:
            sent["Cookie"] = self.cookie
        data = urllib.parse.urlencode(body).encode() if body is not None else None
        if data is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text

    def login(self) -> str:
        status, headers, _ = self.request("GET", f"/?token={self.app.token}", cookie=False)
        assert status == 303 and headers["location"] == "/"
        assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
        self.cookie = headers["set-cookie"].split(";")[0]
        status, _, page = self.request("GET", "/datasets/new")
        assert status == 200
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.fixture
def app(tmp_path, start_app):
    t = seeded(tmp_path)
    return t, start_app(t.actors["testdo"])


def test_every_request_without_the_token_is_refused(app):
    _, running = app
    client = Client(running)
    for path in ROUTES:
        assert client.request("GET", path)[0] == 403, path
        assert client.request("GET", f"{path}?token=wrong{running.token[:8]}")[0] == 403, path
    for path in POSTS:
        assert client.request("POST", path, body={"csrf": "x"})[0] == 403, path
    status, _, text = client.request("GET", "/")
    assert text == "Forbidden: open the address that `medperf-git ui` printed (it holds the token)."
    # Another host name (DNS rebinding) is refused even with the token.
    assert client.request("GET", f"/?token={running.token}", headers={"Host": f"evil.example:{running.port}"})[0] == 403


def test_the_token_opens_the_app_and_changes_need_the_csrf_token_too(app):
    t, running = app
    client = Client(running)
    csrf = client.login()
    for path in ROUTES[:-3]:
        status, headers, _ = client.request("GET", path)
        assert status == 200, path
        assert "default-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
    assert client.request("GET", "/no/such/page")[0] == 404
    form = {"benchmark": "1", "name": "web", "data_path": str(t.raw / "images"), "labels_path": str(t.raw / "labels")}
    assert client.request("POST", "/datasets", body=form)[0] == 403  # no CSRF token
    assert client.request("POST", "/datasets", body={**form, "csrf": "forged"})[0] == 403
    assert client.request("POST", "/datasets", body={**form, "csrf": csrf},
                          headers={"Origin": "http://evil.example"})[0] == 403
    assert client.request("POST", "/datasets", body={**form, "csrf": csrf}, cookie=False)[0] == 403
    assert not (running.home / "ui" / "jobs").exists()  # none of these started anything


def test_a_task_goes_on_without_its_page_and_is_found_again(app):
    """The tab that started a task may close at once: the task runs on, and the task list shows how it ended."""
    t, running = app
    client = Client(running)
    csrf = client.login()
    status, headers, _ = client.request("POST", "/datasets", body={
        "csrf": csrf, "benchmark": "1", "name": "closed-tab", "description": "", "location": "",
        "data_path": str(t.raw / "images"), "labels_path": str(t.raw / "labels")},
        headers={"Origin": running.url})
    assert status == 303
    job = headers["location"].rsplit("/", 1)[-1]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = json.loads((running.home / "ui" / "jobs" / job / "job.json").read_text())["state"]
        if state not in ("queued", "running"):
            break
        time.sleep(0.5)
    assert state == "done"
    page = client.request("GET", "/jobs")[2]
    assert f'href="/jobs/{job}">Prepare dataset closed-tab</a>' in page
    status, _, page = client.request("GET", f"/jobs/{job}")  # the task's page, opened again
    assert status == 200 and 'id="job-state" class="badge done"' in page and "Local UID" in page
    state = json.loads(client.request("GET", f"/jobs/{job}/state")[2])
    assert any("statistics" in s["text"] for s in state["steps"]) and "> done" in state["log"]
    # The dataset page answers from the flows; errors are pages with the flow's words, never a traceback.
    status, _, page = client.request("GET", "/datasets/ffffffffffff")
    assert status == 404 and "no local dataset has a UID starting with" in page and "Traceback" not in page
    status, _, page = client.request("GET", "/benchmarks/9")
    assert status == 404 and "no benchmark with id 9 in the registry" in page
    # A task's question cannot be answered once it stopped waiting.
    assert client.request("POST", f"/jobs/{job}/answer", body={"csrf": csrf, "choice": "publish"})[0] == 409
    running.stop()
    for log in (running.stderr_path, running.home / "ui" / "access.log"):
        assert running.token not in log.read_text() and csrf not in log.read_text()


def test_tasks_cut_off_by_a_stop_say_so_when_the_app_starts_again(tmp_path):
    store = JobStore(tmp_path / "jobs")
    for state in ("running", "waiting", "done"):
        job = Job(state, "dataset-create", f"a {state} task", {}, state=state)
        store.folder(job.id).mkdir(parents=True)
        store.save(job)
    store.mark_interrupted()
    states = {job.id: (job.state, (job.error or {}).get("hint")) for job in store.all()}
    assert states["running"][0] == states["waiting"][0] == "interrupted"
    assert "finished steps are kept" in states["running"][1]
    assert states["done"] == ("done", None)


def test_ui_says_how_to_install_what_it_needs(tmp_path):
    code = ("import sys; sys.modules['starlette'] = None; from medperf_git.cli.main import main; "
            "main(['ui', '--no-browser'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MEDPERF_GIT_HOME": str(tmp_path)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "Error: the web app needs its extra packages, which are not installed" in proc.stderr
    assert "pip install 'medperf-git[web]'" in proc.stderr


def wait_done(client: Client, location: str) -> dict:
    job = location.rsplit("/", 1)[-1]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = json.loads(client.request("GET", f"/jobs/{job}/state")[2])
        if state["state"] not in ("queued", "running"):
            return state
        time.sleep(0.3)
    raise AssertionError(f"task {job} did not end")


def test_a_committee_member_rejects_a_request_with_a_reason(tmp_path, start_app):
    from medperf_git.flows import dataset as dataset_flow
    from tests.web.tutorial_state import YES, command, settings

    t = seeded(tmp_path)
    do = t.actors["testdo"]
    created = command(do, dataset_flow.create, benchmark=1, name="d", data_path=t.raw / "images",
                      labels_path=t.raw / "labels", settings=settings())
    command(do, dataset_flow.submit, created.dataset.uid, YES)
    asked = command(do, dataset_flow.associate, benchmark=1, data_uid="1", confirm=YES, settings=settings())
    running = start_app(t.actors["testbo"])
    client = Client(running)
    csrf = client.login()
    assert "pending" in client.request("GET", "/associations")[2]  # seen once: kept until a ref moves
    queue = client.request("GET", "/review")[2]
    assert f'href="/review/{asked.number}">Dataset 1 joins benchmark 1</a>' in queue
    status, _, page = client.request("GET", f"/review/{asked.number}")
    assert status == 200 and "+initiated_by: testdo" in page and 'for="reason"' in page
    status, headers, _ = client.request("POST", f"/review/{asked.number}/reject",
                                        body={"csrf": csrf, "reason": "Labels look wrong"})
    assert status == 303
    assert wait_done(client, headers["location"])["state"] == "done"
    rows = client.request("GET", "/associations")[2]
    assert "rejected" in rows and "Labels look wrong" in rows
    assert "Nothing awaits your approval." in client.request("GET", "/review")[2]
