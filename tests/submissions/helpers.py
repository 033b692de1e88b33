"""Records and registry inspection shared by the submission tests."""

from __future__ import annotations

from pathlib import Path

from medperf_git.records.yamlio import dump_yaml
from medperf_git.registry.git import GitRepo


def container(cid: int, owner: str, name: str | None = None) -> bytes:
    """A valid model container record (self-service for its owner)."""
    volume = {"mount_path": "/mlcommons/volumes/data_path", "type": "directory"}
    out = {"mount_path": "/mlcommons/volumes/output", "type": "directory"}
    tasks = {"infer": {"input_volumes": {"data_path": volume}, "output_volumes": {"output_path": out}}}
    return dump_yaml({
        "schema_version": 1, "kind": "container", "id": cid, "name": name or f"model-{cid}-{owner}", "owner": owner,
        "description": "a test model",
        "config": {"tasks": tasks},
        "parameters": {}, "image": {"reference": "registry.example.org/m:1.0", "digest": "sha256:" + "a" * 64},
    }).encode()


def first_parents(path: Path | str) -> list[str]:
    return GitRepo(path).out("rev-list", "--first-parent", "refs/heads/main").split()


def merges_of(path: Path | str) -> dict[int, list[str]]:
    """Submission number -> the merge commits on main's first-parent chain that merged it."""
    repo = GitRepo(path)
    found: dict[int, list[str]] = {}
    out = repo.out("log", "--first-parent", "--format=%H%x00%B%x1e", "refs/heads/main")
    for record in out.split("\x1e"):
        sha, _, body = record.strip().partition("\0")
        for line in body.splitlines():
            if line.startswith("Submission: "):
                found.setdefault(int(line.split(": ", 1)[1]), []).append(sha)
    return found


def pull_numbers(path: Path | str) -> list[int]:
    refs = GitRepo(path).out("for-each-ref", "--format=%(refname)", "refs/pull/").split()
    return sorted({int(r.split("/")[2]) for r in refs})


def assert_linear_history(path: Path | str) -> None:
    """Main's first-parent chain: each merge's first parent is the previous main (nothing rewound)."""
    repo = GitRepo(path)
    chain = first_parents(path)
    for newer, older in zip(chain, chain[1:], strict=False):
        parents = repo.out("rev-list", "--parents", "-n", "1", newer).split()[1:]
        assert parents[0] == older
