#!/usr/bin/env python3
"""Deterministic mock CheXpert-style raw data for the chest X-ray tutorial, of any size.

Writes ``OUT/images/<Image ID>.png`` (64x64 8-bit grayscale) and ``OUT/labels/labels.csv`` (columns
``Image ID`` and ``Label``, one of MedPerf's 14 labels). Each image has a chest-like background,
noise, and a bright blob in a grid cell that depends on its label, so that the example models do
better than chance. The same arguments always give byte-identical files: the PNG encoder below uses
stored (uncompressed) deflate blocks, which no zlib version can change.

Standard library only: it runs on the host, before any container.

    python3 make_mock_data.py --out medperf_tutorial/sample_raw_data --count 50 --seed 0
"""

from __future__ import annotations

import argparse
import csv
import random
import struct
import sys
import zlib
from pathlib import Path

LABELS = ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
          "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia")
# Rough relative frequencies, so the label counts are not uniform (infiltration is the most common).
FREQUENCIES = (10, 3, 12, 18, 5, 6, 2, 5, 4, 2, 2, 2, 3, 1)
SIZE = 64
CELL = SIZE // 4


def _stored_zlib(raw: bytes) -> bytes:
    """A zlib stream of stored deflate blocks: valid for every decoder, identical everywhere."""
    out = bytearray(b"\x78\x01")
    chunks = [raw[i:i + 65535] for i in range(0, len(raw), 65535)] or [b""]
    for n, chunk in enumerate(chunks):
        out.append(1 if n == len(chunks) - 1 else 0)
        out += struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF)
        out += chunk
    out += struct.pack(">I", zlib.adler32(raw))
    return bytes(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(pixels: list[bytes], width: int) -> bytes:
    """An 8-bit grayscale PNG from rows of ``width`` bytes each."""
    raw = b"".join(b"\x00" + row for row in pixels)
    header = struct.pack(">IIBBBBB", width, len(pixels), 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", _stored_zlib(raw))
            + _chunk(b"IEND", b""))


def _blob_center(cell: int, rng: random.Random) -> tuple[float, float]:
    row, col = divmod(cell, 4)
    return (col * CELL + CELL / 2 + rng.uniform(-2, 2), row * CELL + CELL / 2 + rng.uniform(-2, 2))


def _background() -> list[list[float]]:
    """A vertical brightness gradient with two darker lung fields, shared by every image."""
    rows = []
    for y in range(SIZE):
        row = []
        for x in range(SIZE):
            value = 50 + 70 * y / (SIZE - 1)
            for cx in (20, 44):
                if ((x - cx) / 11) ** 2 + ((y - 33) / 22) ** 2 < 1:
                    value -= 30
            row.append(value)
        rows.append(row)
    return rows


BACKGROUND = _background()


def make_image(label_index: int, rng: random.Random) -> list[bytes]:
    """Rows of one 64x64 mock X-ray whose bright blob sits in the grid cell of its label."""
    noise = rng.randbytes(SIZE * SIZE)  # uniform in -40..40 below
    pixels = [[value + noise[y * SIZE + x] * (80 / 255) - 40 for x, value in enumerate(row)]
              for y, row in enumerate(BACKGROUND)]
    blobs = [(*_blob_center(label_index, rng), rng.uniform(20, 70))]
    if rng.random() < 0.5:  # a distractor elsewhere, so the task is not trivial
        blobs.append((*_blob_center(rng.randrange(16), rng), rng.uniform(20, 60)))
    for bx, by, strength in blobs:
        for y in range(max(0, int(by) - 5), min(SIZE, int(by) + 6)):
            for x in range(max(0, int(bx) - 5), min(SIZE, int(bx) + 6)):
                if (x - bx) ** 2 + (y - by) ** 2 < 20:
                    pixels[y][x] += strength
    return [bytes(max(0, min(255, int(v))) for v in row) for row in pixels]


def make_mock_data(out: Path, count: int, seed: int) -> list[tuple[str, str]]:
    """Write ``count`` images and their labels.csv under ``out``; return the (Image ID, Label) rows."""
    if count < 1:
        raise ValueError("count must be at least 1")
    images, labels = out / "images", out / "labels"
    for folder in (images, labels):
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty; choose another --out")
        folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = rng.choices(range(len(LABELS)), weights=FREQUENCIES)[0]
        image_id = f"{i + 1:08d}_000"
        (images / f"{image_id}.png").write_bytes(encode_png(make_image(label, rng), SIZE))
        rows.append((image_id, LABELS[label]))
    with open(labels / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["Image ID", "Label"])
        writer.writerows(rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to create images/ and labels/ in")
    parser.add_argument("--count", type=int, default=50, help="number of images (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    try:
        rows = make_mock_data(args.out, args.count, args.seed)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(rows)} images and labels.csv under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
