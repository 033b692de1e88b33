"""Prepared submissions that have not reached the remote yet.

A publishing command writes its entry here before it pushes and removes it once the submission is
open, so an unreachable remote or a refused push loses nothing: running the same command again finds
the entry (keyed by what it publishes) and resumes. A ref ``refs/outbox/<key>`` keeps the prepared
commit alive in the workspace clone.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from medperf_git.registry.git import GitRepo
from medperf_git.workspace.atomic import staged_dir, write_yaml


def entry_key(title: str, kind: str, changes: Mapping[str, bytes | None]) -> str:
    digest = hashlib.sha256(json.dumps(
        [title, kind, sorted((p, hashlib.sha256(c).hexdigest() if c is not None else None)
                             for p, c in changes.items())]).encode())
    return digest.hexdigest()[:20]


@dataclass
class OutboxEntry:
    key: str
    title: str
    kind: str
    head: str
    base: str
    created: str
    paths: list[str]
    error: str | None = None

    def to_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "kind": self.kind, "head": self.head, "base": self.base,
                "created": self.created, "paths": self.paths, "error": self.error}


class Outbox:
    def __init__(self, folder: Path, repo: GitRepo):
        self.folder = folder
        self.repo = repo

    def get(self, key: str) -> OutboxEntry | None:
        meta = self.folder / key / "entry.yaml"
        if not meta.exists():
            return None
        from medperf_git.records.yamlio import load_yaml_file

        data = load_yaml_file(meta) or {}
        if not isinstance(data, dict) or not data.get("head") or self.repo.rev_parse(data["head"]) is None:
            return None
        return OutboxEntry(key=key, **{k: data.get(k) for k in ("title", "kind", "head", "base", "created",
                                                                 "paths", "error")})

    def entries(self) -> list[OutboxEntry]:
        if not self.folder.is_dir():
            return []
        found = [self.get(p.name) for p in sorted(self.folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        return [e for e in found if e is not None]

    def save(self, entry: OutboxEntry, changes: Mapping[str, bytes | None]) -> None:
        """Keep the prepared commit and the files it publishes (so nothing depends on the caller's inputs)."""
        self.repo.git("update-ref", f"refs/outbox/{entry.key}", entry.head)
        final = self.folder / entry.key
        self.folder.mkdir(parents=True, exist_ok=True)
        if final.exists():
            write_yaml(final / "entry.yaml", entry.to_dict())
            return
        # A copy for the person to find; the commit under refs/outbox/ is what a re-run publishes, so these
        # files need no fsync of their own, and the folder appears whole or not at all.
        with staged_dir(final) as tmp:
            for path, content in changes.items():
                if content is not None:
                    target = tmp / "files" / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
            write_yaml(tmp / "entry.yaml", entry.to_dict())

    def note_error(self, entry: OutboxEntry, error: str) -> None:
        entry.error = error
        write_yaml(self.folder / entry.key / "entry.yaml", entry.to_dict())

    def remove(self, key: str) -> None:
        self.repo.git("update-ref", "-d", f"refs/outbox/{key}", check=False)
        shutil.rmtree(self.folder / key, ignore_errors=True)
