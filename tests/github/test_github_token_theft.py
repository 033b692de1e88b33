"""The token theft of the old set-up, played against the one SETTINGS.md describes: a submitter's branch
whose workflow prints every secret it can name gets nothing, and its pull request is not merged."""

from __future__ import annotations

import subprocess

from medperf_git.forges._github_setup import ENVIRONMENT
from medperf_git.registry.commits import commit_changes
from tests.github.fake_actions import Settings, run_workflow

KEY = "-----BEGIN PRIVATE KEY-----\nTHEAPPSKEY\n-----END PRIVATE KEY-----"
OLD_TOKEN = "ghp_theBOTsTOKEN0123456789"
STEAL = """name: steal
on: [push, pull_request]
jobs:
  plain:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ secrets.MEDPERF_GIT_APP_PRIVATE_KEY }}${{ secrets.MEDPERF_GIT_BOT_TOKEN }}"
  with-environment:
    runs-on: ubuntu-latest
    environment: medperf-git-bot
    steps:
      - run: echo "${{ secrets.MEDPERF_GIT_APP_PRIVATE_KEY }}${{ secrets.MEDPERF_GIT_BOT_TOKEN }}"
"""


def test_a_workflow_that_reads_secrets_gets_nothing_from_a_submitters_branch(hosting):
    settings = Settings(environments={ENVIRONMENT: {"branches": ["main"], "secrets": {
        "MEDPERF_GIT_APP_ID": "77", "MEDPERF_GIT_APP_PRIVATE_KEY": KEY}}})
    forge = hosting.forge("eve")
    head = commit_changes(forge.repo, forge.main, {".github/workflows/steal.yml": STEAL.encode()}, "ci",
                          hosting.world["eve"].identity)
    pushed = subprocess.run(["git", "push", hosting.server.git_url, f"{head}:refs/heads/steal"], cwd=forge.repo.path,
                            capture_output=True, text=True, env=_auth(hosting.token("eve"), hosting.server.git_url))
    assert pushed.returncode != 0  # no write access: no branch of the registry, so no push event there
    sub = forge.open(head, title="Faster CI", kind="other", base=forge.main)
    assert hosting.server.pulls[sub.number]["head"]["repo"]["full_name"] == "eve/registry"
    runs = run_workflow(STEAL, settings, event="pull_request", ref=f"refs/pull/{sub.number}/merge", from_fork=True)
    assert [r.output.strip() for r in runs if not r.refused] == [""]
    assert [r.job for r in runs if r.refused] == ["with-environment"]
    on_main = run_workflow(STEAL, settings, event="push", ref="refs/heads/main")  # what it would get on main
    assert KEY.splitlines()[1] in "".join(r.output for r in on_main)  # so the model does hand secrets out
    outcome = hosting.sweep()[0]
    assert outcome.number == sub.number and outcome.action in ("waiting", "refused")
    assert ".github/workflows/steal.yml" in " ".join(outcome.waiting + outcome.problems)
    assert not hosting.server.pull(sub.number)["merged"]
    assert hosting.status(sub.number)["state"] in ("pending", "failure")


def test_the_old_set_up_handed_the_token_to_any_submitter():
    """A repository secret and write access for submitters: a branch's own workflow prints the token."""
    old = Settings(repo_secrets={"MEDPERF_GIT_BOT_TOKEN": OLD_TOKEN})
    runs = run_workflow(STEAL, old, event="push", ref="refs/heads/steal")
    assert OLD_TOKEN in "".join(r.output for r in runs)


def _auth(token: str, url: str) -> dict:
    import os

    from medperf_git.forges._github_api import git_auth_env

    return {**os.environ, **git_auth_env(token, url), "GIT_TERMINAL_PROMPT": "0"}

