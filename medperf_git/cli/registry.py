"""`medperf-git registry init|lint|audit|recover`: create a registry, check a checkout the way CI does,
audit the signed history (was every change on main made by someone allowed to make it?), undo what
fails the audit."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_git.cli._context import pass_session, pass_workspace
from medperf_git.cli._options import json_option, yes_option
from medperf_git.cli._output import out
from medperf_git.errors import LintFailed


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="The registry's name, e.g. chestxray-community.")
@click.option("--admin", "admins", multiple=True, required=True, metavar="HANDLE",
              help="A registry admin (repeat for several). The first one signs the first commit.")
@click.option("--admin-name", help="The first admin's full name (for their people record).")
@click.option("--admin-email", help="The first admin's email (for their people record).")
@click.option("--key", "signing_key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="SSH private key of the first admin (default: the profile's, or a new one).")
@click.option("--bare", is_flag=True, help="Create a group-shared bare repository, e.g. on a file share.")
@click.option("--open-registration", is_flag=True, help="New people join without an admin's approval.")
@click.option("--allow-file-urls", is_flag=True, help="Allow file:/// pins (tutorials, file-share registries).")
@click.option("--host", type=click.Choice(["git", "ssh", "github"]), default="git", show_default=True,
              help="ssh: install a pre-receive hook that refuses pushes to main failing the audit (SSH servers); "
                   "github: add the CI workflows and .github/MEDPERF-GIT-SETTINGS.md (the settings they need).")
@click.option("--github-repository", "github_repository", metavar="OWNER/NAME",
              help="With --host github: check this repository's settings (needs MEDPERF_GIT_GITHUB_TOKEN).")
@click.option("--github-api-url", "github_api_url", metavar="URL", help="GitHub Enterprise API, https://HOST/api/v3.")
@click.option("--public", "public", is_flag=True, help="With --host github: the registry is meant to be public.")
@click.option("--github-app-id", "github_app_id", type=int, metavar="ID",
              help="With --host github: the bot's GitHub App, the one bypass actor of main's update rule.")
@click.option("--medperf-git", "requirement", metavar="REQUIREMENT",
              help="The pip requirement, pinned by a hash, of the medperf-git the registry's CI installs "
                   "(default: the one running, when pip can tell where it came from).")
@pass_workspace
def init(ws, path, name, admins, admin_name, admin_email, signing_key, bare, open_registration, allow_file_urls,
         host, github_repository=None, github_api_url=None, public=False, github_app_id=None, requirement=None):
    """Create a new, empty registry repository at PATH."""
    from medperf_git.flows.registry_init import init_registry

    result = init_registry(ws, path, name=name, admins=list(admins), admin_name=admin_name,
                           admin_email=admin_email, signing_key=signing_key, bare=bare,
                           open_registration=open_registration, allow_file_urls=allow_file_urls, host=host,
                           requirement=requirement)
    kind = "bare registry repository" if result.bare else "registry repository"
    out.success(f"Created the {kind} {result.path} (first commit {result.commit[:12]}, "
                f"signed by {result.admins[0]})")
    if result.key_generated:
        out.info(f"A new signing key was created at {result.signing_key}; keep it private and back it up.")
    for change in result.profile_changes:
        out.info(f"Profile '{ws.profile.name}': {change}")
    for handle in result.pending_admins:
        out.info(f"Admin '{handle}' must still register: `medperf-git person register --handle {handle} ...`")
    if host == "github":
        out.info(f"Added the GitHub workflows and ci/ scripts, installing {result.requirement}; follow "
                 ".github/MEDPERF-GIT-SETTINGS.md (the bot's App, its environment, two rulesets on main, forks)")
        if github_repository:
            _check_github(github_repository, github_api_url, public, github_app_id)
    out.next_step("medperf-git registry lint " + str(result.path) if not result.bare
                  else "medperf-git benchmark ls", "check it, then invite people to register")


def _check_github(repository: str, api_url: str | None, public: bool, app_id: int | None = None) -> None:
    """Check the settings the GitHub API shows; a missing token only skips the check."""
    from medperf_git.errors import ConfigError
    from medperf_git.forges._github_api import resolve_token
    from medperf_git.forges._github_setup import check_settings

    try:
        token = resolve_token({})
    except ConfigError:
        out.warn(f"No GitHub token: the settings of {repository} were not checked (set MEDPERF_GIT_GITHUB_TOKEN)")
        return
    for item in check_settings(repository, token, api_url, public=public, app_id=app_id):
        (out.success if item.ok else out.warn)(f"{repository}: {item.name}: {item.state} ({item.detail})")


@click.command("lint")
@click.argument("path", default=".", metavar="[PATH]")
@click.option("--base", "base_ref", metavar="REF",
              help="Check only what changed since this commit of PATH's repository, plus the history rules "
                   "(frozen fields, results unchanged, nothing deleted).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format; json is for scripts and bots.")
def lint(path: str, base_ref: str | None, fmt: str) -> None:
    """Check a registry checkout: placement, YAML, schemas, references, uniqueness and, with --base, history.

    Each finding is printed as `path:line:col CODE message` with a hint. The exit status is 3 when
    there are errors, 0 when there are only warnings or nothing.
    """
    from medperf_git.cli._read import IndexProgress
    from medperf_git.lint.local import lint_path

    # A bar for the first build of the base's index, shown only once there is something to show.
    with IndexProgress(enabled=fmt == "text", label="Indexing the base commit", min_records=0) as progress:
        report = lint_path(path, base_ref, progress=progress)
    if fmt == "json":
        out.json({"valid": report.valid, "errors": report.errors, "warnings": report.warnings,
                  "records": report.records, "findings": [f.to_dict() for f in report.findings]})
    else:
        for finding in report.findings:
            out.echo(finding.text())
        if report.findings:
            out.echo(f"{report.errors} error{'s' * (report.errors != 1)}, {report.warnings} "
                     f"warning{'s' * (report.warnings != 1)} in {report.records} records")
        elif base_ref:
            out.echo(f"registry is valid: {report.records} changed records checked against {base_ref}")
        else:
            out.echo(f"registry is valid: {report.records} records")
    if not report.valid:
        raise LintFailed(f"lint found {report.errors} error{'s' * (report.errors != 1)}",
                         hint="fix the findings above and run `medperf-git registry lint` again")
    if fmt == "text":
        out.next_step("git commit, then open a submission" if base_ref else "medperf-git benchmark ls")


@click.command()
@click.argument("path_or_remote", required=False, metavar="[PATH_OR_REMOTE]")
@click.option("--since", metavar="REV", help="Audit only the commits on main after REV (trusting REV).")
@json_option
@pass_session
def audit(s, path_or_remote, since, as_json):
    """Audit a registry's signed history (default: the profile's registry).

    Walks main's first-parent chain and judges every commit against the commit before it: signatures,
    keys, owners, policy and approvals; lint of what it changed; and for a merge, that its tree is the
    clean merge of a submission that was open and whose merge was recorded. Exits with 4 on any
    finding. Verified commits are cached, so a re-audit starts from the last verified one.
    """
    from medperf_git.errors import AuditFailed
    from medperf_git.flows.audit import run_audit

    with out.progress(None, "Auditing", enabled=not as_json) as bar:
        report = run_audit(s, path_or_remote, since=since, progress=bar)
    if as_json:
        out.json(report.to_dict())
    else:
        for finding in report.findings:
            out.echo(finding.text())
        for finding in report.quarantined:
            out.echo(f"quarantined: {finding.text()}")
        out.echo(report.summary())
    if not report.clean:
        raise AuditFailed(f"{len(report.findings)} audit finding(s)",
                          hint="each line names the commit; tell the registry's admins")
    out.next_step("medperf-git submission ls", "the history is trustworthy")


@click.command()
@yes_option
@json_option
@pass_session
def recover(s, yes, as_json):
    """Undo commits on main that fail the audit, without rewriting history (admins).

    Publishes one commit, signed by you, that restores the tree of the last commit the audit accepts
    and names it in a `Recovers:` trailer. Every client accepts it on its next fetch and reports the
    commits in between as quarantined; nobody needs `profile trust --reset`.
    """
    from medperf_git.flows.recovery import plan_recovery, recover as flow

    plan = plan_recovery(s)
    out.info(f"main of the registry is at {plan.remote_main[:12]}; the last commit the audit accepts is "
             f"{plan.target[:12]}. These findings come after it:")
    for finding in plan.report.findings:
        out.info(f"  {finding.text()}")
    out.info(f"The recovery commit restores the tree of {plan.target[:12]}; the {len(plan.bad_commits)} commit(s) "
             "above are quarantined (they stay in history, their changes are undone). Everyone who reads the "
             "registry sees it.")
    if not out.confirm("Publish the recovery commit, signed by you?", yes=yes):
        out.info("Nothing was published.")
        return
    commit = flow(s, plan)
    if as_json:
        out.json({**plan.to_dict(), "recovery": commit})
    out.success(f"Published the recovery commit {commit[:12]}: main holds the tree of {plan.target[:12]} again")
    out.next_step("medperf-git registry audit", "it reports the quarantined commits; clients accept the recovery "
                                                "on their next fetch")
