#!/usr/bin/env python3
"""The chest X-ray benchmark's demo dataset tarball, deterministic: same inputs, same sha256.

The archive holds ``demo_data/images/<id>.png``, ``demo_data/labels/labels.csv`` and ``paths.yaml``
(``{data_path: demo_data/images, labels_path: demo_data/labels}``), as MedPerf's ``demo_data.tar.gz``.
The raw data is made by make_mock_data.py (``--count``, ``--seed``) or taken from ``--from DIR``
(a folder with ``images/`` and ``labels/``). Standard library only.

    python3 make_demo_tarball.py --out demo_data.tar.gz [--count 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True

from make_mock_data import make_mock_data  # noqa: E402
from tarballs import tree_entries, write_tarball  # noqa: E402

PATHS_YAML = "data_path: demo_data/images\nlabels_path: demo_data/labels\n"


def make_demo_tarball(out: Path, raw: Path | None = None, count: int = 10, seed: int = 1) -> str:
    """Write the demo tarball to ``out`` and return its sha256 hex."""
    with tempfile.TemporaryDirectory() as tmp:
        if raw is None:
            raw = Path(tmp) / "raw"
            make_mock_data(raw, count, seed)
        for part in ("images", "labels"):
            if not (raw / part).is_dir():
                raise FileNotFoundError(f"{raw / part} is missing")
        paths = Path(tmp) / "paths.yaml"
        paths.write_text(PATHS_YAML, encoding="utf-8")
        entries = (tree_entries(raw / "images", "demo_data/images") + tree_entries(raw / "labels", "demo_data/labels")
                   + [("paths.yaml", paths)])
        return write_tarball(out, entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo_data.tar.gz"), help="the tarball to write")
    parser.add_argument("--from", dest="raw", type=Path, help="use this raw data folder (images/, labels/)")
    parser.add_argument("--count", type=int, default=10, help="number of mock images (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the mock images (default 1)")
    args = parser.parse_args(argv)
    try:
        digest = make_demo_tarball(args.out, args.raw, args.count, args.seed)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out.name} sha256:{digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
