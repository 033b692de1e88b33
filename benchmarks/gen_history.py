"""Synthetic registries with a real history, for the audit's benchmarks.

``registry init`` makes the registry (a root commit signed by its admin); the admin then registers
``--people`` people and adds benchmark 1 with its three containers, straight on main; then each of
``--merges`` merges is one person's self-service dataset, as the git-native forge merges it: a
signed content commit, a merge commit signed by the person, and a signed meta chain (opened,
merged) in ``refs/pull/N``. Every commit is signed with a real SSH key, so the result audits clean.

    python benchmarks/gen_history.py PATH [--merges 1000] [--people 10]

Used as a library: ``generate_history(path, merges) -> History`` and ``add_merge(history, i)``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from medperf_git.records.yamlio import dump_yaml  # noqa: E402
from medperf_git.registry import submissions  # noqa: E402
from medperf_git.registry.commits import Identity, commit_changes, commit_tree, update_ref  # noqa: E402
from medperf_git.registry.git import GitRepo  # noqa: E402
from medperf_git.registry.signing import generate_key, public_key  # noqa: E402

MAIN = "refs/heads/main"


@dataclass
class History:
    path: Path
    repo: GitRepo
    people: dict[str, Identity]
    merges: int = 0


def _container(cid: int, owner: str, task: str) -> dict:
    labels = {"prepare": ["data_path", "labels_path"], "infer": ["data_path"], "evaluate": ["predictions", "labels"]}
    tasks = {t: {"input_volumes": {lab: {"mount_path": f"/mlcommons/volumes/{lab}", "type": "directory"}
                                   for lab in labels.get(t, ["data_path"])},
                 "output_volumes": {"output_path": {"mount_path": "/mlcommons/volumes/output", "type": "directory"}}}
             for t in ([task, "sanity_check", "statistics"] if task == "prepare" else [task])}
    return {"schema_version": 1, "kind": "container", "id": cid, "name": f"{task}-{cid}", "owner": owner,
            "config": {"tasks": tasks}, "image": {"reference": f"registry.example.org/c{cid}:1",
                                                   "digest": "sha256:" + f"{cid:02x}" * 32}}


def _dataset(did: int, owner: str) -> dict:
    return {"schema_version": 1, "kind": "dataset", "id": did, "name": f"dataset {did}", "owner": owner,
            "benchmark": 1, "data_preparation": 1, "input_data_hash": f"tree-v1:sha256:{did:064x}",
            "generated_uid": f"tree-v1:sha256:{did + 10**9:064x}", "statistics": {"num_cases": did},
            "tool_version": "0.1.0"}


def generate_history(path: str | os.PathLike, merges: int, *, people: int = 10) -> History:
    from medperf_git.flows.registry_init import init_registry
    from medperf_git.workspace import Workspace

    path = Path(path)
    keys = path.parent / f"{path.name}-keys"
    handles = ["admin"] + [f"user{i}" for i in range(1, people + 1)]
    ids = {}
    for handle in handles:
        key = generate_key(keys / handle / "id_ed25519", handle)
        ids[handle] = Identity(handle.title(), f"{handle}@example.org", str(key))
    os.environ.setdefault("MEDPERF_GIT_HOME", str(keys / "home"))
    ws = Workspace.load()
    init_registry(ws, path, name="history", admins=["admin"], admin_name="Admin", admin_email="admin@example.org",
                  signing_key=Path(ids["admin"].signing_key), bare=True)
    repo = GitRepo(path)
    main = repo.rev_parse(MAIN)
    setup = {f"people/{h}.yaml": dump_yaml({"schema_version": 1, "kind": "person", "handle": h,
                                             "name": ids[h].name, "email": ids[h].email,
                                             "keys": [public_key(ids[h].signing_key)]}).encode()
             for h in handles[1:]}
    setup.update({f"containers/{c}.yaml": dump_yaml(_container(c, "user1", t)).encode()
                  for c, t in ((1, "prepare"), (2, "infer"), (3, "evaluate"))})
    setup["benchmarks/1.yaml"] = dump_yaml({
        "schema_version": 1, "kind": "benchmark", "id": 1, "name": "history", "description": "Audit benchmark",
        "owners": ["user1"],
        "data_preparation": 1, "reference_model": 2, "metrics": 3,
        "association_policy": {"datasets": {"mode": "never"}, "models": {"mode": "never"}},
        "approvals_required": 1}).encode()
    new = commit_changes(repo, main, setup, "People, containers and benchmark 1", ids["admin"])
    update_ref(repo, MAIN, new, main)
    history = History(path, repo, {h: ids[h] for h in handles[1:]})
    for _ in range(merges):
        add_merge(history)
    return history


def add_merge(history: History) -> str:
    """One more self-service dataset, merged as the git-native forge merges it; returns the merge."""
    repo, n = history.repo, history.merges + 1
    handle = sorted(history.people)[n % len(history.people)]
    who = history.people[handle]
    main = repo.rev_parse(MAIN)
    head = commit_changes(repo, main, {f"datasets/{n}.yaml": dump_yaml(_dataset(n, handle)).encode()},
                          f"Register dataset {n}\n\nKind: dataset\n", who)
    summary = {"number": n, "title": f"dataset {n}", "author": handle, "kind": "dataset", "base": main,
               "state": "open"}
    opened = submissions.event_commit(repo, who, handle, None, summary, 1, "opened", head=head)
    tree = repo.out("merge-tree", "--write-tree", main, head).splitlines()[0]
    merge = commit_tree(repo, tree, [main, head],
                        f"Merge submission #{n}: dataset {n}\n\nSubmission: {n}\nHead: {head}\n", who)
    meta = submissions.event_commit(repo, who, handle, opened, dict(summary, state="merged"), 2, "merged", commit=merge,
                              head=head)
    repo.git("update-ref", "--stdin", input=f"update refs/pull/{n}/head {head}\nupdate refs/pull/{n}/meta {meta}\n"
                                           f"update {MAIN} {merge} {main}\n")
    history.merges = n
    return merge


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--merges", type=int, default=1000)
    parser.add_argument("--people", type=int, default=10)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        os.environ.setdefault("MEDPERF_GIT_HOME", home)
        generate_history(args.path, args.merges, people=args.people)
    print(f"{args.path}: {args.merges} merges in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
