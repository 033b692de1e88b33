"""`medperf-git container runners`: which runners can run here, and the best one."""

from __future__ import annotations

import click

from medperf_git.cli._options import json_option
from medperf_git.cli._output import out


@click.command()
@click.option("--best", is_flag=True, help="Print only the name of the best runner here (local if none isolates).")
@json_option
def runners(best, as_json):
    """Show each runner's isolation and whether it can run on this machine."""
    from medperf_git.runners.base import AUTO_ORDER, ISOLATION, runner_class

    rows = []
    for name in (*AUTO_ORDER, "local"):
        why = runner_class(name)().available()
        rows.append({"runner": name, "isolation": ISOLATION[name], "available": why is None, "reason": why or ""})
    if best:
        out.echo(next((r["runner"] for r in rows if r["available"] and r["runner"] != "local"), "local"))
        return
    if as_json:
        out.json(rows)
        return
    out.table([(r["runner"], r["isolation"], "yes" if r["available"] else "no", r["reason"]) for r in rows],
              ["runner", "isolation", "available", "why not"])
