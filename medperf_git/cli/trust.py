"""`medperf-git profile trust`: the registry's root commit and admin keys pinned by this profile."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_workspace
from medperf_git.cli._options import json_option
from medperf_git.cli._output import out


@click.command()
@click.option("--reset", is_flag=True, help="Forget the pinned anchor and what was verified, then re-audit "
                                            "from the root (after a history rewrite the admins announced).")
@click.option("--root-commit", "--root_commit", "root_commit", metavar="SHA",
              help="Pin the registry's root commit, learnt out of band (implies --reset).")
@json_option
@pass_workspace
def trust(ws, reset, root_commit, as_json):
    """Show or reset the trust anchor of the active profile's registry."""
    from medperf_git.policy import trust as anchor

    if reset or root_commit:
        known = _clone_roots(ws)
        anchor.reset(ws, root_commit.lower() if root_commit else None, known)
        if ws.profile.registry and not ws.offline:
            from medperf_git.registry.clone import RegistryClone

            clone = RegistryClone.open(ws, refresh=False)
            clone.fetch()  # re-audits from the root and pins at first use
        out.success("Trust anchor reset" + (f" to root commit {root_commit[:12]}" if root_commit else ""))
    state = dict(ws.profile.trust or {})
    root = state.get("root_commit")
    state["verified_main"] = anchor.trusted_main(ws, root) if root else None
    if as_json:
        out.json(state)
        return
    if not root:
        out.echo("No trust anchor yet: it is pinned at the first fetch of the registry.")
    else:
        out.echo(f"root commit:   {root}")
        for key in state.get("admin_keys") or []:
            out.echo(f"admin key:     {key}")
        out.echo(f"verified main: {state['verified_main'] or '-'}")
    out.next_step("medperf-git registry audit", "audit the whole history")


def _clone_roots(ws) -> tuple[str, ...]:
    """Roots the profile's clone is known under (so their verified state is forgotten too)."""
    from medperf_git.registry.clone import _remote_key

    if not ws.profile.registry:
        return ()
    pointer = ws.home / "registries" / "remotes" / _remote_key(ws.profile.registry)
    try:
        return (pointer.read_text().strip(),)
    except OSError:
        return ()
