#!/usr/bin/env python3
"""Deterministic source archives of the chest X-ray containers and of the models' additional files.

For each container folder, ``<name>.tar.gz`` holds ``project/``, ``Dockerfile``,
``container_config.yaml`` and ``parameters.yaml`` at its root: the folder that the ``local:``
section of the config describes. For each model, ``<name>_additional_files.tar.gz`` holds its
``additional_files/`` contents at its root (so ``weights.npz`` lands in the additional_files volume).
Prints one ``<archive> sha256:<hex>`` line per archive. Same files, same sha256. Standard library only.

    python3 make_source_archives.py --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True

from tarballs import tree_entries, write_tarball  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent
CONTAINERS = ("data_preparator", "model_reference", "model_second", "metrics")
SOURCE_FILES = ("Dockerfile", "container_config.yaml", "parameters.yaml")


def make_source_archives(out: Path, root: Path = EXAMPLE) -> list[tuple[str, str]]:
    """Write every archive into ``out``; return ``(archive name, sha256 hex)`` in a fixed order."""
    made = []
    for name in CONTAINERS:
        folder = root / name
        entries = tree_entries(folder / "project", "project") + [(f, folder / f) for f in SOURCE_FILES]
        made.append((f"{name}.tar.gz", write_tarball(out / f"{name}.tar.gz", entries)))
        extra = folder / "additional_files"
        if extra.is_dir():
            archive = f"{name}_additional_files.tar.gz"
            made.append((archive, write_tarball(out / archive, tree_entries(extra))))
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the archives into")
    parser.add_argument("--root", type=Path, default=EXAMPLE, help="the example folder (default: this one)")
    args = parser.parse_args(argv)
    try:
        made = make_source_archives(args.out, args.root)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for archive, digest in made:
        print(f"{archive} sha256:{digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
