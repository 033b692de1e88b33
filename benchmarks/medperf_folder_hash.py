"""MedPerf's own folder hash (medperf/utils.py: get_file_hash and get_folders_hash), copied as the baseline.

Run as a script it is MedPerf's function as a whole process: ``python medperf_folder_hash.py FOLDER...`` prints
the hash, importing nothing but what MedPerf's two functions need.
"""

import hashlib
import os
import sys

BUF_SIZE = 65536


def medperf_get_file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            data = f.read(BUF_SIZE)
            if not data:
                break
            h.update(data)
    return h.hexdigest()


def medperf_get_folders_hash(paths: list[str]) -> str:
    hashes = []
    for path in paths:
        for root, _, files in os.walk(path, topdown=False):
            for file in files:
                filepath = os.path.join(root, file)
                hashes.append(medperf_get_file_hash(filepath))
    hashes = sorted(hashes)
    sha = hashlib.sha256()
    for h in hashes:
        sha.update(h.encode("utf-8"))
    return sha.hexdigest()


if __name__ == "__main__":
    print(medperf_get_folders_hash(sys.argv[1:]))
