"""How GitHub Actions hands secrets to a run, as GitHub documents it, to play attacks against a set-up.

- The workflow files come from the commit the event is about: a push runs the pushed commit's, a pull
  request its merge commit's (the submitter's own version), a schedule or a manual run main's.
- A pull request from a fork gets no secrets at all (only a read-only GITHUB_TOKEN).
- Other runs get the repository's secrets; a job that names an environment also gets that environment's,
  but only if the run's branch passes the environment's deployment branch policy; otherwise the job is
  refused (a pull request's ref, ``refs/pull/N/merge``, is not a branch and passes no such policy).
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from dataclasses import dataclass, field

import yaml


@dataclass
class Settings:
    repo_secrets: dict[str, str] = field(default_factory=dict)
    environments: dict[str, dict] = field(default_factory=dict)  # name -> {"branches": [...] | None, "secrets"}


@dataclass
class JobRun:
    job: str
    refused: str | None = None
    output: str = ""


def run_workflow(text: str, settings: Settings, *, event: str, ref: str, from_fork: bool = False) -> list[JobRun]:
    """Run the ``run:`` steps of a workflow file's jobs for ``event`` on ``ref``, with the secrets GitHub gives."""
    workflow = yaml.safe_load(text)
    on = workflow.get("on", workflow.get(True))
    events = set(on) if isinstance(on, (dict, list)) else {on}
    if event not in events:
        return []
    runs = []
    for name, job in workflow["jobs"].items():
        secrets = {} if event == "pull_request" and from_fork else dict(settings.repo_secrets)
        environment = job.get("environment")
        if environment:
            env = settings.environments.get(str(environment), {"branches": None, "secrets": {}})
            branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
            allowed = env["branches"] is None or (branch is not None and any(fnmatch.fnmatchcase(branch, b)
                                                                             for b in env["branches"]))
            if not allowed:
                runs.append(JobRun(name, refused=f"{ref} may not use the environment {environment}"))
                continue
            if not (event == "pull_request" and from_fork):
                secrets.update(env.get("secrets") or {})
        output = []
        for step in job.get("steps", []):
            if "run" in step:
                script = re.sub(r"\$\{\{\s*secrets\.(\w+)\s*\}\}", lambda m, s=secrets: s.get(m.group(1), ""),
                                step["run"])
                output.append(subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout)
        runs.append(JobRun(name, output="".join(output)))
    return runs


@dataclass
class ConcurrencyGroup:
    """GitHub's concurrency group with ``cancel-in-progress: false``: one run in progress and at most one
    pending; a newly queued run cancels the pending one and takes its place."""

    running: object | None = None
    pending: object | None = None
    cancelled: list = field(default_factory=list)

    def queue(self, run: object) -> None:
        if self.running is None:
            self.running = run
            return
        if self.pending is not None:
            self.cancelled.append(self.pending)
        self.pending = run

    def finish(self) -> object | None:
        """The running run ends; the pending one (if any) starts and is returned."""
        self.running, self.pending = self.pending, None
        return self.running
