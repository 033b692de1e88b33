"""Speed of the trust side: approving one submission in a large registry.

Builds a synthetic registry (``gen_registry.generate_registry``), registers two people with real
keys (a data owner and a benchmark owner), opens a dataset-association submission signed by the
data owner, and measures what an approval costs: signing the approval commit, the policy verdict
(author, approvals, base records), lint of the merged tree with history rules, and the merge commit.
The target is at most 5 s for 100,000 records. The audit's own figures come from ``bench_audit.py``.

    python benchmarks/bench_policy.py [--records 100000] [--work DIR] [--registry EXISTING]

Lint is timed twice: parsing the base's facts from its tree (what a fresh CI runner does) and with
the clone's SQLite index brought up to the base (what a client approving does; the index update is
shown apart since a client keeps its index current on every fetch).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.gen_registry import emit, generate_registry  # noqa: E402
from medperf_git.registry.commits import Identity, commit_changes, commit_tree, update_ref  # noqa: E402
from medperf_git.registry.git import GitRepo  # noqa: E402


def _key(folder: Path, name: str) -> tuple[Path, str]:
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path, " ".join(path.with_name(name + ".pub").read_text().split()[:2])


def _timed(label: str, fn, figures: dict):
    start = time.perf_counter()
    value = fn()
    figures[label] = time.perf_counter() - start
    print(f"  {label:<44} {figures[label]:7.3f} s", flush=True)
    return value


def run(records: int, work: Path, existing: Path | None = None) -> dict:
    from medperf_git.lint.linter import lint_tree
    from medperf_git.lint.local import index_facts
    from medperf_git.policy.review import review_submission
    from medperf_git.records.yamlio import load_yaml
    from medperf_git.registry.tree import CommitTree

    figures: dict[str, float] = {}
    path = existing or work / f"registry-{records}"
    if existing is None:
        start = time.perf_counter()
        generate_registry(path, records)
        print(f"generated {records} records in {time.perf_counter() - start:.1f} s")
    repo = GitRepo(path)
    main = repo.rev_parse("refs/heads/main")
    keys = work / "keys"
    keys.mkdir(exist_ok=True)
    for stale in keys.glob("b*"):
        stale.unlink()
    do_key, do_pub = _key(keys, "bdo")
    bo_key, bo_pub = _key(keys, "bbo")
    admin = load_yaml(repo.read_path(main, "registry.yaml"))["admins"][0]
    bench = load_yaml(repo.read_path(main, "benchmarks/1.yaml"))
    bench["owners"] = ["bbo"]
    next_dataset = 1 + max(int(e.path[len("datasets/"):-len(".yaml")]) for e in repo.ls_tree(main, ["datasets/"]))
    dataset = load_yaml(repo.read_path(main, "datasets/1.yaml"))
    dataset.update(id=next_dataset, owner="bdo", name=f"dataset {next_dataset}",
                   generated_uid="tree-v1:sha256:" + "ab" * 32, input_data_hash="tree-v1:sha256:" + "cd" * 32)
    people = {h: {"schema_version": 1, "kind": "person", "handle": h, "name": h.upper(), "email": f"{h}@x.org",
                  "keys": [k]} for h, k in (("bdo", do_pub), ("bbo", bo_pub))}
    setup = {f"people/{h}.yaml": (emit(r) + "\n").encode() for h, r in people.items()}
    setup["benchmarks/1.yaml"] = (emit(bench) + "\n").encode()
    setup[f"datasets/{next_dataset}.yaml"] = (emit(dataset) + "\n").encode()
    admin_id = Identity(admin, f"{admin}@example.org")
    main = commit_changes(repo, main, setup, "Bench set-up", admin_id)
    update_ref(repo, "refs/heads/main", main, repo.rev_parse("refs/heads/main"))
    do = Identity("BDO", "bdo@x.org", str(do_key))
    bo = Identity("BBO", "bbo@x.org", str(bo_key))
    assoc = {"schema_version": 1, "kind": "association", "benchmark": 1, "dataset": next_dataset,
             "initiated_by": "bdo"}
    head = commit_changes(repo, main, {f"associations/1/dataset-{next_dataset}.yaml": (emit(assoc) + "\n").encode()},
                          "Associate", do)
    print(f"approving one submission in a {records}-record registry:")
    tree = repo.out("rev-parse", f"{head}^{{tree}}")
    approval = _timed("sign the approval commit", lambda: commit_tree(
        repo, tree, [head], "Approve\n\nApproved-by: bbo", bo), figures)
    review = _timed("policy verdict (author, approvals, base)", lambda: review_submission(repo, main, approval),
                    figures)
    assert review.verdict.mergeable, review.verdict.summary()
    merged_tree = _timed("merged tree (git merge-tree)", lambda: repo.out(
        "merge-tree", "--write-tree", main, approval).splitlines()[0], figures)
    findings = _timed("(lint, base facts parsed from its tree)", lambda: lint_tree(
        CommitTree(repo, merged_tree), base=CommitTree(repo, main)), figures)
    assert not [f for f in findings if f.severity == "error"], findings
    facts = _timed("(the clone's index brought to the base, once)", lambda: index_facts(repo, main), figures)
    findings = _timed("lint of the merged tree, with the clone's index", lambda: lint_tree(
        CommitTree(repo, merged_tree), base=CommitTree(repo, main), base_facts=facts), figures)
    assert not [f for f in findings if f.severity == "error"], findings
    if facts is not None:
        facts.close()
    _timed("merge commit + compare-and-swap of main", lambda: _merge(repo, merged_tree, main, approval, bo), figures)
    figures["approve total"] = sum(v for k, v in figures.items() if not k.startswith("("))
    print(f"  {'approve total':<44} {figures['approve total']:7.3f} s  (target <= 5 s)")
    return figures


def _merge(repo: GitRepo, tree: str, main: str, head: str, who: Identity) -> str:
    merge = commit_tree(repo, tree, [main, head], "Merge submission", who)
    update_ref(repo, "refs/heads/main", merge, main)
    return merge


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=None, help="keep the registry and keys here")
    parser.add_argument("--registry", type=Path, default=None, help="reuse a registry made by an earlier run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-policy-") as tmp:
        work = args.work or Path(tmp)
        os.environ["MEDPERF_GIT_HOME"] = str(work / "home")  # the index lives in this workspace
        run(args.records, work, args.registry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
