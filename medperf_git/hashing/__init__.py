"""Hashing: tree-v1 of labelled folders, MedPerf's folder hash, and single-file / canonical-JSON sha256."""

from medperf_git.hashing.files import (
    canonical_json as canonical_json,
    canonical_json_hash as canonical_json_hash,
    normalize_sha256 as normalize_sha256,
    sha256_bytes as sha256_bytes,
    sha256_file as sha256_file,
)
from medperf_git.hashing.medperf import (
    medperf_from_lines as medperf_from_lines,
    medperf_hash as medperf_hash,
    medperf_hash_info as medperf_hash_info,
)
from medperf_git.hashing.tree import (
    ManifestDiff as ManifestDiff,
    TreeHash as TreeHash,
    TreeHashError as TreeHashError,
    count_bytes as count_bytes,
    dataset_hashes as dataset_hashes,
    dataset_roots as dataset_roots,
    diff_manifests as diff_manifests,
    digest_of as digest_of,
    read_manifest as read_manifest,
    tree_hash as tree_hash,
    write_manifest as write_manifest,
)
