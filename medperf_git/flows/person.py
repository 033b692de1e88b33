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
        fork = session.repo.merge_base(session.main, sub.head)
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


# MedPerf's `auth`: a profile signs in as a person of the registry -------------------------------------


@dataclass
class LoginResult:
    handle: str
    email: str
    registered: RegisterResult | None = None  # not in the registry yet: the submission of their record
    already: bool = False  # the profile was signed in as this person already


def handle_from_email(session: RegistrySession, email: str) -> str:
    """A free handle made from the email's local part: ``Jane.Doe@x`` gives ``jane-doe`` (then ``jane-doe-2``)."""
    base = re.sub(r"[^a-z0-9]+", "-", email.split("@", 1)[0].lower()).strip("-")[:36].strip("-")
    if not base:
        raise UsageError(f"cannot make a handle from the email {email}",
                         hint="register with `medperf-git person register --handle ... --name ... --email ...`")
    taken = {p.get("handle") for p in session.people()}
    handle, n = base, 1
    while handle in taken:
        n += 1
        handle = f"{base}-{n}"
    return handle


def _key_of(session: RegistrySession, person: dict) -> Path | None:
    """A private key on this machine whose public half the person record lists."""
    from medperf_git.errors import ConfigError
    from medperf_git.registry.signing import default_key_path, public_key

    ws = session.ws
    candidates = [Path(ws.profile.signing_key)] if ws.profile.signing_key else []
    candidates.append(default_key_path(ws.keys_dir, person["handle"]))
    for key in candidates:
        try:
            if key.exists() and public_key(key) in person.get("keys", []):
                return key
        except ConfigError:
            continue
    return None


def login(session: RegistrySession, *, email: str, confirm=None) -> LoginResult:
    """Sign the profile in as the person with this email (MedPerf's `auth login -e`), registering them if needed."""
    from medperf_git.errors import ConfigError

    email = email.strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise UsageError(f"'{email}' is not an email address")
    ws = session.ws
    profile = ws.profile
    session.fetch(tolerate=True)
    person = session.person_by_email(email)
    if profile.handle:
        if person is not None and person["handle"] == profile.handle:
            return LoginResult(profile.handle, email, already=True)
        raise UsageError(f"profile '{profile.name}' is signed in as '{profile.handle}' already",
                         hint="run `medperf-git auth logout` first, or use another profile "
                              "(`medperf-git profile create -n NAME`)")
    if person is None:
        handle = handle_from_email(session, email)
        result = register(session, handle=handle, name=email.split("@", 1)[0], email=email, confirm=confirm)
        return LoginResult(handle, email, registered=result)
    key = _key_of(session, person)
    if key is None:
        raise ConfigError(f"'{person['handle']}' ({email}) is registered, but this machine has none of their "
                          "signing keys", hint=f"copy their key to {ws.keys_dir / person['handle']}/id_ed25519, or "
                                               f"run `medperf-git profile set --handle {person['handle']} "
                                               "--signing-key FILE`")
    profile.handle, profile.signing_key = person["handle"], str(key)
    ws.config.profiles[profile.name] = profile
    ws.config.save()
    return LoginResult(person["handle"], email)


def logout(ws) -> str | None:
    """Forget who the profile signs as (the keys stay on disk); returns who it was."""
    who = ws.profile.handle
    ws.profile.handle = ws.profile.signing_key = None
    ws.config.profiles[ws.profile.name] = ws.profile
    ws.config.save()
    return who


def status(session: RegistrySession) -> tuple[str | None, str | None]:
    """(handle, email) the profile signs as; the email from their record on main, when there is one."""
    handle = session.ws.profile.handle
    if not handle or not session.ws.profile.registry:
        return handle, None
    session.fetch(tolerate=True)
    record = session.find("person", handle) or {}
    return handle, record.get("email")
