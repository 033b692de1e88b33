"""``site build``: the registry at main as a static site, plain HTML and JSON that any file server can serve.

Each page's inputs (its JSON context, the templates and assets, the registry's name) are hashed into
a manifest kept in the output folder, so a rebuild renders and writes only the pages whose inputs
changed and deletes those whose record is gone. Which commit published each record comes from one
``git log`` of main, and after that only of the commits main gained since the last build.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_git.errors import MedperfGitError, UsageError
from medperf_git.flows.session import RegistrySession
from medperf_git.records.layout import RECORD_FOLDERS, REGISTRY_FILE
from medperf_git.web._render import design_digest, environment, static_files
from medperf_git.web._site_pages import Commit, Page, SiteModel, read_rows
from medperf_git.workspace.atomic import write_text

MANIFEST = ".medperf-git-site.json"
FORMAT = 1
Progress = Callable[[int, int], None]


@dataclass
class BuildReport:
    """What a build did, for the command to say."""

    outdir: Path
    commit: str
    pages: int
    written: int
    unchanged: int
    removed: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # keys of the pages written


def session_for(registry: str | None, *, profile_name: str | None = None, offline: bool = False) -> RegistrySession:
    """The profile's session, or one on ``registry`` (a path or URL) with no identity: reading needs none."""
    if registry is None:
        return RegistrySession.load(profile_name, offline=offline)
    from medperf_git.workspace.config import Config, Profile
    from medperf_git.workspace.workspace import Workspace, home_dir

    local = Path(registry).expanduser()
    remote = str(local.absolute()) if local.exists() else registry
    home = home_dir()
    return RegistrySession(Workspace(home=home, config=Config.load(home / "config.yaml"),
                                     profile=Profile("site", registry=remote), offline=offline))


def build_site(s: RegistrySession, outdir: Path, *, forge_url: str | None = None,
               progress: Progress | None = None) -> BuildReport:
    """Render main into ``outdir``; only pages whose inputs changed since the last build are written."""
    start = time.perf_counter()
    outdir = Path(outdir)
    manifest = _load_manifest(outdir)
    s.fetch(tolerate=True)
    index = s.index_at_main()
    main = s.main
    warnings = list(s.warnings)
    published, commits = _history(s, main, manifest)
    extra = _open_associations(s, warnings)
    rows = read_rows(index)
    paths = {row.path for row in rows}
    published = {p: sha for p, sha in published.items() if p in paths}
    commits = {sha: c for sha, c in commits.items() if sha in set(published.values())}
    model = SiteModel(rows, main, published, commits, extra, forge_url)
    pages = model.pages()
    broken = index.invalid()
    if broken:
        warnings.append(f"{len(broken)} record(s) cannot be read and are left out (first: {broken[0][0]})")
    registry_name = str(model._registry()["name"] or "registry")
    design = design_digest("site")
    salt = hashlib.sha256(f"{FORMAT}\0{design}\0{registry_name}\0{forge_url or ''}".encode()).digest()
    old_pages: dict[str, str] = manifest.get("pages", {})
    new_pages: dict[str, str] = {}
    todo: list[tuple[Page, bytes]] = []
    for page in pages:
        blob = json.dumps(page.context, separators=(",", ":"), default=str, ensure_ascii=False).encode()
        digest = hashlib.sha256(salt + page.key.encode() + b"\0" + blob).hexdigest()
        new_pages[page.key] = digest
        if old_pages.get(page.key) != digest or not (outdir / f"{page.key}.html").exists():
            todo.append((page, blob))
    _render_pages(s, outdir, todo, registry_name, set(old_pages), progress)
    removed = 0
    for key in set(old_pages) - set(new_pages):
        for gone in (outdir / f"{key}.html", outdir / "api" / f"{key}.json"):
            with contextlib.suppress(FileNotFoundError):
                gone.unlink()
                removed += 1
    for name, data in static_files().items():
        target = outdir / "static" / name
        if not target.exists() or target.read_bytes() != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            _write(target, data)
    write_text(outdir / MANIFEST, json.dumps({
        "format": FORMAT, "main": main, "pages": new_pages, "published": published,
        "commits": {sha: [c.time, c.author, c.subject] for sha, c in commits.items()}}, separators=(",", ":")))
    return BuildReport(outdir, main, len(pages), len(todo), len(pages) - len(todo), removed,
                       time.perf_counter() - start, warnings, [page.key for page, _ in todo])


def _load_manifest(outdir: Path) -> dict[str, Any]:
    """The last build's manifest; an existing folder that holds other things is refused, never overwritten."""
    try:
        data = json.loads((outdir / MANIFEST).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and data.get("format") == FORMAT else {}
    except FileNotFoundError:
        if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
            raise UsageError(f"{outdir} is not empty and holds no site built by medperf-git",
                             hint="give an empty or new folder") from None
        return {}
    except (OSError, ValueError):
        return {}


def _history(s: RegistrySession, main: str, manifest: dict[str, Any]) -> tuple[dict[str, str], dict[str, Commit]]:
    """Record path -> the commit of main that last changed it, and those commits; incremental from the manifest."""
    published: dict[str, str] = {}
    commits: dict[str, Commit] = {}
    old = manifest.get("main")
    since = None
    if isinstance(old, str) and s.repo.rev_parse(old) and s.repo.is_ancestor(old, main):
        since = old
        published = dict(manifest.get("published") or {})
        commits = {sha: Commit(sha, *info) for sha, info in (manifest.get("commits") or {}).items()}
    if since == main:
        return published, commits
    text = s.repo.out("log", "-m", "--first-parent", "--no-renames", "--format=%x01%H%x02%ct%x02%an%x02%s",
                      "--name-only", f"{since}..{main}" if since else main, "--", *RECORD_FOLDERS, REGISTRY_FILE)
    seen: set[str] = set()
    for chunk in text.split("\x01")[1:]:
        header, _, names = chunk.partition("\n")
        sha, stamp, author, subject = (header.split("\x02") + ["", "", ""])[:4]
        commits.setdefault(sha, Commit(sha, int(stamp or 0), author, subject))
        for name in names.split("\n"):
            if name and name not in seen:
                seen.add(name)
                published[name] = sha
    return published, commits


def _open_associations(s: RegistrySession, warnings: list[str]) -> list[dict[str, Any]] | None:
    """Pending and rejected requests, when this profile can read submissions (it needs an identity)."""
    if not (s.profile.handle and s.profile.signing_key):
        return None
    from medperf_git.flows.association import list_associations

    try:
        return [row.to_dict() for row in list_associations(s, everyone=True)]
    except MedperfGitError as exc:
        warnings.append(f"open association requests are not shown: {exc.message}")
        return None


def _write(path: Path, data: bytes, fresh: bool = False) -> None:
    """Replace a file by rename, so a server never sends half a page; a new one is written in place.

    No fsync: a site is rebuilt from the registry at will, so a crash costs only a rebuild.
    """
    if fresh:
        path.write_bytes(data)
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass
class _Job:
    """What the rendering processes share (set before forking, so nothing is pickled)."""

    outdir: Path
    todo: list[tuple[Page, bytes]]
    texts: dict[str, bytes | None]
    registry_name: str
    existing: set[str]


_JOB: _Job | None = None
PARALLEL_MIN = 800  # below this many pages one process is faster than forking a second


def _render_share(share: tuple[int, int]) -> int:
    """Render every ``step``-th page from ``first``: one process's share."""
    from medperf_git.web.charts import charts

    job = _JOB
    assert job is not None
    first, step = share
    env = environment()
    made: set[Path] = set()
    for page, blob in job.todo[first::step]:
        extra: dict[str, Any] = {}
        if page.blob:
            raw = job.texts.get(page.blob)
            extra["record_text"] = raw.decode("utf-8", "replace") if raw is not None else None
        if page.context["kind"] == "benchmark":
            extra["charts"] = charts(page.context)
        html = env.get_template(page.template).render(
            **page.context, **extra, key=page.key, root="../" * page.key.count("/"),
            registry_name=job.registry_name)
        fresh = page.key not in job.existing
        for target, data in ((job.outdir / f"{page.key}.html", html.encode()),
                             (job.outdir / "api" / f"{page.key}.json", blob)):
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            _write(target, data, fresh)
    return len(job.todo[first::step])


def _render_pages(s: RegistrySession, outdir: Path, todo: list[tuple[Page, bytes]], registry_name: str,
                  existing: set[str], progress: Progress | None) -> None:
    """Pages see only their context (never main's commit), so an unchanged context means an unchanged page.

    Large builds render in two processes (forked, as the index's cold build parses).
    """
    global _JOB
    from medperf_git.registry.index import read_blobs

    blobs = [page.blob for page, _ in todo if page.blob]
    texts = dict(zip(blobs, read_blobs(s.repo, blobs), strict=True)) if blobs else {}
    _JOB = _Job(outdir, todo, texts, registry_name, existing)
    try:
        processes = min(2, os.cpu_count() or 1)
        if len(todo) >= PARALLEL_MIN and processes > 1 and hasattr(os, "fork"):
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(processes) as pool:
                done = 0
                for count in pool.imap_unordered(_render_share, [(i, processes) for i in range(processes)]):
                    done += count
                    if progress:
                        progress(done, len(todo))
        else:
            _render_share((0, 1))
            if progress:
                progress(len(todo), len(todo))
    finally:
        _JOB = None
