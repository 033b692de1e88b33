"""Confidential results: what encryption adds to `result submit` and `result view`, and `result reencrypt`
of many results after a key rotation.

1. Per result: sealing the metrics for two readers (what `result submit` adds: the canonical JSON, age
   encryption to two SSH ed25519 keys, fingerprints) and opening them (what `result view` adds: reading the
   profile's key, decrypting, checking the sha256), median of many runs; plus importing pyrage in a fresh
   interpreter, which a command pays once.
2. Re-encryption: a tutorial registry whose committee benchmark holds N encrypted results; the benchmark
   owner rotates their key; the data owner runs the re-encryption flow (decrypt, encrypt to the current
   readers, one submission with N changed records, its policy and lint, the merge), timed end to end.

    python benchmarks/bench_confidential.py [--results 1000] [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medperf_git.records import envelope  # noqa: E402
from medperf_git.registry.signing import generate_key, public_key  # noqa: E402

METRICS = {"Accuracy": 0.7142857142857143, "AUC": 0.5714285714285714, "per_class": {"0": [0.5, 0.25]}}


def per_result(root: Path, runs: int) -> dict:
    keys = [generate_key(root / f"k{i}" / "id_ed25519", f"reader{i}") for i in range(2)]
    readers = [envelope.Recipient(f"reader{i}", public_key(k)) for i, k in enumerate(keys)]
    envelope.seal(METRICS, readers)  # warm: pyrage is imported once per command
    seal, open_ = [], []
    for _ in range(runs):
        start = time.perf_counter()
        sealed = envelope.seal({"metrics": METRICS}, readers)
        seal.append(time.perf_counter() - start)
        start = time.perf_counter()
        pub = [public_key(keys[0])]
        assert envelope.can_open(sealed, pub)
        envelope.open_content(sealed, keys[0])
        open_.append(time.perf_counter() - start)
    imports = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); import pyrage; "
                              "print(time.perf_counter() - t)"], capture_output=True, text=True, check=True)
        imports.append(float(out.stdout))
    return {"seal_ms_median": 1000 * statistics.median(seal), "seal_ms_p95": 1000 * sorted(seal)[int(.95 * runs)],
            "open_ms_median": 1000 * statistics.median(open_), "open_ms_p95": 1000 * sorted(open_)[int(.95 * runs)],
            "import_pyrage_ms_median": 1000 * statistics.median(imports),
            "payload_chars": len(sealed["payload"])}


def reencrypt(root: Path, count: int) -> dict:
    from medperf_git.flows import confidential
    from medperf_git.flows.session import RegistrySession
    from medperf_git.records.yamlio import load_record
    from tests.support.tutorial_registry import commit_records, seed_tutorial_registry

    registry, actors, _ = seed_tutorial_registry(root)
    bo, do, admin = actors["testbo"], actors["testdo"], actors["testadmin"]
    from medperf_git.registry.git import GitRepo

    repo = GitRepo(registry)
    bench = load_record(repo.read_path("refs/heads/main", "benchmarks/1.yaml"), "benchmarks/1.yaml")
    bench["result_visibility"] = "committee"
    uid = "tree-v1:sha256:" + "ab" * 32
    model = load_record(repo.read_path("refs/heads/main", "containers/4.yaml"), "containers/4.yaml")
    metrics = load_record(repo.read_path("refs/heads/main", "containers/3.yaml"), "containers/3.yaml")
    from medperf_git.hashing import canonical_json_hash

    def run(c):
        return {"id": c["id"], "config_hash": canonical_json_hash(c["config"]),
                "parameters_hash": canonical_json_hash(c.get("parameters") or {}), "source": c["source"]}

    readers = [envelope.Recipient(h, public_key(a.key)) for h, a in (("testbo", bo), ("testdo", do))]
    records = {"benchmarks/1.yaml": bench,
               "datasets/1.yaml": {"schema_version": 1, "kind": "dataset", "id": 1, "name": "d", "owner": "testdo",
                                   "benchmark": 1, "data_preparation": 1, "input_data_hash": uid,
                                   "generated_uid": uid, "tool_version": "0.1.0",
                                   "encrypted": envelope.seal({"statistics": {"num_cases": 12}}, readers)},
               "associations/1/dataset-1.yaml": {"schema_version": 1, "kind": "association", "benchmark": 1,
                                                 "dataset": 1, "initiated_by": "testdo"}}
    for i in range(1, count + 1):
        name = "b1m4d1" if i == 1 else f"b1m4d1-{i}"
        records[f"results/1/{name}.yaml"] = {
            "schema_version": 1, "kind": "result", "name": name, "benchmark": 1, "model": 4, "dataset": 1,
            "owner": "testdo", "partial": False, "created_at": f"2026-01-01T00:00:{i % 60:02d}Z",
            "provenance": {"dataset_uid": uid, "containers": {"model": run(model), "metrics": run(metrics)},
                           "runner": "sandbox", "isolation": "sandbox", "tool_version": "0.1.0"},
            "encrypted": envelope.seal({"metrics": dict(METRICS, run=i)}, readers)}
    commit_records(registry, admin, records, f"{count} committee results")
    new_key = generate_key(root / "rotated" / "id_ed25519", "testbo@rotated")
    person = load_record(repo.read_path("refs/heads/main", "people/testbo.yaml"), "people/testbo.yaml")
    person["keys"] = [public_key(new_key)]
    commit_records(registry, admin, {"people/testbo.yaml": person}, "testbo rotates their key")
    with do.active():
        RegistrySession.load().fetch()  # the clone and index exist, as on a machine in use
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        s = RegistrySession.load()
        done = confidential.reencrypt(s, benchmark=1, confirm=lambda summary: True)
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_before
    assert done.outcome is not None and done.outcome.merged, done.outcome
    assert len(done.records) == count
    return {"results": count, "reencrypt_s": elapsed, "reencrypt_cpu_s": cpu, "merged": done.outcome.merged}


def _cpu_seconds() -> float:
    """User and system time of this process and of the git processes it waited for: on a shared machine the
    wall time also counts other people's work, the CPU time does not."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("GIT_TERMINAL_PROMPT", "0")
        report = {"load_before": os.getloadavg(), "per_result": per_result(root / "keys", args.runs),
                  "reencrypt": reencrypt(root / "registry", args.results), "load_after": os.getloadavg()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
