"""One registry session per command: the workspace, and the registry as this command sees it.

The CLI builds one :class:`RegistrySession` at its root and hands it to the flow it calls (the way
a DVC command hands over its ``Repo``). Everything is opened when first needed and at most once:
the clone (with the trust anchor's audit wired into every fetch), one fetch per command, the index
at main, the forge and the signing identity. So a command that reads, decides and publishes fetches
once, and what it showed is what it acts on; only a lost race fetches again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medperf_git.errors import AuditFailed, ConfigError, ForgeError, RecordNotFound, RemoteUnavailable
from medperf_git.registry.clone import DEFAULT_MAX_AGE, RegistryClone
from medperf_git.registry.commits import Identity
from medperf_git.registry.index import INDEX_FILE, Index, Progress, UpdateStats
from medperf_git.workspace.datasets import LocalDatasets
from medperf_git.workspace.executions import Executions
from medperf_git.workspace.workspace import Workspace

_LIST_COMMAND = {"benchmark": "benchmark ls", "container": "container ls", "dataset": "dataset ls",
                 "person": "registry lint", "association": "association ls"}


class RegistrySession:
    """The workspace and, opened lazily once per command, the registry's clone, index, forge and identity."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.fetches = 0  # fetches this command made (one, except after a lost race)
        self.offline_reason: str | None = "--offline" if ws.offline else None
        self._clone: RegistryClone | None = None
        self._fetched = False
        self._checked = False  # this command asked the remote (ls-remote) at least once
        self._index: Index | None = None
        self._index_stats: UpdateStats | None = None
        self._forge = None
        self._identity: Identity | None = None
        self._handle: str | None = None

    @classmethod
    def load(cls, profile_name: str | None = None, offline: bool = False) -> RegistrySession:
        return cls(Workspace.load(profile_name, offline=offline))

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
        if self._clone is not None:
            self._clone.repo.close()

    # The workspace's side
    @property
    def profile(self):
        return self.ws.profile

    @property
    def handle(self) -> str:
        if self._handle is None:
            self.require_identity()
            self._handle = str(self.ws.profile.handle)
        return self._handle

    def act_as(self, handle: str, identity: Identity) -> None:
        """Sign as someone the profile does not name yet (a newcomer registering themselves)."""
        self._handle, self._identity, self._forge = handle, identity, None

    @property
    def online(self) -> bool:
        return self.offline_reason is None

    def require_identity(self) -> None:
        """Publishing needs a handle and a signing key: every commit is signed."""
        profile = self.ws.profile
        if not profile.handle or not profile.signing_key:
            raise ConfigError(f"profile '{profile.name}' has no {'handle' if not profile.handle else 'signing key'}",
                              hint="register with `medperf-git person register --handle ... --name ... --email ...`")

    # The clone, fetched at most once
    @property
    def clone(self) -> RegistryClone:
        if self._clone is None:
            self._clone = RegistryClone.open(self.ws, verify=_check_fetch)
        return self._clone

    @property
    def repo(self):
        return self.clone.repo

    def fetch(self, *, max_age: float = 0, tolerate: bool = False, force: bool = False) -> None:
        """Bring the clone up to date, once per command (``force`` after a lost race).

        ``max_age`` lets reads use a copy fetched moments ago; ``tolerate`` lets them go on from the
        local copy when the remote cannot be reached or its new main fails the audit (with a warning).
        """
        if self.ws.offline or (self._fetched and not force):
            return
        clone = self.clone
        self._fetched = True
        if max_age and clone.age() < max_age:
            return
        self.fetches += 1
        self._checked = True
        try:
            clone.fetch()
            if self._forge is not None:
                self.judge()  # main may have moved: the rules of the new main judge the meta events
        except RemoteUnavailable as exc:
            if not tolerate:
                raise
            clone.fetch_error = self.offline_reason = exc.message
        except AuditFailed as exc:
            if not tolerate or clone.repo.rev_parse("refs/remotes/origin/main") is None:
                raise
            clone.refuse_main(exc)

    @property
    def main(self) -> str:
        return self.clone.main

    @property
    def warnings(self) -> list[str]:
        """What a read should tell its user about the copy it answered from."""
        clone = self._clone
        if clone is None:
            return []
        age = _age(clone.age())
        if clone.refused_main:
            return [f"{clone.refused_main}; showing the last verified copy, from {age} ago: tell the registry's "
                    "admins (`medperf-git registry audit` lists every finding)"]
        if clone.fetch_error:
            return [f"could not fetch the registry ({clone.fetch_error}); showing the local copy from {age} ago"]
        return []

    # The index at main
    @property
    def index(self) -> Index:
        return self.index_at_main()

    def index_at_main(self, progress: Progress | None = None) -> Index:
        """The SQLite index of the clone, brought to main (incrementally) the first time and after main moved."""
        if self._index is None:
            self._index = Index.open(self.clone.dir / INDEX_FILE)
        main = self.main
        if self._index.commit != main:
            self._index_stats = self._index.update(self.clone.repo, main, progress=progress)
        return self._index

    @property
    def index_stats(self) -> UpdateStats | None:
        return self._index_stats

    @property
    def commit(self) -> str:
        return self.main

    # Identity and forge
    @property
    def identity(self) -> Identity:
        if self._identity is None:
            self.require_identity()
            self._identity = _identity(self.clone, self.handle, str(self.ws.profile.signing_key))
        return self._identity

    @property
    def forge(self):
        if self._forge is None:
            self._forge = self._make_forge()
        return self._forge

    def _make_forge(self):
        from medperf_git.registry.git import check_git_version

        check_git_version()
        profile = self.ws.profile
        if profile.forge not in ("git", "github"):
            raise ForgeError(f"the '{profile.forge}' forge is not available in this version",
                             hint="use `medperf-git profile set --forge git`")
        refetch = lambda: self.fetch(force=True)  # noqa: E731 - the forge's refresh after a lost race
        if profile.forge == "github":
            from medperf_git.forges.github import from_profile
            from medperf_git.policy.assess import describe

            forge = from_profile(profile, self.clone, self.identity, self.handle, describe=describe, fetch=refetch)
        else:
            from medperf_git.forges.gitnative import GitNativeForge

            forge = GitNativeForge(self.clone.repo, self.clone.remote, self.identity, self.handle, fetch=refetch)
        forge.judge = self.judge()
        return forge

    def judge(self):
        """Who may do what in the meta chains, by main's people records (re-made when main moved)."""
        from medperf_git.policy.assess import MetaJudge

        judge = MetaJudge(self.repo, self.repo.rev_parse("refs/remotes/origin/main"),
                          self.clone.dir / "meta-judge.json")
        if self._forge is not None:
            self._forge.judge = judge
        return judge

    @property
    def outbox(self):
        from medperf_git.flows._outbox import Outbox

        return Outbox(self.clone.dir / "outbox", self.repo)

    # Records at main
    def find(self, kind: str, key: str | int) -> dict[str, Any] | None:
        return self.index.get(kind, str(key))

    def recheck(self) -> bool:
        """Before saying a record does not exist: ask the remote, if this command answered from a copy that
        was not checked (a read within seconds of the last one). True when main may have moved since."""
        if self._checked or not self.online:
            return False
        self.fetch(force=True, tolerate=True)
        return self._checked and self.online

    def record(self, kind: str, key: str | int) -> dict[str, Any]:
        record = self.find(kind, key)
        if record is None and self.recheck():
            record = self.find(kind, key)
        if record is None:
            command = _LIST_COMMAND.get(kind, f"{kind} ls")
            where = "in the registry" if self.online else f"in the local copy of the registry ({self.offline_reason})"
            raise RecordNotFound(f"{kind} {key} does not exist {where}", hint=f"see `medperf-git {command}`")
        return record

    def settings(self) -> dict[str, Any]:
        return self.index.get("registry", "registry") or {}

    @property
    def allow_file_urls(self) -> bool:
        return bool(self.settings().get("allow_file_urls"))

    def people(self) -> list[dict[str, Any]]:
        """Every person record on main."""
        rows = self.index.query("SELECT data FROM records WHERE kind = 'person' AND valid = 1 ORDER BY key")
        return [json.loads(row[0]) for row in rows]

    def person_by_email(self, email: str) -> dict[str, Any] | None:
        """The person whose record on main has this email (compared case-insensitively), if anyone's does."""
        wanted = email.strip().lower()
        return next((p for p in self.people() if str(p.get("email", "")).lower() == wanted), None)

    def association(self, benchmark: int, component: str, component_id: int) -> dict[str, Any] | None:
        return self.find("association", f"{benchmark}/{component}-{component_id}")

    def all_associations(self, component: str, benchmark: int | None = None) -> list[dict[str, Any]]:
        """Merged associations of datasets or models (with one benchmark, or all), by benchmark then id."""
        sql = "SELECT data FROM records WHERE kind = 'association' AND component = ? AND valid = 1"
        params: list[Any] = [component]
        if benchmark is not None:
            sql += " AND benchmark = ?"
            params.append(benchmark)
        rows = self.index.query(sql + " ORDER BY benchmark, id", params)
        return [json.loads(row[0]) for row in rows]

    # This machine's stores for this registry
    @property
    def data_dir(self) -> Path:
        return self.ws.registry_data_dir(self.clone.root)

    def local_dataset(self, data_uid: str | int):
        """A prepared dataset of this machine, by registry id or UID prefix, its registry id up to date."""
        self.sync_dataset_ids()
        return self.datasets.find(data_uid)

    def sync_dataset_ids(self) -> None:
        """A submitted dataset learns its registry id once its submission has merged."""
        by_uid = self.index.generated_uids()
        for ds in self.datasets.all():
            keys = by_uid.get(ds.generated_uid) or []
            if keys and ds.registry_id is None:
                record = self.find("dataset", keys[0])
                if record and record.get("owner") == self.ws.profile.handle:
                    ds.info["registry_id"] = int(keys[0])
                    ds.save()

    @property
    def datasets(self) -> LocalDatasets:
        return LocalDatasets(self.data_dir / "datasets")

    @property
    def executions(self) -> Executions:
        return Executions(self.data_dir / "executions")

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"


def _check_fetch(clone: RegistryClone, old_main: str | None, ref: str) -> object:
    """The trust anchor's audit of what a fetch brought (imported only when a fetch brings something)."""
    from medperf_git.policy.trust import check_fetch

    return check_fetch(clone, old_main, ref)


def _identity(clone: RegistryClone, handle: str, key: str) -> Identity:
    """The name and email the person record on main gives a handle (one git process, no parsing of more)."""
    from medperf_git.errors import MedperfGitError
    from medperf_git.records.yamlio import load_yaml

    name, email = handle, f"{handle}@medperf-git"
    try:
        proc = clone.repo.git("cat-file", "blob", f"refs/remotes/origin/main:people/{handle}.yaml", check=False)
        data = proc.stdout if proc.returncode == 0 else None
        record = load_yaml(data, "person") if data else None
        if isinstance(record, dict):
            name, email = str(record.get("name") or name), str(record.get("email") or email)
    except MedperfGitError:
        pass
    return Identity(name, email, key)


def _age(seconds: float) -> str:
    if seconds == float("inf"):
        return "an unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


__all__ = ["DEFAULT_MAX_AGE", "RegistrySession"]
