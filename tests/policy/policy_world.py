"""A small registry with a benchmark, its containers, a model and a dataset, and helpers to submit
and approve as different people (each with their own key), for the policy, audit and CI tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from medperf_git.records.yamlio import dump_yaml, load_yaml
from medperf_git.registry.commits import commit_changes, commit_tree, update_ref
from medperf_git.registry.git import GitRepo
from tests.support.actors import Actor, seed_registry

HANDLES = ["admin", "bo", "mo", "do", "eve"]


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def tree_hash(text: str) -> str:
    return "tree-v1:" + sha(text)


def image(name: str) -> dict:
    return {"reference": f"registry.example.org/{name}:1.0", "digest": sha(name)}


def container(cid: int, owner: str, task: str) -> dict:
    labels = {"prepare": ["data_path", "labels_path"], "infer": ["data_path"], "evaluate": ["predictions", "labels"]}
    tasks = {task: {"input_volumes": {lab: {"mount_path": f"/mlcommons/volumes/{lab}", "type": "directory"}
                                      for lab in labels[task]},
                    "output_volumes": {"output_path": {"mount_path": "/mlcommons/volumes/output",
                                                       "type": "directory"}}}}
    if task == "prepare":
        for extra in ("sanity_check", "statistics"):
            tasks[extra] = {"input_volumes": {"data_path": {"mount_path": "/mlcommons/volumes/data_path",
                                                            "type": "directory"}},
                            "output_volumes": {"output_path": {"mount_path": "/mlcommons/volumes/output",
                                                               "type": "directory"}}}
    return {"schema_version": 1, "kind": "container", "id": cid, "name": f"{task}-{cid}", "owner": owner,
            "description": f"{task} container", "config": {"tasks": tasks}, "image": image(f"c{cid}")}


def benchmark(bid: int = 1, owners=("bo",), **extra) -> dict:
    record = {"schema_version": 1, "kind": "benchmark", "id": bid, "name": f"benchmark-{bid}",
              "description": "A benchmark", "docs_url": "https://example.org/docs", "owners": list(owners),
              "data_preparation": 1, "reference_model": 2, "metrics": 3,
              "association_policy": {"datasets": {"mode": "never"}, "models": {"mode": "never"}},
              "approvals_required": 1, "min_isolation": "none"}
    record.update(extra)
    return record


def dataset(did: int, owner: str) -> dict:
    return {"schema_version": 1, "kind": "dataset", "id": did, "name": f"dataset {did}", "description": "d",
            "location": "Here", "owner": owner, "benchmark": 1, "data_preparation": 1,
            "input_data_hash": tree_hash(f"in{did}"), "generated_uid": tree_hash(f"g{did}"),
            "statistics": {"rows": 1}, "tool_version": "0.1.0"}


def association(component: str, cid: int, initiated_by: str, bid: int = 1, **extra) -> dict:
    record = {"schema_version": 1, "kind": "association", "benchmark": bid, component: cid,
              "initiated_by": initiated_by}
    record.update(extra)
    return record


def result(model: int, did: int, owner: str, isolation: str = "container", **overrides) -> dict:
    runs = {role: {"id": cid, "config_hash": sha(f"cfg{cid}"), "parameters_hash": sha(f"p{cid}"),
                   "image": image(f"c{cid}")}
            for role, cid in (("data_preparation", 1), ("model", model), ("metrics", 3))}
    record = {"schema_version": 1, "kind": "result", "name": f"b1m{model}d{did}", "benchmark": 1, "model": model,
              "dataset": did, "owner": owner, "metrics": {"accuracy": 0.9}, "partial": False,
              "provenance": {"dataset_uid": tree_hash(f"g{did}"), "containers": runs, "runner": "docker",
                             "isolation": isolation, "tool_version": "0.1.0"},
              "created_at": "2026-01-01T00:00:00Z"}
    record.update(overrides)
    return record


def y(record: dict) -> bytes:
    return dump_yaml(record).encode()


class World:
    """Registry (bare, on disk) where: containers 1-3 (benchmark's, owner bo), 4 (model, owner mo);
    benchmark 1 (owners bo); dataset 1 (owner do) associated; model 4 associated."""

    def __init__(self, tmp_path: Path, *, registry_settings: dict | None = None, populate: bool = True):
        self.path, self.actors = seed_registry(tmp_path, HANDLES, registry_settings=registry_settings)
        self.repo = GitRepo(self.path)
        self._n = 0
        if populate:
            self.direct({
                "containers/1.yaml": y(container(1, "bo", "prepare")),
                "containers/2.yaml": y(container(2, "bo", "infer")),
                "containers/3.yaml": y(container(3, "bo", "evaluate")),
                "containers/4.yaml": y(container(4, "mo", "infer")),
                "benchmarks/1.yaml": y(benchmark()),
                "datasets/1.yaml": y(dataset(1, "do")),
                "associations/1/dataset-1.yaml": y(association("dataset", 1, "do")),
                "associations/1/model-4.yaml": y(association("model", 4, "mo", priority=0)),
            }, "Populate the test registry")

    def __getitem__(self, handle: str) -> Actor:
        return self.actors[handle]

    @property
    def main(self) -> str:
        return self.repo.rev_parse("refs/heads/main")

    def read(self, path: str, rev: str | None = None) -> dict:
        return load_yaml(self.repo.read_path(rev or self.main, path))

    def direct(self, changes: dict, message: str, who: str = "admin") -> str:
        """A commit pushed straight onto main (admins keep the registry this way)."""
        old = self.main
        new = commit_changes(self.repo, old, changes, message, self.actors[who].identity)
        update_ref(self.repo, "refs/heads/main", new, old)
        return new

    def submit(self, who: str, changes: dict, parent: str | None = None, message: str = "Submit") -> str:
        """A signed content commit on its own ref (a submission head)."""
        self._n += 1
        sha_ = commit_changes(self.repo, parent or self.main, changes, message, self.actors[who].identity)
        self.repo.git("update-ref", f"refs/test/{self._n}", sha_)
        return sha_

    def approve(self, who: str, head: str, handle: str | None = None) -> str:
        tree = self.repo.out("rev-parse", f"{head}^{{tree}}")
        return commit_tree(self.repo, tree, [head], f"Approve\n\nApproved-by: {handle or who}",
                           self.actors[who].identity)

    def merge(self, head: str, who: str = "admin", author: str | None = None) -> str:
        """Merge ``head`` into main as the git-native forge does: a clean merge commit (first parent main)
        and a submission's signed meta chain (opened by its author, merged by ``who``) recording it."""
        old = self.main
        tree = self.repo.out("merge-tree", "--write-tree", old, head).splitlines()[0]
        new = commit_tree(self.repo, tree, [old, head], "Merge submission", self.actors[who].identity)
        self.record(head, new, who, author or self._author_of(head, fallback=who))
        update_ref(self.repo, "refs/heads/main", new, old)
        return new

    def record(self, head: str, merge: str, who: str, author: str, *, closed_by: str | None = None) -> int:
        """A submission's meta chain ending in a merged event for ``merge`` (after a closed event if asked)."""
        from medperf_git.registry import submissions

        number = len(submissions.pull_refs(self.repo)) + 1
        summary = {"number": number, "title": "test", "author": author, "kind": "test", "base": self.main,
                   "state": "open"}
        meta = submissions.event_commit(self.repo, self.actors[author].identity, author, None, summary, 1, "opened",
                                  head=head)
        seq = 2
        if closed_by:
            meta = submissions.event_commit(self.repo, self.actors[closed_by].identity, closed_by, meta,
                                      dict(summary, state="closed"), seq, "closed", reason="withdrawn")
            seq += 1
        meta = submissions.event_commit(self.repo, self.actors[who].identity, who, meta,
                                        dict(summary, state="merged"), seq, "merged", commit=merge, head=head)
        self.repo.git("update-ref", f"refs/pull/{number}/head", head)
        self.repo.git("update-ref", f"refs/pull/{number}/meta", meta)
        return number

    def _author_of(self, head: str, fallback: str) -> str:
        from medperf_git.errors import PolicyDenied
        from medperf_git.policy.approvals import content_author
        from medperf_git.policy.base import BaseRecords
        from medperf_git.policy.lineage import lineage

        try:
            return content_author(self.repo, lineage(self.repo, self.main, head), BaseRecords(self.repo, self.main)
                                  .people)
        except PolicyDenied:
            return fallback
