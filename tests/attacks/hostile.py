"""A hostile participant's toolbox: plain git and hand-made objects against a real bare registry.

Everything here is what a registered person with write access to a file-share registry can do without
medperf-git: write blobs, trees and commits (signed with their own key, or written literally), move
refs. The tutorial registry (people testadmin, testbo, testmo, testdo; containers 1-4; benchmark 1)
is the target; the victims use the real commands.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from medperf_git.records.yamlio import dump_yaml
from medperf_git.registry.git import GitRepo
from tests.support.actors import Actor, make_actor
from tests.support.tutorial_registry import seed_tutorial_registry

MAIN = "refs/heads/main"


def plain_git(repo: Path, *args: str, input: bytes | str | None = None, env: dict | None = None) -> str:
    """git as the attacker runs it: no medperf-git in between."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    full.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Someone", "GIT_AUTHOR_EMAIL": "someone@example.org",
                 "GIT_COMMITTER_NAME": "Someone", "GIT_COMMITTER_EMAIL": "someone@example.org", **(env or {})})
    proc = subprocess.run(["git", *args], cwd=repo, input=input.encode() if isinstance(input, str) else input,
                          capture_output=True, env=full, check=True)
    return proc.stdout.decode("utf-8", "surrogateescape").strip()


@dataclass
class Target:
    registry: Path
    actors: dict[str, Actor]
    root: Path

    def git(self, *args: str, input: bytes | str | None = None) -> str:
        return plain_git(self.registry, *args, input=input)

    @property
    def main(self) -> str:
        return self.git("rev-parse", MAIN)

    def read(self, rev: str, path: str) -> str:
        return self.git("show", f"{rev}:{path}")

    def blob(self, data: bytes | str) -> str:
        return self.git("hash-object", "-w", "--stdin", input=data)

    def tree(self, base: str, files: dict[str, bytes | str | None]) -> str:
        """``base``'s tree with files set (or removed with None), through a scratch index: plain git."""
        index = self.root / f"index-{os.getpid()}-{len(files)}-{abs(hash(tuple(files)))}"
        env = {"GIT_INDEX_FILE": str(index)}
        plain_git(self.registry, "read-tree", base, env=env)
        for path, data in files.items():
            if data is None:
                plain_git(self.registry, "update-index", "--force-remove", "--", path, env=env)
            else:
                plain_git(self.registry, "update-index", "--add", "--cacheinfo", f"100644,{self.blob(data)},{path}",
                          env=env)
        tree = plain_git(self.registry, "write-tree", env=env)
        index.unlink(missing_ok=True)
        return tree

    def tree_with_name(self, base: str, folder: str, name: str, data: bytes | str) -> str:
        """``base``'s tree with a file named ``name`` (any bytes git allows: a newline, a control character)
        put in ``folder``, through ``git mktree`` as no index would let it through."""
        entries = plain_git(self.registry, "ls-tree", "-z", f"{base}:{folder}").split("\0")
        listing = [e for e in entries if e] + [f"100644 blob {self.blob(data)}\t{name}"]
        sub = self.git("mktree", "-z", input="\0".join(listing) + "\0")
        root = [e for e in plain_git(self.registry, "ls-tree", "-z", base).split("\0")
                if e and not e.endswith(f"\t{folder}")] + [f"040000 tree {sub}\t{folder}"]
        return self.git("mktree", "-z", input="\0".join(root) + "\0")

    def commit(self, tree: str, parents: list[str], message: str, signer: str | Path | None = None) -> str:
        """``git commit-tree``, signed with an actor's key (a handle) or any key file, or unsigned."""
        args = []
        if signer is not None:
            key = self.actors[signer].key if isinstance(signer, str) else signer
            args = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"]
        parent_args = [arg for p in parents for arg in ("-p", p)]
        return self.git(*args, "commit-tree", tree, *parent_args, *(["-S"] if signer else []), "-m", message)

    def literal_commit(self, raw: bytes) -> str:
        """A commit object written byte for byte, as git would never write it."""
        return self.git("hash-object", "-t", "commit", "--literally", "-w", "--stdin", input=raw)

    def raw(self, sha: str) -> bytes:
        return subprocess.run(["git", "cat-file", "commit", sha], cwd=self.registry, capture_output=True,
                              check=True).stdout

    def set_ref(self, ref: str, sha: str) -> None:
        """Write access to the share is all it takes."""
        self.git("update-ref", ref, sha)

    def clean_merge_tree(self, main: str, head: str) -> str:
        return self.git("merge-tree", "--write-tree", main, head).splitlines()[0]

    def outsider(self, handle: str = "mallory") -> Actor:
        """Someone with a key and write access to the share, but no person record."""
        return make_actor(self.root, handle, str(self.registry))

    def repo(self) -> GitRepo:
        return GitRepo(self.registry)


def tutorial_target(tmp_path: Path, **profile_settings) -> Target:
    registry, actors, _ = seed_tutorial_registry(tmp_path, **profile_settings)
    return Target(registry, actors, tmp_path)


def record(data: dict) -> str:
    return dump_yaml(data)


def dataset(did: int = 1, owner: str = "testdo", uid: str = "b") -> dict:
    """A valid dataset record for benchmark 1 of the tutorial registry; ``uid`` fills its generated UID."""
    return {"schema_version": 1, "kind": "dataset", "id": did, "name": f"data {did}", "owner": owner, "benchmark": 1,
            "data_preparation": 1, "input_data_hash": "tree-v1:sha256:" + "a" * 64,
            "generated_uid": "tree-v1:sha256:" + uid * 64, "statistics": {"num_cases": 3}, "tool_version": "0.1.0"}


def audit_lines(invoke, target: Target, who: str = "testbo"):
    """``registry audit`` of the bare registry, run by a victim: (exit code, output)."""
    with target.actors[who].active():
        result = invoke("registry", "audit", str(target.registry))
    return result.exit_code, result.output


def later(actor: Actor) -> None:
    """Time passes for a client: its copy of the registry is no longer fresh, so its next read asks the remote."""
    for stamp in actor.home.glob("registries/*/fetched-at"):
        os.utime(stamp, (0, 0))
