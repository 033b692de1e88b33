"""`medperf-git site build`: the registry as a static site (leaderboards, records, charts, JSON for scripts)."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_git.cli._output import out


@click.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--registry", metavar="PATH_OR_URL",
              help="Build from this registry instead of the profile's (no identity is needed).")
@click.option("--forge-url", metavar="URL",
              help="The registry's web address on its forge, e.g. https://github.com/ORG/REPO: records and "
                   "commits then also link there.")
@click.pass_context
def build(ctx: click.Context, outdir: Path, registry: str | None, forge_url: str | None) -> None:
    """Render the registry's main branch into OUTDIR as plain HTML, with api/*.json beside it.

    Only pages whose inputs changed since the last build into OUTDIR are written again. Any file server
    can serve the folder, and it also works opened from a file share.
    """
    from medperf_git.cli._context import AppContext
    from medperf_git.web.site import build_site, session_for

    app = ctx.find_object(AppContext) or AppContext()
    s = session_for(registry, profile_name=app.profile_name, offline=app.offline)
    try:
        with out.progress(None, "Rendering pages") as bar:
            report = build_site(s, outdir, forge_url=forge_url, progress=lambda done, total: bar(0))
    finally:
        s.close()
    for warning in report.warnings:
        out.warn(warning)
    out.success(f"Site of commit {report.commit[:12]} in {report.outdir}: {report.pages} pages, {report.written} "
                f"written, {report.unchanged} unchanged, {report.removed} files removed ({report.seconds:.1f} s)")
    out.next_step(f"open {report.outdir / 'index.html'}", "or serve the folder with any web server")
