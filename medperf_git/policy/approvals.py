"""Approvals are signed commits at a submission's tip; the author is whoever signed its content.

An approval commit changes nothing (one parent, same tree) and names its approver in an
``Approved-by`` trailer. Only the run of approvals above the last content commit counts, so any
content pushed later (a merge of main included) voids them: approvals are pinned to the head.
Who someone is comes from the key that signed, looked up in the base's people records; the
author name and email written in a commit prove nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from medperf_git.errors import PolicyDenied
from medperf_git.policy.lineage import Lineage
from medperf_git.records.layout import parse_path
from medperf_git.registry.git import GitRepo
from medperf_git.registry.verify import CommitInfo, key_owner, normalize_key, read_commit

APPROVAL_TRAILER = "Approved-by"


@dataclass(frozen=True)
class Approval:
    handle: str
    sha: str
    valid: bool
    reason: str | None = None  # why it does not count

    def to_dict(self) -> dict:
        return {"handle": self.handle, "commit": self.sha, "valid": self.valid, "reason": self.reason}


def is_approval_commit(info: CommitInfo) -> bool:
    """One parent, the parent's tree unchanged, and an ``Approved-by`` trailer."""
    return (len(info.parents) == 1 and info.parent_tree == info.tree
            and bool(info.trailers.get(APPROVAL_TRAILER)))


def approvals(repo: GitRepo, line: Lineage, people: Mapping[str, Sequence[str]],
              initiator: str | None = None) -> list[Approval]:
    """The approvals at the tip of the head (oldest first), each judged against ``people`` (base records)."""
    pending = set(line.commits)
    run: list[CommitInfo] = []
    sha = line.head
    while sha in pending:
        info = read_commit(repo, sha)
        if not is_approval_commit(info):
            break
        run.append(info)
        sha = info.parents[0]
    seen: set[str] = set()
    result = []
    for info in reversed(run):
        names = info.trailers[APPROVAL_TRAILER]
        handle = names[0] if len(names) == 1 else ", ".join(names)
        reason = _invalid_reason(info, names, people, initiator, seen)
        if reason is None:
            seen.add(handle)
        result.append(Approval(handle, info.sha, reason is None, reason))
    return result


def _invalid_reason(info: CommitInfo, names: list[str], people: Mapping[str, Sequence[str]],
                    initiator: str | None, seen: set[str]) -> str | None:
    if len(names) != 1:
        return "an approval commit names exactly one approver"
    handle = names[0]
    if info.signature_key is None:
        return f"not validly signed ({info.signature_error})"
    if handle not in people:
        return f"'{handle}' is not a registered person on the base"
    keys = {normalize_key(k) for k in people[handle] or ()}
    if normalize_key(info.signature_key) not in keys:
        return f"signed by a key that is not listed for '{handle}'"
    if initiator is not None and handle == initiator:
        return "the initiator cannot approve their own request"
    if handle in seen:
        return f"'{handle}' already approved"
    return None


def valid_approvers(found: Sequence[Approval]) -> list[str]:
    return [a.handle for a in found if a.valid]


def content_author(repo: GitRepo, line: Lineage, people: Mapping[str, Sequence[str]]) -> str:
    """The one handle that signed every content commit of ``base..head``; PolicyDenied otherwise.

    A new person has no key on the base yet, so a submission that only creates ``people/<h>.yaml``
    may be signed by a key that record lists. Merges of main into the head count as content.
    """
    infos = [read_commit(repo, sha) for sha in line.commits]
    commits = [info for info in infos if not is_approval_commit(info)]
    if not commits:
        raise PolicyDenied(f"{line.head[:12]} has no commits that are not on {line.base[:12]}")
    signers: dict[str, list[str]] = {}
    newcomer: tuple[str, set[str]] | None | bool = False  # computed at most once
    for info in commits:
        short = info.sha[:12]
        if info.signature_key is None:
            raise PolicyDenied(f"commit {short} is not validly signed ({info.signature_error})",
                               hint="every commit must be signed with a registered SSH key (gpg.format=ssh)")
        owner = key_owner(info.signature_key, people)
        if owner is None:
            if newcomer is False:
                newcomer = new_person_keys(repo, line, people)
            if newcomer and normalize_key(info.signature_key) in newcomer[1]:
                owner = newcomer[0]
        if owner is None:
            raise PolicyDenied(f"commit {short} is signed by a key that no person on the base lists",
                               hint="register the key in your person record first (`medperf-git person register`)")
        signers.setdefault(owner, []).append(short)
    if len(signers) > 1:
        who = "; ".join(f"{h}: {', '.join(shas)}" for h, shas in sorted(signers.items()))
        raise PolicyDenied(f"the submission's commits are signed by several people ({who})",
                           hint="a submission has one author; each person opens their own")
    return next(iter(signers))


def new_person_keys(repo: GitRepo, line: Lineage, people: Mapping[str, Sequence[str]]):
    """(handle, keys) when ``base..head`` only creates one person record, else None."""
    if len(line.changes) != 1:
        return None
    status, _, new_blob, path = line.changes[0]
    rp = parse_path(path)
    if status != "A" or rp is None or rp.kind != "person" or rp.key in people:
        return None
    from medperf_git.records.yamlio import YamlError, load_yaml

    try:
        record = load_yaml(repo.read_blob(new_blob), path)
    except YamlError:
        return None
    keys = record.get("keys") if isinstance(record, dict) else None
    if not isinstance(keys, list):
        return None
    return rp.key, {normalize_key(k) for k in keys if isinstance(k, str)}
