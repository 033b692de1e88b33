"""Moving a prepared dataset: `dataset export` + `dataset import` against `tar` of the same folder.

    python benchmarks/bench_export.py [--mib 1024] [--files 1024] [--repeat 3] [--workdir DIR]

Builds a registry (tests' tutorial registry, no containers run) and a prepared dataset of ``--mib`` MiB
in ``--files`` files of data plus as many small labels, registered as the data owner's; then, round
by round (interleaved, so a busy machine slows each alike), times as whole processes:
- `tar -cf` of the dataset folder (the reference), and `tar -cf` then `tar -xf` (a round trip);
- `medperf-git dataset export` then `medperf-git dataset import` (which checks tree-v1 on import).
The best of ``--repeat`` rounds is reported. Target (issue 13): export + import within 2x `tar -cf`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MEDPERF_GIT = Path(sys.executable).with_name("medperf-git")


def make_dataset(root: Path, mib: int, files: int) -> dict:
    """A prepared dataset's folders (random .npy-like data, small labels) and its info, as dataset create makes."""
    from medperf_git.hashing import dataset_hashes, medperf_from_lines, write_manifest

    data, labels = root / "data", root / "labels"
    data.mkdir(parents=True)
    labels.mkdir()
    size = (mib << 20) // files
    for i in range(files):
        (data / f"case-{i:06d}.npy").write_bytes(os.urandom(size))
        (labels / f"case-{i:06d}.npy").write_bytes(os.urandom(128))
    (root / "metadata").mkdir()
    (root / "statistics.yaml").write_text(f"num_cases: {files}\n")
    th = dataset_hashes(data, labels)
    write_manifest(root / "manifest.tree-v1", th)
    (root / ".ready").write_text("")
    return {"generated_uid": th.digest, "medperf_generated_uid": medperf_from_lines(th.lines)}


def setup(work: Path, mib: int, files: int) -> tuple[dict, Path, str]:
    """(environment, the dataset's folder, its registry id) for the data owner of a tutorial registry."""
    from medperf_git.flows.dataset import dataset_record
    from medperf_git.flows.session import RegistrySession
    from medperf_git.workspace.datasets import LocalDataset
    from tests.support.tutorial_registry import commit_records, seed_tutorial_registry

    registry, actors, _ = seed_tutorial_registry(work / "world")
    owner = actors["testdo"]
    with owner.active():
        s = RegistrySession.load()
        s.fetch()
        root = s.datasets.root
        s.close()
    staging = root / "bench"
    info = make_dataset(staging, mib, files)
    info.update(name="bench", benchmark=1, data_preparation=1, statistics={"num_cases": files}, registry_id=1,
                input_data_hash="tree-v1:sha256:" + "a" * 64, raw={"data_path": "/nowhere", "labels_path": "/nowhere"},
                tool_version="0.1.0")
    ds = LocalDataset(staging, info)
    final = root / ds.uid
    staging.rename(final)
    LocalDataset(final, info).save()
    commit_records(registry, actors["testadmin"], {"datasets/1.yaml": dataset_record(LocalDataset(final, info), 1,
                                                                                       "testdo")}, "dataset 1")
    env = {**os.environ, "MEDPERF_GIT_HOME": str(owner.home), "MEDPERF_GIT_NO_PROGRESS": "1"}
    return env, final, "1"


def timed(args: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, children included) of one process."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-export-", dir=args.workdir))
    os.environ["MEDPERF_GIT_HOME"] = str(work / "home")
    try:
        env, folder, dataset_id = setup(work, args.mib, args.files)
        print(f"cpu_count={os.cpu_count()} python={sys.version.split()[0]} "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} load={os.getloadavg()[0]:.2f}")
        print(f"dataset: {args.mib} MiB in {args.files} files of data and {args.files} of labels")
        best: dict[str, tuple[float, float]] = {}
        archive, untar = work / "ref.tar", work / "untar"
        exported = work / "exported"
        for _ in range(args.repeat):
            rounds = {}
            rounds["tar -cf"] = timed(["tar", "-cf", str(archive), "-C", str(folder.parent), folder.name])
            untar.mkdir()
            rounds["tar -xf"] = timed(["tar", "-xf", str(archive), "-C", str(untar)])
            shutil.rmtree(untar)
            rounds["export"] = timed([str(MEDPERF_GIT), "dataset", "export", "-d", dataset_id, "-o", str(exported)],
                                     env)
            shutil.move(folder, work / "kept")  # the dataset leaves this machine...
            rounds["import"] = timed([str(MEDPERF_GIT), "dataset", "import", "-d", dataset_id, "-i",
                                      str(exported / f"{dataset_id}.tar")], env)
            shutil.rmtree(work / "kept")  # ...and comes back from the archive, checked
            shutil.rmtree(exported)
            archive.unlink()
            for name, (wall, cpu) in rounds.items():
                old = best.get(name, (float("inf"), float("inf")))
                best[name] = (min(old[0], wall), min(old[1], cpu))
        load = os.getloadavg()[0]
        print(f"\n| step | best wall of {args.repeat} (s) | best CPU (s) |")
        print("|---|---|---|")
        for name, (wall, cpu) in best.items():
            print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
        both = best["export"][0] + best["import"][0]
        print(f"\nexport + import {both:.2f} s = {both / best['tar -cf'][0]:.2f}x tar -cf (target <= 2x); "
              f"{both / (best['tar -cf'][0] + best['tar -xf'][0]):.2f}x tar -cf + tar -xf; load up to {load:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
