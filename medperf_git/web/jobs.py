"""Long tasks of the local app: each runs on its own thread, as one command of the CLI would, and outlives
the browser tab that started it.

A job's state lives in the workspace (``ui/jobs/<id>/job.json``, written atomically, and ``log.txt``),
so a reopened tab, or the app started again, shows it. One job runs at a time (containers share two
cores); a job waiting for its user's answer before publishing lets the next one run meanwhile.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.errors import MedperfGitError
from medperf_git.workspace.atomic import write_text

ACTIVE = ("queued", "running", "waiting")
LOG_TAIL = 400


def now() -> float:
    return time.time()


def record_digest(record: Any) -> str:
    """What binds an answer to the preview it answers: the shown record's canonical JSON."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Job:
    id: str
    kind: str
    title: str
    params: dict[str, Any]
    state: str = "queued"  # queued | running | waiting | done | failed | cancelled | interrupted
    created: float = field(default_factory=now)
    started: float | None = None
    finished: float | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    confirm: dict[str, Any] | None = None  # what waits for the user's answer: question, intro, audience, record
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class JobStore:
    """Jobs on disk under the workspace; every write replaces job.json whole."""

    def __init__(self, root: Path):
        self.root = root

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def save(self, job: Job) -> None:
        write_text(self.folder(job.id) / "job.json", json.dumps(asdict(job), default=str))

    def get(self, job_id: str) -> Job | None:
        if not job_id.isalnum():
            return None
        try:
            data = json.loads((self.folder(job_id) / "job.json").read_text(encoding="utf-8"))
            return Job(**data)
        except (OSError, ValueError, TypeError):
            return None

    def all(self) -> list[Job]:
        if not self.root.exists():
            return []
        jobs = [self.get(p.name) for p in self.root.iterdir() if p.is_dir()]
        return sorted((j for j in jobs if j is not None), key=lambda j: j.created, reverse=True)

    def log(self, job_id: str, line: str) -> None:
        with open(self.folder(job_id) / "log.txt", "a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")

    def log_tail(self, job_id: str, lines: int = LOG_TAIL) -> list[str]:
        try:
            with open(self.folder(job_id) / "log.txt", encoding="utf-8", errors="replace") as handle:
                return handle.read().splitlines()[-lines:]
        except OSError:
            return []

    def mark_interrupted(self) -> None:
        """Jobs that were running when the app stopped: say so, and how to go on (the flows resume)."""
        for job in self.all():
            if job.active:
                job.state, job.finished, job.confirm = "interrupted", now(), None
                job.error = {"message": "the app stopped while this task ran",
                             "hint": "start it again: finished steps are kept and the task goes on from there"}
                self.save(job)


class JobContext:
    """What a task gets: the job to report into, settings that report each step and line, and a way to ask."""

    def __init__(self, runner: Worker, job: Job):
        self.runner = runner
        self.job = job
        self.answer: threading.Event = threading.Event()
        self.answered: tuple[str, str] | None = None  # (choice, digest of the record answered)

    def step(self, text: str) -> None:
        self.job.steps.append({"text": text, "at": now()})
        self.runner.store.save(self.job)
        self.runner.store.log(self.job.id, f"> {text}")

    def line(self, text: str) -> None:
        self.runner.store.log(self.job.id, text)

    def settings(self):
        """Run settings as the CLI's are, from the profile; each step and output line goes to the job."""
        from medperf_git.flows._containers import RunSettings

        return RunSettings(on_step=self.step, on_output=self.line)

    def confirm(self, question: str, *, intro: str | None = None, audience: str | None = None
                ) -> Callable[[dict[str, Any]], bool]:
        """The flows' ``confirm``: show the exact record, wait for the user's answer, publish only on yes."""
        from medperf_git.flows.dataset import AUDIENCE

        def ask(record: dict[str, Any]) -> bool:
            digest = record_digest(record)
            job = self.job
            job.confirm = {"question": question, "intro": intro, "audience": audience or AUDIENCE,
                           "record": record, "digest": digest}
            job.state = "waiting"
            self.runner.store.save(job)
            self.runner.turn.release()  # others may run while this one waits for its user
            try:
                self.answer.wait()
            finally:
                self.runner.turn.acquire()
            choice, answered = self.answered or ("cancel", "")
            job.confirm, job.state = None, "running"
            self.runner.store.save(job)
            yes = choice == "publish" and secrets.compare_digest(answered, digest)
            self.line(f"> {'publishing' if yes else 'not publishing'} ({question})")
            return yes

        return ask


Task = Callable[[JobContext], dict[str, Any] | None]


class Worker:
    """Starts jobs on threads; one runs at a time, in the order they were asked for."""

    def __init__(self, store: JobStore, crash_log: Path):
        self.store = store
        self.crash_log = crash_log
        self.turn = threading.Lock()
        self._contexts: dict[str, JobContext] = {}
        self._guard = threading.Lock()
        store.mark_interrupted()

    def start(self, kind: str, title: str, params: dict[str, Any], task: Task) -> Job:
        job = Job(f"{int(now() * 1000):x}{secrets.token_hex(4)}", kind, title, params)
        self.store.folder(job.id).mkdir(parents=True, exist_ok=True)
        self.store.save(job)
        context = JobContext(self, job)
        with self._guard:
            self._contexts[job.id] = context
        threading.Thread(target=self._run, args=(context, task), name=f"job-{job.id}", daemon=True).start()
        return job

    def answer(self, job_id: str, choice: str, digest: str) -> bool:
        """The user's answer to a waiting job; False when it no longer waits (answered, or the app restarted)."""
        with self._guard:
            context = self._contexts.get(job_id)
        if context is None or context.job.state != "waiting" or context.answer.is_set():
            return False
        context.answered = (choice, digest)
        job = context.job  # its thread waits: saved here, the page it redirects to shows the task going on
        job.state, job.confirm = "running", None
        self.store.save(job)
        context.answer.set()
        return True

    def _run(self, context: JobContext, task: Task) -> None:
        job = context.job
        with self.turn:
            job.state, job.started = "running", now()
            self.store.save(job)
            try:
                job.result = task(context) or {}
                job.state = "done"
            except MedperfGitError as exc:
                from medperf_git.flows.dataset import Cancelled

                job.state = "cancelled" if isinstance(exc, Cancelled) else "failed"
                job.error = {"message": exc.message, "hint": exc.hint}
            except Exception as exc:  # noqa: BLE001 - a task's unexpected error ends the task, not the app
                saved = self.save_traceback(exc)
                job.state = "failed"
                job.error = {"message": f"unexpected error: {type(exc).__name__}: {exc}",
                             "hint": f"details are in {saved}" if saved else None}
            job.finished, job.confirm = now(), None
            self.store.save(job)
            context.line(f"> {job.state}" + (f": {job.error['message']}" if job.error else ""))
        with self._guard:
            self._contexts.pop(job.id, None)

    def save_traceback(self, exc: BaseException) -> str | None:
        try:
            self.crash_log.mkdir(parents=True, exist_ok=True)
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = self.crash_log / f"ui-crash-{stamp}-{os.getpid()}.log"
            path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
            return str(path)
        except OSError:
            return None
