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
