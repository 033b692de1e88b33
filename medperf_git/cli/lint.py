"""``medperf-git registry lint``: the same checks locally as in CI."""

from __future__ import annotations

import click

from medperf_git.cli._output import out
from medperf_git.errors import LintFailed


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

