"""Several people on one machine, each with their own MEDPERF_GIT_HOME, profile and SSH key.

Tests that need a registry with people use :func:`seed_registry`: the first actor creates it with
``registry init --bare`` and the others' people records are committed on main, signed by the admin
(a test shortcut for `person register` + admin approval, so each test starts from a known history).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from medperf_git.records.yamlio import dump_yaml
from medperf_git.registry.commits import Identity, commit_changes, update_ref
from medperf_git.registry.git import GitRepo
from medperf_git.registry.signing import generate_key, public_key
from medperf_git.workspace import Workspace
from medperf_git.workspace.config import Config, Profile


@dataclass
class Actor:
    handle: str
    home: Path  # this person's MEDPERF_GIT_HOME
    key: Path

    @property
    def email(self) -> str:
        return f"{self.handle}@example.org"

    @property
    def name(self) -> str:
        return self.handle.replace("-", " ").title()

    @property
    def identity(self) -> Identity:
        return Identity(self.name, self.email, str(self.key))

    def person_record(self) -> dict:
        return {"schema_version": 1, "kind": "person", "handle": self.handle, "name": self.name,
                "email": self.email, "keys": [public_key(self.key)]}

    @contextlib.contextmanager
    def active(self):
        """Run code (flows or the `invoke` fixture) as this person: their home and profile."""
        old = os.environ.get("MEDPERF_GIT_HOME")
        os.environ["MEDPERF_GIT_HOME"] = str(self.home)
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("MEDPERF_GIT_HOME", None)
            else:
                os.environ["MEDPERF_GIT_HOME"] = old

    def workspace(self) -> Workspace:
        with self.active():
            return Workspace.load()

    def session(self):
        """A registry session as one command of this person's has it (one fetch; make a new one per command)."""
        from medperf_git.flows.session import RegistrySession

        return RegistrySession(self.workspace())


def make_actor(root: Path, handle: str, registry: str | None = None, **profile_settings) -> Actor:
    home = root / f"home-{handle}"
    key = generate_key(home / "keys" / handle / "id_ed25519", f"{handle}@medperf-git")
    config = Config(home / "config.yaml", "default", {})
    config.profiles["default"] = Profile("default", registry=registry, handle=handle, signing_key=str(key),
                                         **profile_settings)
    config.save()
    return Actor(handle, home, key)


def seed_registry(root: Path, handles: list[str], admins: list[str] | None = None, *,
                  registry_settings: dict | None = None, **profile_settings) -> tuple[Path, dict[str, Actor]]:
    """A bare registry at ``root/registry.git`` with everyone registered; returns (path, actors)."""
    from medperf_git.flows.registry_init import init_registry

    admins = admins or handles[:1]
    path = root / "registry.git"
    actors = {h: make_actor(root, h, str(path), **profile_settings) for h in handles}
    first = actors[admins[0]]
    with first.active():
        ws = Workspace.load()
        init_registry(ws, path, name="test-registry", admins=admins, admin_name=first.name,
                      admin_email=first.email, bare=True, allow_file_urls=True)
    repo = GitRepo(path)
    main = repo.rev_parse("refs/heads/main")
    changes: dict[str, bytes | None] = {
        f"people/{h}.yaml": dump_yaml(a.person_record()).encode() for h, a in actors.items() if h != admins[0]}
    if registry_settings:
        import yaml

        registry = yaml.safe_load(repo.read_path(main, "registry.yaml"))
        registry.update(registry_settings)
        changes["registry.yaml"] = dump_yaml(registry).encode()
    if changes:
        new = commit_changes(repo, main, changes, "Register the test people", first.identity)
        update_ref(repo, "refs/heads/main", new, main)
    return path, actors
