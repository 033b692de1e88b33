"""Deterministic synthetic trees for the hashing benchmarks.

    python benchmarks/gen_tree.py large DEST [--files 16] [--total-mib 1024]
    python benchmarks/gen_tree.py small DEST [--files 20000] [--dirs 100]

Content comes from a seeded generator, so two runs make the same bytes (and the same digests).
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

CHUNK = 8 << 20


def make_large(dest: Path, files: int = 16, total_mib: int = 1024, seed: int = 1) -> int:
    """``files`` files sharing ``total_mib`` MiB of random bytes; returns the bytes written."""
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    per_file = (total_mib << 20) // files
    for i in range(files):
        left = per_file
        with open(dest / f"part-{i:03d}.bin", "wb") as handle:
            while left:
                n = min(CHUNK, left)
                handle.write(rng.randbytes(n))
                left -= n
    return per_file * files


def make_small(dest: Path, files: int = 20000, dirs: int = 100, min_kib: int = 1, max_kib: int = 32,
               seed: int = 2) -> int:
    """``files`` files of ``min_kib``..``max_kib`` KiB spread over ``dirs`` folders; returns the bytes written."""
    rng = random.Random(seed)
    total = 0
    for d in range(dirs):
        (dest / f"d{d:03d}").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        size = rng.randint(min_kib << 10, max_kib << 10)
        path = dest / f"d{i % dirs:03d}" / f"case-{i:06d}.npy"
        with open(path, "wb") as handle:
            handle.write(rng.randbytes(size))
        total += size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["large", "small"])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--files", type=int)
    parser.add_argument("--total-mib", type=int, default=1024)
    parser.add_argument("--dirs", type=int, default=100)
    args = parser.parse_args()
    if args.kind == "large":
        written = make_large(args.dest, files=args.files or 16, total_mib=args.total_mib)
    else:
        written = make_small(args.dest, files=args.files or 20000, dirs=args.dirs)
    print(f"{args.kind}: {written / 2**20:.0f} MiB in {os.fspath(args.dest)}")


if __name__ == "__main__":
    main()
