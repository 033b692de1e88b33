"""``medperf-git ui``: the local web app, a page per CLI command, each calling the same flow.

Pages that read make one flow call on their own registry session, as a command would; actions that
take time or publish start a job (:mod:`medperf_git.web.tasks`) and show its page, which follows the
job's steps and log and, before anything is published, shows the exact record and asks. The app
holds no logic of its own: what the flows refuse, it shows, with their hint.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from medperf_git.errors import MedperfGitError, RecordNotFound
from medperf_git.flows.session import DEFAULT_MAX_AGE, RegistrySession
from medperf_git.registry.clone import MAIN, RegistryClone
from medperf_git.web import tasks
from medperf_git.web._guard import Guard, Secrets, form_fields
from medperf_git.web._render import environment, static_files
from medperf_git.web.jobs import JobStore, Worker

MAX_DIFF_LINES = 400


@dataclass
class AppConfig:
    """What one running app serves: the profile's registry, on 127.0.0.1:port, for the holder of ``keys``."""

    profile: str | None
    offline: bool
    port: int
    keys: Secrets
    home: Path  # $MEDPERF_GIT_HOME: jobs and logs live under it


class PageSession(RegistrySession):
    """A page's session: it only reads, so main's commit is looked up once after its fetch, not at each
    record it reads nor by each part that asks (each look-up is a git process, and a page reads many records).

    Like the read commands, a page uses a copy fetched less than ``DEFAULT_MAX_AGE`` seconds ago without
    asking the remote again: going from page to page does not cost an ``ls-remote`` each time.
    """

    _main: str | None = None
    _fetching = False

    @property
    def clone(self) -> RegistryClone:
        if self._clone is None:
            clone = super().clone
            look_up = clone.repo.rev_parse

            def rev_parse(rev: str) -> str | None:
                if rev != MAIN or self._fetching:  # a fetch moves main: it and its audit look it up afresh
                    return look_up(rev)
                if self._main is None:
                    self._main = look_up(rev)
                return self._main

            clone.repo.rev_parse = rev_parse  # type: ignore[method-assign] - this page's repo only
        return super().clone

    def fetch(self, *, max_age: float = 0, tolerate: bool = False, force: bool = False) -> None:
        self._fetching = True
        try:
            super().fetch(max_age=max(max_age, DEFAULT_MAX_AGE), tolerate=tolerate, force=force)
        finally:
            self._fetching, self._main = False, None


class RefsMemo:
    """What a flow answered from the registry's refs alone, kept until a ref of the clone moves.

    The association list and the review queue read every submission's events and judge them (a dozen
    git processes); coming back to them while nothing moved answers from here, after the fetch a page
    makes anyway and one ``for-each-ref`` that says whether anything moved. Offline, nothing is kept.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[str, Any]] = {}

    def answer(self, s: RegistrySession, name: str, compute: Callable[[], Any]) -> Any:
        s.fetch(tolerate=True)
        if not s.online:
            return compute()
        stamp = s.repo.out("for-each-ref", "--format=%(objectname) %(refname)", "refs/remotes/origin/", "refs/pull/")
        with self._lock:
            kept = self._kept.get(name)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        value = compute()  # refs that move meanwhile only make the next visit compute again
        with self._lock:
            self._kept[name] = (stamp, value)
        return value


class PageError(Exception):
    """A request the app cannot answer (an unknown job, a bad form field), as a page with a status."""

    def __init__(self, status: int, message: str, hint: str | None = None):
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


class WebApp:
    """The routes; each GET renders one flow's answer, each POST starts a job or answers one."""

    def __init__(self, config: AppConfig):
        self.config = config
        self.store = JobStore(config.home / "ui" / "jobs")
        self.worker = Worker(self.store, config.home / "logs")
        self.env = environment()
        self.static = static_files()
        self.memo = RefsMemo()

    # Plumbing
    @contextmanager
    def session(self) -> Iterator[RegistrySession]:
        """One page's registry session, as one read command has it."""
        s = PageSession.load(self.config.profile, offline=self.config.offline)
        try:
            yield s
        finally:
            s.close()

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        profile = self.config.profile
        html = self.env.get_template(template).render(
            **context, root="/", key=None, csrf=self.config.keys.csrf,
            registry_name=f"medperf-git ui{f' ({profile})' if profile else ''}")
        return HTMLResponse(html, status_code=status)

    def page(self, view: Callable[..., HTMLResponse | Response]) -> Callable[[Request], Any]:
        """A GET view run on a worker thread, its errors shown as pages (never a traceback)."""
        async def endpoint(request: Request) -> Response:
            try:
                return await run_in_threadpool(view, request)
            except PageError as exc:
                return self.render("app/error.html", exc.status, message=exc.message, hint=exc.hint)
            except MedperfGitError as exc:
                status = 404 if isinstance(exc, RecordNotFound) else 400
                return self.render("app/error.html", status, message=exc.message, hint=exc.hint)
            except Exception as exc:  # noqa: BLE001 - the page says what went wrong; the details go to a log
                saved = self.worker.save_traceback(exc)
                return self.render("app/error.html", 500, message=f"unexpected error: {type(exc).__name__}: {exc}",
                                   hint=f"details are in {saved}" if saved else None)

        return endpoint

    def action(self, handler: Callable[[Request, dict[str, str]], Response]) -> Callable[[Request], Any]:
        """A POST: its form (the guard has checked its CSRF token), then the handler on a worker thread."""
        async def endpoint(request: Request) -> Response:
            form = form_fields(await request.body())
            return await self.page(lambda r: handler(r, form))(request)

        return endpoint

    def start(self, kind: str, title: str, **params: Any) -> RedirectResponse:
        factory = tasks.TASKS[kind]
        job = self.worker.start(kind, title, params, factory(self.config.profile, self.config.offline, **params))
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    # Pages
    def home(self, request: Request) -> HTMLResponse:
        with self.session() as s:
            profile = s.profile
            return self.render("app/home.html", profile=profile, jobs=self.store.all()[:5])

    def benchmarks(self, request: Request) -> HTMLResponse:
        from medperf_git.flows.catalog import list_benchmarks

        with self.session() as s:
            listing = list_benchmarks(s)
        return self.render("app/benchmarks.html", listing=listing)

    def benchmark(self, request: Request) -> HTMLResponse:
        from medperf_git.flows.catalog import list_models, view

        key = request.path_params["id"]
        with self.session() as s:
            shown = view(s, "benchmark", key)
            models = list_models(s, benchmark=key)
        return self.render("app/benchmark.html", view=shown, models=models)

    def datasets(self, request: Request) -> HTMLResponse:
        from medperf_git.flows.catalog import list_datasets
        from medperf_git.flows.dataset import list_local

        with self.session() as s:
            local = list_local(s)
            mine = list_datasets(s, mine=True) if s.profile.handle else None
        return self.render("app/datasets.html", local=local, mine=mine)

    def dataset_form(self, request: Request) -> HTMLResponse:
        from medperf_git.flows.catalog import list_benchmarks

        with self.session() as s:
            listing = list_benchmarks(s, state="active")
        return self.render("app/dataset_new.html", listing=listing, chosen=request.query_params.get("benchmark"))

    def dataset(self, request: Request) -> HTMLResponse:
        from medperf_git.flows.catalog import list_benchmarks

        with self.session() as s:
            ds = s.local_dataset(request.path_params["uid"])
            listing = list_benchmarks(s, state="active")
        return self.render("app/dataset.html", ds=ds, listing=listing)

    def results(self, request: Request) -> HTMLResponse:
        from medperf_git.flows.result import list_local

        with self.session() as s:
            rows = list_local(s)
        return self.render("app/results.html", rows=rows)

    def result(self, request: Request) -> HTMLResponse:
        from medperf_git.flows.result import show

        with self.session() as s:
            shown = show(s, request.path_params["name"])
        return self.render("app/result.html", result=shown)

    def associations(self, request: Request) -> HTMLResponse:
        from medperf_git.flows.association import list_associations

        with self.session() as s:
            rows = self.memo.answer(s, "associations", lambda: list_associations(s))
        return self.render("app/associations.html", rows=rows)

    def review_queue(self, request: Request) -> HTMLResponse:
        from medperf_git.flows.review import awaiting_me

        with self.session() as s:
            found, offline = self.memo.answer(s, "review", lambda: awaiting_me(s))
        return self.render("app/review_list.html", found=found, offline=offline)

    def review(self, request: Request) -> HTMLResponse:
        from medperf_git.flows.review import show

        number = request.path_params["number"]
        with self.session() as s:
            a = show(s, number)
            diffs = [_diff(s, a.main, a.submission.head, status, path) for status, path in a.changes]
        return self.render("app/review.html", a=a, diffs=diffs)

    def jobs(self, request: Request) -> HTMLResponse:
        return self.render("app/jobs.html", jobs=self.store.all())

    def job(self, request: Request) -> HTMLResponse:
        job = self._job(request)
        return self.render("app/job.html", job=job, log=self.store.log_tail(job.id))

    def job_state(self, request: Request) -> JSONResponse:
        job = self._job(request)
        return JSONResponse({"state": job.state, "steps": job.steps, "log": self.store.log_tail(job.id)})

    def _job(self, request: Request):
        job = self.store.get(request.path_params["job"])
        if job is None:
            raise PageError(404, "there is no such task", hint="see the list of tasks")
        return job

    def static_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.static:
            return Response("Not found", status_code=404)
        kind = {"css": "text/css", "js": "text/javascript"}.get(name.rsplit(".", 1)[-1], "application/octet-stream")
        return Response(self.static[name], media_type=kind, headers={"cache-control": "no-store"})

    # Actions: each starts the job of one CLI command, or answers a job's question
    def create_dataset(self, request: Request, form: dict[str, str]) -> Response:
        return self.start("dataset-create", f"Prepare dataset {form.get('name', '')}",
                          benchmark=_number(form, "benchmark"), name=form.get("name", ""),
                          description=form.get("description", ""), location=form.get("location", ""),
                          data_path=form.get("data_path", ""), labels_path=form.get("labels_path", ""))

    def submit_dataset(self, request: Request, form: dict[str, str]) -> Response:
        uid = request.path_params["uid"]
        return self.start("dataset-submit", f"Submit dataset {uid[:12]}", data_uid=uid)

    def associate_dataset(self, request: Request, form: dict[str, str]) -> Response:
        uid, benchmark = request.path_params["uid"], _number(form, "benchmark")
        return self.start("dataset-associate", f"Associate dataset {uid[:12]} with benchmark {benchmark}",
                          benchmark=benchmark, data_uid=uid)

    def run_benchmark(self, request: Request, form: dict[str, str]) -> Response:
        uid, benchmark = request.path_params["uid"], _number(form, "benchmark")
        return self.start("benchmark-run", f"Run benchmark {benchmark} on dataset {uid[:12]}",
                          benchmark=benchmark, data_uid=uid)

    def submit_result(self, request: Request, form: dict[str, str]) -> Response:
        name = request.path_params["name"]
        return self.start("result-submit", f"Submit result {name}", name=name)

    def approve(self, request: Request, form: dict[str, str]) -> Response:
        number = request.path_params["number"]
        return self.start("review-approve", f"Approve submission #{number}", number=number,
                          head=form.get("head", ""))

    def reject(self, request: Request, form: dict[str, str]) -> Response:
        number = request.path_params["number"]
        return self.start("review-reject", f"Reject submission #{number}", number=number,
                          reason=form.get("reason", ""))

    def answer(self, request: Request, form: dict[str, str]) -> Response:
        job = self._job(request)
        if not self.worker.answer(job.id, form.get("choice", ""), form.get("digest", "")):
            raise PageError(409, "this task is not waiting for an answer any more", hint="reload its page")
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    def routes(self) -> list[Route]:
        get = lambda path, view: Route(path, self.page(view), methods=["GET", "HEAD"])  # noqa: E731
        post = lambda path, handler: Route(path, self.action(handler), methods=["POST"])  # noqa: E731
        return [
            get("/", self.home), get("/benchmarks", self.benchmarks), get("/benchmarks/{id:int}", self.benchmark),
            get("/datasets", self.datasets), get("/datasets/new", self.dataset_form),
            post("/datasets", self.create_dataset), get("/datasets/{uid}", self.dataset),
            post("/datasets/{uid}/submit", self.submit_dataset), post("/datasets/{uid}/associate",
                                                                      self.associate_dataset),
            post("/datasets/{uid}/run", self.run_benchmark),
            get("/results", self.results), get("/results/{name}", self.result),
            post("/results/{name}/submit", self.submit_result), get("/associations", self.associations),
            get("/review", self.review_queue), get("/review/{number:int}", self.review),
            post("/review/{number:int}/approve", self.approve), post("/review/{number:int}/reject", self.reject),
            get("/jobs", self.jobs), get("/jobs/{job}", self.job), get("/jobs/{job}/state", self.job_state),
            post("/jobs/{job}/answer", self.answer), get("/static/{name}", self.static_file),
        ]


def _number(form: dict[str, str], name: str) -> int:
    try:
        return int(form.get(name, ""))
    except ValueError:
        raise PageError(400, f"{name} must be a number, not {form.get(name, '')!r}") from None


def _diff(s: RegistrySession, main: str, head: str, status: str, path: str) -> dict[str, Any]:
    """What a submission changes in one record file, against main, as unified diff lines."""
    old = (s.repo.read_path(main, path) or b"").decode("utf-8", "replace").splitlines()
    new = (s.repo.read_path(head, path) or b"").decode("utf-8", "replace").splitlines() if status != "D" else []
    lines = list(difflib.unified_diff(old, new, f"main:{path}", f"submission:{path}", lineterm=""))
    return {"status": {"A": "new", "M": "changed", "D": "deleted"}.get(status, status), "path": path,
            "lines": lines[:MAX_DIFF_LINES], "more": max(0, len(lines) - MAX_DIFF_LINES)}


def create_app(config: AppConfig) -> Guard:
    """The app behind its guard: nothing reaches a route without the token."""
    app = WebApp(config)
    starlette = Starlette(routes=app.routes())
    starlette.state.web = app
    return Guard(starlette, config.keys, config.port, config.home / "ui" / "access.log")
