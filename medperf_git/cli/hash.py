"""``medperf-git hash``: the tree-v1 (or MedPerf) hash of folders, as the registry records it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from medperf_git.cli._options import json_option
from medperf_git.cli._output import out
from medperf_git.errors import UsageError


def _labelled_roots(paths: tuple[str, ...], labels: tuple[str, ...]) -> dict[str, str]:
    """Each PATH labelled by its folder's name, plus the explicit ``--label NAME=PATH`` roots."""
    roots: dict[str, str] = {}

    def add(name: str, path: str) -> None:
        if name in roots:
            raise UsageError(f"two roots are labelled '{name}': {roots[name]} and {path}",
                             hint="label them yourself: --label NAME=PATH")
        roots[name] = path

    for spec in labels:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--label {spec!r}: expected NAME=PATH")
        add(name, path)
    for path in paths:
        add(Path(os.path.abspath(path)).name, path)
    return roots


def _on_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("MEDPERF_GIT_NO_PROGRESS") != "1"


@click.command("hash", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, metavar="PATH...")
@click.option("--algorithm", type=click.Choice(["tree-v1", "medperf"]), default="tree-v1", show_default=True,
              help="tree-v1 (names and contents; the registry's) or medperf (MedPerf's folder hash, contents only).")
@click.option("--label", "labels", multiple=True, metavar="NAME=PATH",
              help="Hash PATH under the label NAME (tree-v1), e.g. --label data=raw/images --label labels=raw/csv.")
@click.option("--manifest", type=click.Path(dir_okay=False), default=None,
              help="Also save the tree-v1 manifest (one line per file) to this file.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Reading threads (default: automatic).")
@json_option
def hash_command(paths: tuple[str, ...], algorithm: str, labels: tuple[str, ...], manifest: str | None,
                 workers: int | None, as_json: bool) -> None:
    """Hash folders as the registry does.

    Each PATH is labelled by its folder's name: `medperf-git hash raw/data raw/labels` hashes the roots `data`
    and `labels`, giving the dataset's input_data_hash. Symbolic links, FIFOs, devices and names holding a
    newline or a backslash are refused.
    """
    from medperf_git import hashing

    if not paths and not labels:
        raise UsageError("give at least one PATH (or --label NAME=PATH)")
    if algorithm == "medperf":
        if manifest:
            raise UsageError("--manifest needs --algorithm tree-v1")
        folders = [spec.partition("=")[2] or spec for spec in labels] + list(paths)
        show = _on_terminal() and not as_json
        with out.progress(None, "Hashing", enabled=show) as bar:
            digest, files, nbytes = hashing.medperf_hash_info(folders, workers=workers, progress=bar if show else None)
    else:
        roots = _labelled_roots(paths, labels)
        show = _on_terminal() and not as_json
        total = hashing.count_bytes(roots) if show else None  # a cheap stat-only pass, to size the bar
        with out.progress(total, "Hashing", enabled=show) as bar:
            th = hashing.tree_hash(roots, workers=workers, progress=bar if show else None)
        digest, files, nbytes = th.digest, th.files, th.total_bytes
        if manifest:
            hashing.write_manifest(manifest, th)
    if as_json:
        out.json({"algorithm": algorithm, "digest": digest, "files": files, "bytes": nbytes})
        return
    out.echo(digest)
    out.info(f"{files} files, {nbytes} bytes" + (f"; manifest saved to {manifest}" if manifest else ""))
    if algorithm == "medperf":
        out.next_step("compare it with medperf_generated_uid (prepared data) or medperf_input_data_hash (raw data) "
                      "in `medperf-git dataset view ID`, or with MedPerf's own generated_uid",
                      "MedPerf's hash; generated_uid and input_data_hash hold tree-v1")
    else:
        out.next_step("compare it with the registry's value, e.g. `medperf-git dataset view ID`",
                      "the generated UID is this digest's hex part")
