"""Create a new, empty registry repository whose first commit is signed by its first admin."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from medperf_git import __version__
from medperf_git.errors import MedperfGitError, RecordInvalid, UsageError
from medperf_git.records.layout import RECORD_FOLDERS, record_path
from medperf_git.records.schemas import validate
from medperf_git.records.yamlio import dump_yaml
from medperf_git.registry.commits import Identity, build_tree, commit_tree, update_ref
from medperf_git.registry.git import GitRepo, init_bare, run_git
from medperf_git.registry.signing import default_key_path, generate_key, public_key
from medperf_git.workspace.workspace import Workspace

_HANDLE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?$")


class RegistryExists(MedperfGitError):
    pass


@dataclass
class InitResult:
    path: Path
    bare: bool
    commit: str
    admins: list[str]
    signing_key: Path
    key_generated: bool
    profile_changes: list[str] = field(default_factory=list)
    pending_admins: list[str] = field(default_factory=list)
    requirement: str = ""


README_TEMPLATE = """# {name}

This repository is a **medperf-git registry**: the public record of a MedPerf-style benchmarking
community. It holds YAML records, never data. Patient data stays on each hospital's machines;
only names, hashes, statistics and metrics are published here.

## Layout

| path | holds |
|---|---|
| `registry.yaml` | the registry's name, admins and rules |
| `people/<handle>.yaml` | registered people and their SSH signing keys |
| `containers/<id>.yaml` | data preparation, model and metrics containers, pinned by digest or sha256 |
| `benchmarks/<id>.yaml` | benchmarks: their three containers, demo data and association policy |
| `datasets/<id>.yaml` | what data owners publish about a prepared dataset (hashes, statistics) |
| `associations/<benchmark>/dataset-<id>.yaml`, `model-<id>.yaml` | requests to join a benchmark |
| `results/<benchmark>/b<B>m<M>d<D>.yaml` | metrics, with what produced them |

## How to take part

Install medperf-git, then point a profile at this registry:

    medperf-git profile create {name} --registry <this repository's address>
    medperf-git person register --handle <you> --name "<Your Name>" --email <you@example.org>

Every change is a submission (a pull request) made by `medperf-git`; approvals are signed
commits, and `medperf-git registry audit` checks the whole history offline. Do not edit records
by hand: run `medperf-git registry lint` before pushing anything.

Admins: {admins}.
"""


def _check_target(path: Path) -> None:
    if not path.exists():
        return
    if not path.is_dir():
        raise RegistryExists(f"{path} exists and is not a folder")
    if (path / "registry.yaml").exists() or (path / "HEAD").exists() and (path / "objects").is_dir():
        raise RegistryExists(f"{path} is already a registry or a Git repository; refusing to overwrite it",
                             hint="choose a new folder, or use the existing registry")
    if any(path.iterdir()):
        raise RegistryExists(f"{path} is not empty; refusing to create a registry there",
                             hint="choose a new or empty folder")


def init_registry(ws: Workspace, path: Path, *, name: str, admins: list[str], admin_name: str | None,
                  admin_email: str | None, signing_key: Path | None = None, bare: bool = False,
                  open_registration: bool = False, allow_file_urls: bool = False, host: str = "git",
                  requirement: str | None = None) -> InitResult:
    path = path.expanduser().absolute()
    if not admins:
        raise UsageError("at least one --admin HANDLE is needed")
    for handle in admins:
        if not _HANDLE.match(handle):
            raise UsageError(f"invalid handle '{handle}': use lowercase letters, digits and inner dashes")
    if len(set(admins)) != len(admins):
        raise UsageError("an admin is listed twice")
    _check_target(path)
    first = admins[0]
    profile = ws.profile
    if profile.handle and profile.handle != first and signing_key is None:
        raise UsageError(f"profile '{profile.name}' belongs to '{profile.handle}', but the first admin is "
                         f"'{first}'", hint=f"use --profile for {first}'s profile, or give --key FILE")
    if not admin_email:
        raise UsageError("--admin-email is needed for the first admin's people record")
    requirement = requirement or _running_requirement(host)

    key_generated = False
    if signing_key is None and profile.signing_key and profile.handle in (None, first):
        signing_key = Path(profile.signing_key)
    if signing_key is None:
        signing_key = default_key_path(ws.keys_dir, first)
        key_generated = not signing_key.exists()
        generate_key(signing_key, f"{first}@medperf-git")
    pub = public_key(signing_key)

    registry = {
        "schema_version": 1, "kind": "registry", "name": name, "admins": admins,
        "medperf_git": requirement, "open_registration": open_registration,
        "allow_file_urls": allow_file_urls, "host": host,
    }
    person = {"schema_version": 1, "kind": "person", "handle": first, "name": admin_name or first,
              "email": admin_email, "keys": [pub]}
    for kind, record in (("registry", registry), ("person", person)):
        problems = validate(kind, record)
        if problems:
            p = problems[0]
            raise RecordInvalid(f"{kind} record: {p.field}: {p.message}")
    files: dict[str, bytes | None] = {
        "registry.yaml": dump_yaml(registry).encode(),
        record_path("person", first): dump_yaml(person).encode(),
        "README.md": README_TEMPLATE.format(name=name, admins=", ".join(admins)).encode(),
    }
    for folder in RECORD_FOLDERS:
        if folder != "people":
            files[f"{folder}/.gitkeep"] = b""
    if host == "github":  # the validate, relay, policy bot and publish workflows, and the settings they need
        from medperf_git.forges._github_setup import registry_files

        files.update(registry_files())

    created = not path.exists()
    try:
        if bare:
            repo = init_bare(path, shared=True)
        else:
            run_git("init", "-q", "--initial-branch=main", str(path))
            repo = GitRepo(path)
        identity = Identity(admin_name or first, admin_email, str(signing_key))
        tree = build_tree(repo, None, files)
        commit = commit_tree(repo, tree, [], f"Create registry {name}\n\nAdmins: {', '.join(admins)}", identity)
        update_ref(repo, "refs/heads/main", commit, None)
        if not bare:
            repo.git("reset", "-q", "--hard", "main")
        if host == "ssh":  # the server refuses pushes to main that fail the audit
            from medperf_git.policy.hook import install_pre_receive

            install_pre_receive(path)
    except BaseException:
        if created:
            shutil.rmtree(path, ignore_errors=True)
        raise

    changes = []
    if not profile.handle:
        profile.handle = first
        changes.append(f"handle = {first}")
    if profile.handle == first and not profile.signing_key:
        profile.signing_key = str(signing_key)
        changes.append(f"signing key = {signing_key}")
    if not profile.registry:
        profile.registry = str(path)
        changes.append(f"registry = {path}")
    if changes:
        ws.config.save()
    os.chmod(signing_key, 0o600)
    return InitResult(path, bare, commit, admins, signing_key, key_generated, changes, admins[1:], requirement)


def _running_requirement(host: str) -> str:
    """What the registry's CI installs: the medperf-git running now. GitHub runs it in a job with the bot's
    credential, so there it must be pinned by a hash; elsewhere the plain version is what it always was."""
    from medperf_git.forges._github_setup import running_requirement

    found = running_requirement(__version__)
    if found:
        return found
    if host == "github":
        raise UsageError(f"cannot tell where GitHub's runners can install this medperf-git ({__version__}) from: "
                         "it was not installed from a wheel, an archive or a git commit pip recorded",
                         hint=f"give --medperf-git 'medperf-git[github]=={__version__} --hash=sha256:<its wheel's "
                              "sha256>' (or 'medperf-git[github] @ https://.../X.whl#sha256=...')")
    return f"medperf-git=={__version__}"

