"""``person register``: a handle, a signing key and the submission of ``people/<handle>.yaml``.

The key is generated in the workspace when none is given and never printed; the profile keeps the
handle and the key's path. A handle is unique forever, so one that is on main or in an open
submission is refused before anything is pushed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from medperf_git.errors import IdConflict, RecordInvalid, UsageError
from medperf_git.flows.session import RegistrySession
from medperf_git.flows.submission import OpenResult, open_submission
from medperf_git.records.layout import record_path
from medperf_git.registry.commits import Identity

_HANDLE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?$")


@dataclass
class RegisterResult:
    handle: str
    key: Path
    key_generated: bool
    fingerprint: str
    opened: OpenResult

    def to_dict(self) -> dict:
        return {"handle": self.handle, "key": str(self.key), "key_generated": self.key_generated,
                "fingerprint": self.fingerprint, **self.opened.to_dict()}


def register(session: RegistrySession, *, handle: str, name: str, email: str, key: Path | None = None,
             confirm=None) -> RegisterResult:
    """Open the submission of one's own people record; ``confirm(record)`` sees it before it is published."""
    from medperf_git.records.schemas import validate
    from medperf_git.records.yamlio import dump_yaml
    from medperf_git.registry.signing import default_key_path, generate_key, public_key
    from medperf_git.registry.verify import fingerprint

    if not _HANDLE.match(handle):
        raise UsageError(f"invalid handle '{handle}': use lowercase letters, digits and inner dashes (max 39)")
    ws = session.ws
    profile = ws.profile
    if profile.handle and profile.handle != handle:
        raise UsageError(f"profile '{profile.name}' already belongs to '{profile.handle}'",
                         hint="create a profile for the new person: `medperf-git profile create NAME`")
    if key:
        key_path = Path(key).expanduser().absolute()
        if not key_path.exists():
            raise UsageError(f"the key {key_path} does not exist")
    else:
        key_path = Path(profile.signing_key) if profile.signing_key else default_key_path(ws.keys_dir, handle)
    generated = not key_path.exists()
    generate_key(key_path, f"{handle}@medperf-git")
    pub = public_key(key_path)
    record = {"schema_version": 1, "kind": "person", "handle": handle, "name": name, "email": email, "keys": [pub]}
    problems = validate("person", record)
    if problems:
        raise RecordInvalid(f"person record: {problems[0].field}: {problems[0].message}")

    session.act_as(handle, Identity(name, email, str(key_path)))
    session.fetch(tolerate=True)
    path = record_path("person", handle)
    if session.repo.read_path(session.main, path) is not None:
        raise IdConflict(f"the handle '{handle}' is taken in this registry", hint="choose another --handle")
    for sub in session.forge.list("open"):
        fork = session.repo.out("merge-base", session.main, sub.head, check=False)
        if fork and any(p == path for _, _, _, p in session.repo.diff_tree(fork, sub.head)):
            raise IdConflict(f"the handle '{handle}' is already requested in submission #{sub.number}",
                             hint="choose another --handle")
    if getattr(session.forge, "name", "") == "github" and session.online:  # what the policy bot matches on
        record["accounts"] = [session.forge.account()]
    if confirm is not None and not confirm(record):
        from medperf_git.flows.dataset import Cancelled

        raise Cancelled("nothing was submitted")
    changed = False
    if profile.handle != handle:
        profile.handle, changed = handle, True
    if profile.signing_key != str(key_path):
        profile.signing_key, changed = str(key_path), True
    if changed:
        ws.config.save()
    opened = open_submission(session, {path: dump_yaml(record).encode()}, f"Register {handle}", "person",
                             renumber=False)
    return RegisterResult(handle, key_path, generated, fingerprint(pub), opened)
