"""Where things live under ``$MEDPERF_GIT_HOME``.

Everything derived from a registry sits under that registry's root commit id, because ids and
result names only mean something within one registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from medperf_git.workspace.config import Config, Profile


def home_dir() -> Path:
    return Path(os.environ.get("MEDPERF_GIT_HOME") or Path.home() / ".medperf_git").expanduser().absolute()


@dataclass
class Workspace:
    """The home folder, the loaded config and the profile chosen for this command."""

    home: Path
    config: Config
    profile: Profile
    offline: bool = False

    @classmethod
    def load(cls, profile_name: str | None = None, offline: bool = False) -> Workspace:
        home = home_dir()
        config = Config.load(home / "config.yaml")
        return cls(home=home, config=config, profile=config.get(profile_name), offline=offline)

    # Small, shared state
    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    # Large data: prepared datasets, predictions, downloads, virtual environments
    @property
    def data_root(self) -> Path:
        if self.profile.data_dir:
            return Path(self.profile.data_dir).expanduser().absolute()
        return self.home / "data"

    @property
    def cache_dir(self) -> Path:
        return self.data_root / "cache"

    @property
    def downloads_dir(self) -> Path:
        return self.cache_dir / "downloads"

    @property
    def venvs_dir(self) -> Path:
        return self.cache_dir / "venvs"

    # Per registry, keyed by its root commit
    def registry_dir(self, root_commit: str) -> Path:
        return self.home / "registries" / root_commit

    def registry_data_dir(self, root_commit: str) -> Path:
        return self.data_root / "registries" / root_commit
