"""`medperf-git registry audit`: was every change on main made by someone allowed to make it?"""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_workspace
from medperf_git.cli._options import json_option
from medperf_git.cli._output import out


@click.command()
@click.argument("path_or_remote", required=False, metavar="[PATH_OR_REMOTE]")
@click.option("--since", metavar="REV", help="Audit only the commits on main after REV (trusting REV).")
@json_option
@pass_workspace
def audit(ws, path_or_remote, since, as_json):
    """Audit a registry's signed history (default: the profile's registry).

    Walks main's first-parent chain and judges every commit against the commit before it: signatures,
    keys, owners, policy and approvals; lint of what it changed; and for a merge, that its tree is the
    clean merge of a submission that was open and whose merge was recorded. Exits with 4 on any
    finding. Verified commits are cached, so a re-audit starts from the last verified one.
    """
    from medperf_git.errors import AuditFailed
    from medperf_git.policy.audit_run import run_audit

    with out.progress(None, "Auditing", enabled=not as_json) as bar:
        report = run_audit(ws, path_or_remote, since=since, progress=bar)
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
