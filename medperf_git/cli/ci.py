"""`medperf-git ci check`: what a registry's CI runs on a pull request."""

from __future__ import annotations

import click

from medperf_git.cli._output import out


@click.command()
@click.argument("path", default=".", metavar="[PATH]")
@click.option("--base", "base", required=True, metavar="REF", help="The branch or commit the submission merges "
                                                                   "into (its records decide the policy).")
@click.option("--head", "head", default="HEAD", show_default=True, metavar="REF", help="The submission's head.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format; json is for scripts and bots.")
def check(path: str, base: str, head: str, fmt: str) -> None:
    """Lint the merged tree with history rules against BASE, and give the policy verdict.

    The author is whoever signed the head's content commits; approvals are the signed approval
    commits at its tip. Exit status: 0 when valid (merged or awaiting approvals, the verdict says
    which), 3 on lint errors, 4 when refused by policy.
    """
    from medperf_git.errors import LintFailed, PolicyDenied
    from medperf_git.policy.ci import check as run_check
    from medperf_git.registry.git import GitRepo

    repo = GitRepo(path)
    try:
        result = run_check(repo, base, head)
    finally:
        repo.close()
    verdict = result.verdict
    if fmt == "json":
        out.json(result.to_dict())
    else:
        for finding in result.findings:
            out.echo(finding.text())
        out.echo(f"lint: {'valid' if result.lint_valid else f'{result.lint_errors} error(s)'} "
                 f"(merged tree of {result.head[:12]} into {result.base[:12]})")
        for approval in result.review.approvals:
            state = "counts" if approval.valid else f"does not count: {approval.reason}"
            out.echo(f"approval by {approval.handle} ({approval.sha[:12]}): {state}")
        out.echo(f"policy: {verdict.summary()}")
        for violation in verdict.violations:
            out.echo(violation.text())
    if not verdict.allowed:
        raise PolicyDenied(f"refused by policy: {len(verdict.violations)} problem(s)",
                           hint="see the policy lines above")
    if not result.lint_valid:
        raise LintFailed(f"lint found {result.lint_errors} error(s) in the merged tree",
                         hint="fix the findings above, then push again")


@click.command()
@click.option("--event", "event_file", type=click.Path(exists=True, dir_okay=False),
              help="The GitHub event payload (GITHUB_EVENT_PATH): its pull request is judged first; a comment "
                   "without `@medperf-git check` is ignored.")
@click.option("--path", "path", default=".", show_default=True, help="A checkout (or clone) of the registry's "
                                                                     "main; pull requests are fetched, never "
                                                                     "checked out.")
@click.option("--repository", metavar="OWNER/NAME", envvar="GITHUB_REPOSITORY",
              help="The registry repository (default: $GITHUB_REPOSITORY, else the event's).")
@click.option("--api-url", "api_url", envvar="GITHUB_API_URL", metavar="URL",
              help="The GitHub API (GitHub Enterprise: https://HOST/api/v3).")
@click.option("--remote", default="origin", show_default=True, help="The git remote (name or URL) to fetch from.")
@click.option("--no-merge", "no_merge", is_flag=True, help="Judge and report, but never merge.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format; json is for scripts.")
def bot(event_file: str | None, path: str, repository: str | None, api_url: str | None, remote: str,
        no_merge: bool, fmt: str) -> None:
    """Judge every open pull request as the registry's policy bot: a commit status and a comment on each
    saying who must approve, and a merge when policy allows.

    The token is minted here from a GitHub App's key (MEDPERF_GIT_APP_ID and MEDPERF_GIT_APP_PRIVATE_KEY,
    from an environment limited to main), else read from MEDPERF_GIT_GITHUB_TOKEN. Exit status: 0 when
    every pull request was judged, refused ones included (their status says so); 1 on errors.
    """
    import os

    from medperf_git.errors import UsageError
    from medperf_git.flows.bot import read_event, run_bot
    from medperf_git.forges._github_api import app_token, resolve_token
    from medperf_git.registry.git import GitRepo

    event = read_event(event_file) if event_file else {}
    repository = repository or str((event.get("repository") or {}).get("full_name") or "")
    if not repository:
        raise UsageError("which repository? the event names none", hint="give --repository OWNER/NAME")
    if os.environ.get("MEDPERF_GIT_APP_ID") and os.environ.get("MEDPERF_GIT_APP_PRIVATE_KEY"):
        token = app_token(os.environ["MEDPERF_GIT_APP_ID"], os.environ["MEDPERF_GIT_APP_PRIVATE_KEY"], repository,
                          api_url)
    else:
        token = resolve_token({})
    run = [os.environ.get(v) for v in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    log_url = f"{run[0]}/{run[1]}/actions/runs/{run[2]}" if all(run) else None
    repo = GitRepo(path)
    try:
        outcomes = run_bot(repo, event, repository=repository, token=token, base_url=api_url, remote=remote,
                           merge=not no_merge, log_url=log_url)
    finally:
        repo.close()
    if fmt == "json":
        out.json([o.to_dict() for o in outcomes])
        return
    for outcome in outcomes:
        what = f"pull request #{outcome.number}" if outcome.number else "the event"
        out.echo(f"{what}: {outcome.action}" + (f" as {outcome.merged_commit[:12]}" if outcome.merged_commit else ""))
        for line in outcome.problems:
            out.echo(f"  problem: {line}")
        for line in outcome.waiting:
            out.echo(f"  waiting for: {line}")
    if not outcomes:
        out.echo("no open pull request into main")


@click.command()
@click.option("--repository", required=True, metavar="OWNER/NAME", envvar="GITHUB_REPOSITORY",
              help="The registry repository on GitHub.")
@click.option("--app-id", "app_id", type=int, metavar="ID", help="The bot's GitHub App (its number).")
@click.option("--api-url", "api_url", envvar="GITHUB_API_URL", metavar="URL",
              help="The GitHub API (GitHub Enterprise: https://HOST/api/v3).")
@click.option("--public", is_flag=True, help="The registry is meant to be public.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format; json is for scripts.")
def settings(repository: str, app_id: int | None, api_url: str | None, public: bool, fmt: str) -> None:
    """Check a GitHub registry's settings against SETTINGS.md, one line each: ok, NOT SET, or unverified
    with the reason (what the token may not see). Use an admin's token (MEDPERF_GIT_GITHUB_TOKEN).

    Exit status: 0 when every setting is ok, 1 otherwise.
    """
    from medperf_git.errors import MedperfGitError
    from medperf_git.forges._github_api import resolve_token
    from medperf_git.forges._github_setup import check_settings

    checks = check_settings(repository, resolve_token({}), api_url, public=public, app_id=app_id)
    if fmt == "json":
        out.json([c.to_dict() for c in checks])
    else:
        for item in checks:
            (out.success if item.ok else out.warn)(f"{item.name}: {item.state} ({item.detail})")
    missing = [c for c in checks if not c.ok]
    if missing:
        raise MedperfGitError(f"{len(missing)} of {len(checks)} settings are not ok or could not be seen",
                              hint="follow .github/MEDPERF-GIT-SETTINGS.md; an admin's token sees them all")
