"""How a submission is shown by `submission show` and `review show` (one rendering for both)."""

from __future__ import annotations

from medperf_git.cli._output import out


def render_assessment(a, as_json: bool, *, to_stderr: bool = False) -> None:
    """Data on stdout; ``to_stderr`` for a preview before a question (stdout stays clean)."""
    echo = out.info if to_stderr else out.echo
    if as_json:
        out.json(a.to_dict())
        return
    sub = a.submission
    echo(f"#{sub.number} {sub.title}")
    echo(f"  kind:    {sub.kind}")
    echo(f"  author:  {sub.author}" + (f" (content signed by {a.author})" if a.author and a.author != sub.author
                                           else ""))
    echo(f"  state:   {sub.state}" + (f": {sub.close_reason} (by {sub.closed_by})" if sub.state == "closed" else "")
             + (f" as {sub.merged_commit[:12]} (by {sub.merged_by or '?'})" if sub.state == "merged"
                and sub.merged_commit else ""))
    echo(f"  head:    {sub.head[:12]}   base: {sub.base[:12]}")
    echo("  records:")
    for status, path in a.changes:
        word = {"A": "new", "M": "changed", "D": "deleted"}.get(status, status)
        echo(f"    {word:8} {path}")
    if sub.state != "open":
        _ignored(sub)
        return  # nothing to decide any more
    verdict = a.verdict
    if verdict is not None:
        echo(f"  policy:  {verdict.summary()}")
        for req in verdict.requirements:
            echo(f"    - {req.text()}")
    approvals = getattr(a.review, "approvals", []) if a.review is not None else []
    for approval in approvals:
        echo(f"  approval {approval.sha[:12]} by {approval.handle}"
                 + ("" if approval.valid else f": ignored ({approval.reason})"))
    if a.conflict:
        echo(f"  conflict with main: {', '.join(a.conflict)}")
    if a.findings:
        echo("  lint of the merged tree:")
        for finding in a.findings:
            echo("    " + finding.text().replace("\n", "\n    "))
    else:
        echo("  lint of the merged tree: clean" if not a.conflict else "")
    missing = a.missing()
    echo("  missing: " + ("; ".join(missing) if missing else "nothing: it can be merged"))
    _ignored(sub)


def _ignored(sub) -> None:
    for event in sub.ignored_events:
        out.warn(f"ignored meta event {event.seq} ({event.type} by {event.by}): {event.problem}")
