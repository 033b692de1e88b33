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
from medperf_git.registry.git import GitRepo
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
    makers = model.plan()
    broken = index.invalid()
    if broken:
        warnings.append(f"{len(broken)} record(s) cannot be read and are left out (first: {broken[0][0]})")
    registry_name = str(model._registry()["name"] or "registry")
    design = design_digest("site")
    salt = hashlib.sha256(f"{FORMAT}\0{design}\0{registry_name}\0{forge_url or ''}".encode()).digest()
    old_pages: dict[str, str] = manifest.get("pages", {})
    done = _build_pages(_Job(s.repo, outdir, makers, salt, old_pages, registry_name), progress)
    new_pages = {key: digest for key, digest, _ in done}
    written = [key for key, _, changed in done if changed]
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
            _write(target, data, False)
    write_text(outdir / MANIFEST, json.dumps({
        "format": FORMAT, "main": main, "pages": new_pages, "published": published,
        "commits": {sha: [c.time, c.author, c.subject] for sha, c in commits.items()}}, separators=(",", ":")))
    return BuildReport(outdir, main, len(done), len(written), len(done) - len(written), removed,
                       time.perf_counter() - start, warnings, written)


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


def _write(path: Path, data: bytes, fresh: bool) -> None:
    """Replace a file by rename, so a server never sends half a page; a new one is written in place.

    No fsync: a site is rebuilt from the registry at will, so a crash costs only a rebuild. Plain
    ``os`` calls, as 14,000 files are written: a file object's extra system calls would double the count.
    """
    target = path if fresh else path.with_name(f".{path.name}.tmp")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    if not fresh:
        os.replace(target, path)


@dataclass
class _Job:
    """What the building processes share (set before forking, so nothing is pickled)."""

    repo: GitRepo
    outdir: Path
    makers: list[Callable[[], Page]]
    salt: bytes
    old: dict[str, str]  # page key -> digest of the last build's inputs
    registry_name: str


_JOB: _Job | None = None
_PARENT = 0  # the process that started the build
PARALLEL_MIN = 800  # below this many pages one process is faster than forking a second
PROCESSES = min(2, os.cpu_count() or 1)  # the 2-core machine the build is sized for
Done = list[tuple[int, str, str, bool]]  # (position in the plan, page key, digest of its inputs, written)


def _build_share(share: tuple[int, int]) -> Done:
    """Make, hash and (when its inputs changed) render and write every ``step``-th page from ``first``.

    A page sees only its context (never main's commit), so an unchanged context means an unchanged page.
    """
    job = _JOB
    assert job is not None
    first, step = share
    done: Done = []
    todo: list[tuple[Page, bytes]] = []
    for i in range(first, len(job.makers), step):
        page = job.makers[i]()
        blob = json.dumps(page.context, separators=(",", ":"), default=str, ensure_ascii=False).encode()
        digest = hashlib.sha256(job.salt + page.key.encode() + b"\0" + blob).hexdigest()
        changed = job.old.get(page.key) != digest or not os.path.exists(job.outdir / f"{page.key}.html")
        done.append((i, page.key, digest, changed))
        if changed:
            todo.append((page, blob))
    if todo:
        _render(job, todo)
    return done


def _render(job: _Job, todo: list[tuple[Page, bytes]]) -> None:
    """Render and write ``todo``, the record files it shows read in one ``cat-file`` round trip."""
    from medperf_git.registry.index import read_blobs
    from medperf_git.web.charts import charts

    shas = [page.blob for page, _ in todo if page.blob]
    repo = job.repo if os.getpid() == _PARENT else GitRepo(job.repo.path)  # a forked process reads with its own git
    try:
        texts = dict(zip(shas, read_blobs(repo, shas), strict=True)) if shas else {}
    finally:
        if repo is not job.repo:
            repo.close()
    env = environment()
    made: set[str] = set()
    for page, blob in todo:
        extra: dict[str, Any] = {}
        if page.blob:
            raw = texts.get(page.blob)
            extra["record_text"] = raw.decode("utf-8", "replace") if raw is not None else None
        if page.context["kind"] == "benchmark":
            extra["charts"] = charts(page.context)
        html = env.get_template(page.template).render(
            **page.context, **extra, key=page.key, root="../" * page.key.count("/"),
            registry_name=job.registry_name)
        fresh = page.key not in job.old
        for target, data in ((job.outdir / f"{page.key}.html", html.encode()),
                             (job.outdir / "api" / f"{page.key}.json", blob)):
            folder = str(target.parent)
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            _write(target, data, fresh)


def _build_pages(job: _Job, progress: Progress | None) -> list[tuple[str, str, bool]]:
    """Every page's (key, digest, written), in plan order; large sites are built in two forked processes,
    each making, hashing and rendering half of the pages (the records are read once, before the fork)."""
    global _JOB, _PARENT
    _JOB, _PARENT = job, os.getpid()
    total = len(job.makers)
    try:
        processes = PROCESSES
        if total >= PARALLEL_MIN and processes > 1 and hasattr(os, "fork"):
            import gc
            import multiprocessing

            done: Done = []
            gc.freeze()  # the records stay out of the children's collections, which would copy their pages
            try:
                with multiprocessing.get_context("fork").Pool(processes) as pool:
                    for share in pool.imap_unordered(_build_share, [(i, processes) for i in range(processes)]):
                        done += share
                        if progress:
                            progress(len(done), total)
            finally:
                gc.unfreeze()
            done.sort()
        else:
            done = _build_share((0, 1))
            if progress:
                progress(total, total)
    finally:
        _JOB = None
    return [(key, digest, changed) for _, key, digest, changed in done]
