"""Prepared datasets on this machine, one folder per generated UID.

A dataset folder holds ``data/``, ``labels/``, ``metadata/``, ``statistics.yaml``, the tree-v1
manifest and ``dataset.yaml`` (what medperf-git knows about it: its name, the raw paths, the
hashes, and its registry id once submitted). The manifest can hold patient-derived file names, so
it never leaves this folder.

A dataset registered the MedPerf way (``dataset submit -d DATA -l LABELS``) exists here before it is
prepared: its folder and its UID are its raw data's hash (MedPerf's ``in_uid``), kept as ``uid`` after
preparation, so the UID the user was given keeps working until the registry gives an id.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_git.errors import RecordNotFound, UsageError
from medperf_git.records.yamlio import YamlError, load_yaml_file
from medperf_git.workspace.atomic import write_yaml

INFO = "dataset.yaml"
MANIFEST = "manifest.tree-v1"
READY = ".ready"
MIN_PREFIX = 6


def uid_hex(generated_uid: str) -> str:
    return generated_uid.rsplit(":", 1)[-1]


@dataclass
class LocalDataset:
    path: Path
    info: dict[str, Any]

    @property
    def generated_uid(self) -> str:
        return self.info["generated_uid"]

    @property
    def uid(self) -> str:
        """The UID as users see it: bare hex (the registration UID, for a dataset registered before preparing)."""
        return self.info.get("uid") or uid_hex(self.generated_uid)

    @property
    def state(self) -> str:
        """development (not published yet; MedPerf's DEVELOPMENT) or operational (published)."""
        return "development" if self.registry_id is None else "operational"

    def matches(self, prefix: str) -> bool:
        return self.uid.startswith(prefix) or bool(self.info.get("generated_uid")) and \
            uid_hex(self.generated_uid).startswith(prefix)

    @property
    def registry_id(self) -> int | None:
        return self.info.get("registry_id")

    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def labels_dir(self) -> Path:
        return self.path / "labels"

    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST

    @property
    def ready(self) -> bool:
        return (self.path / READY).exists()

    def save(self) -> None:
        write_yaml(self.path / INFO, self.info)


class LocalDatasets:
    """The prepared datasets of one registry on this machine."""

    def __init__(self, root: Path):
        self.root = root

    def staging_dir(self, key: str) -> Path:
        """A fresh folder to prepare into; an interrupted earlier attempt is discarded."""
        path = self.root / f".staging-{key}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def all(self) -> list[LocalDataset]:
        if not self.root.is_dir():
            return []
        found = []
        for child in sorted(self.root.iterdir()):
            if child.name.startswith(".") or not (child / INFO).exists():
                continue
            try:
                info = load_yaml_file(child / INFO)
            except YamlError:
                continue
            if isinstance(info, dict) and "generated_uid" in info:
                found.append(LocalDataset(child, info))
        return found

    def path_for(self, generated_uid: str) -> Path:
        return self.root / uid_hex(generated_uid)

    def find(self, data_uid: str | int) -> LocalDataset:
        """All digits: a registry id. Anything else: a prefix (6+ characters) of a local UID."""
        text = str(data_uid).strip()
        datasets = self.all()
        if text.isdigit():
            matches = [d for d in datasets if d.registry_id == int(text)]
            if not matches:
                raise RecordNotFound(f"no dataset on this machine has registry id {text}",
                                     hint="see `medperf-git dataset ls --local`; a dataset gets its id once "
                                          "`medperf-git dataset submit` has merged")
            return matches[0]
        prefix = text.lower().removeprefix("tree-v1:sha256:")
        if len(prefix) < MIN_PREFIX:
            raise UsageError(f"'{text}' is too short: give at least {MIN_PREFIX} characters of the UID, "
                             "or the registry id")
        matches = [d for d in datasets if d.matches(prefix)]
        if not matches:
            raise RecordNotFound(f"no local dataset has a UID starting with '{prefix}'",
                                 hint="see `medperf-git dataset ls --local`")
        if len(matches) > 1:
            raise UsageError(f"'{prefix}' matches {len(matches)} local datasets: "
                             + ", ".join(d.uid[:12] for d in matches), hint="give more characters of the UID")
        return matches[0]
