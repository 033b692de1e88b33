"""Where this machine keeps data (MedPerf's `storage ls|move|cleanup`): one data folder per profile.

``move`` takes the whole data folder (prepared datasets, results, caches) to another disk: a rename
on the same disk, else a copy that is switched to only once complete, then the old copy is removed.
Virtual environments hold their own absolute paths, so they are not moved but made again when needed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medperf_git.errors import UsageError
from medperf_git.workspace.workspace import Workspace

NOT_MOVED = (Path("cache") / "venvs",)


@dataclass
class Folder:
    name: str
    path: Path
    why: str


def folders(ws: Workspace) -> list[Folder]:
    """The profile's folders: what lives where."""
    root = ws.data_root
    return [Folder("home", ws.home, "profiles, keys and the registry clones (small)"),
            Folder("data", root, "everything large; `storage move` moves it"),
            Folder("registries", root / "registries", "per registry: prepared datasets, results, tests, logs"),
            Folder("cache", ws.cache_dir, "downloads, extracted archives, virtual environments"),
            Folder("tmp", root / "tmp", "scratch of running tasks (`storage cleanup` empties it)")]


@dataclass
class MoveResult:
    old: Path
    new: Path
    bytes: int
    profiles: list[str]  # the profiles that now use the new folder


def _size(root: Path) -> int:
    total = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder, d).relative_to(root) not in NOT_MOVED]
        total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
    return total


def _copy(old: Path, staging: Path, progress: Callable[[int], None] | None) -> None:
    def copy(src: str, dst: str) -> None:
        shutil.copy2(src, dst, follow_symlinks=False)
        if progress is not None and not os.path.islink(src):
            progress(os.lstat(src).st_size)

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if Path(folder, n).relative_to(old) in NOT_MOVED]

    shutil.copytree(old, staging, symlinks=True, copy_function=copy, ignore=ignore)


def move(ws: Workspace, target: Path, progress: Callable[[int], None] | None = None,
         sized: Callable[[int], None] | None = None) -> MoveResult:
    """Move the profile's data folder to ``target`` (new, or an empty folder), and every profile that used it."""
    old = ws.data_root
    new = Path(target).expanduser().absolute()
    if new == old:
        raise UsageError(f"the data folder is {old} already")
    if new.is_file() or new.is_dir() and any(new.iterdir()):
        raise UsageError(f"--target {new} must be a new or an empty folder",
                         hint="name a folder that does not exist yet on the other disk")
    if old in new.parents:
        raise UsageError(f"--target {new} is inside the data folder {old}")
    users = [p.name for p in ws.config.profiles.values()
             if (Path(p.data_dir).expanduser().absolute() if p.data_dir else ws.home / "data") == old]
    total = _size(old) if old.is_dir() else 0
    if sized is not None:
        sized(total)
    if old.is_dir():
        new.parent.mkdir(parents=True, exist_ok=True)
        if new.is_dir():
            new.rmdir()
        try:
            os.rename(old, new)  # the same disk: nothing is copied
            for skipped in NOT_MOVED:
                shutil.rmtree(new / skipped, ignore_errors=True)
            if progress is not None:
                progress(total)
        except OSError:
            staging = new.with_name(f".{new.name}.partial")
            shutil.rmtree(staging, ignore_errors=True)
            try:
                _copy(old, staging, progress)
                os.rename(staging, new)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            _switch(ws, users, new)
            shutil.rmtree(old, ignore_errors=True)
            return MoveResult(old, new, total, users)
    else:
        new.mkdir(parents=True, exist_ok=True)
    _switch(ws, users, new)
    return MoveResult(old, new, total, users)


def _switch(ws: Workspace, users: list[str], new: Path) -> None:
    for name in users:
        ws.config.profiles[name].data_dir = str(new)
    ws.config.save()


def cleanup(ws: Workspace) -> list[Path]:
    """Remove scratch: running tasks' tmp and what interrupted commands left half-made."""
    root = ws.data_root
    removed = []
    leftovers = [root / "tmp"]
    registries = root / "registries"
    for registry in registries.iterdir() if registries.is_dir() else []:
        for kind in ("datasets", "executions", "tests"):
            folder = registry / kind
            leftovers += [p for p in folder.iterdir() if p.name.startswith(".")] if folder.is_dir() else []
    for path in leftovers:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
