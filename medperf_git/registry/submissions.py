"""Git-native submissions as git holds them: ``refs/pull/N/head`` and a signed meta chain in ``refs/pull/N/meta``.

The forge writes them and the audit reads them, so the format lives here, below both: the summary and
event files (YAML in its JSON subset), the signed meta commits, and reading every chain at once.

``review ls`` must stay fast with a thousand open submissions, so nothing here runs one git process
per submission: one ``for-each-ref`` lists the refs, one ``for-each-ref --merged`` says which heads
are in main, one ``log --raw`` walks every meta chain, and one ``cat-file --batch`` reads the files.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from medperf_git.registry.commits import Identity, build_tree, commit_tree
from medperf_git.registry.git import GitRepo

SUMMARY = "submission.yaml"
_REF = re.compile(r"^refs/pull/(\d+)/(head|meta)$")
_EVENT = re.compile(r"^events/(\d{4,})-([a-z]+)\.yaml$")


@dataclass
class MetaCommit:
    sha: str
    parents: list[str]
    added: list[tuple[str, str]] = field(default_factory=list)  # (path, blob) of files added or changed


@dataclass
class RawSubmission:
    """What the refs and the meta chain say, before anyone's claims are judged."""

    number: int
    head: str | None
    meta: str | None
    head_merged: bool
    summary_blob: str | None = None
    chain: list[MetaCommit] = field(default_factory=list)  # oldest first
    problem: str | None = None


def numbers_in(refs: Iterable[str]) -> set[int]:
    """The submission numbers among ref names (``refs/pull/N/head`` or ``.../meta``)."""
    return {int(m.group(1)) for m in map(_REF.match, refs) if m}


def pull_refs(repo: GitRepo, numbers: set[int] | None = None) -> dict[int, dict[str, str]]:
    patterns = [f"refs/pull/{n}/" for n in sorted(numbers)] if numbers is not None else ["refs/pull/"]
    if not patterns:
        return {}
    out = repo.out("for-each-ref", "--format=%(objectname) %(refname)", *patterns)
    refs: dict[int, dict[str, str]] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        match = _REF.match(ref)
        if match:
            refs.setdefault(int(match.group(1)), {})[match.group(2)] = sha
    return refs


def merged_heads(repo: GitRepo, main: str | None, numbers: set[int] | None = None) -> set[int]:
    patterns = [f"refs/pull/{n}/head" for n in sorted(numbers)] if numbers is not None else ["refs/pull/"]
    if not main or not patterns:
        return set()
    out = repo.out("for-each-ref", f"--merged={main}", "--format=%(refname)", *patterns)
    return {int(m.group(1)) for m in map(_REF.match, out.splitlines()) if m and m.group(2) == "head"}


def walk_meta(repo: GitRepo, tips: list[str]) -> dict[str, MetaCommit]:
    """Every commit of the given meta chains, with the files each one added or changed."""
    commits: dict[str, MetaCommit] = {}
    if not tips:
        return commits
    proc = repo.git("log", "--stdin", "--root", "--raw", "--no-abbrev", "--no-renames", "-z",
                    "--format=%x1e%H %P", input="\n".join(tips) + "\n")
    text = proc.stdout.decode() if isinstance(proc.stdout, bytes) else proc.stdout
    for record in text.split("\x1e")[1:]:
        header, _, raw = record.partition("\n")
        shas = header.strip("\0\n").split()
        if not shas:
            continue
        commit = MetaCommit(shas[0], shas[1:])
        parts = raw.strip("\n").split("\0")
        i = 0
        while i < len(parts) - 1:
            meta = parts[i].strip("\n")
            if not meta.startswith(":"):
                i += 1
                continue
            fields = meta[1:].split()
            if fields[-1] != "D":
                commit.added.append((parts[i + 1], fields[3]))
            i += 2
        commits[commit.sha] = commit
    return commits


def load_raw(repo: GitRepo, main: str | None, numbers: set[int] | None = None) -> list[RawSubmission]:
    """Every submission's refs and meta chain (only ``numbers`` when given), oldest first."""
    refs = pull_refs(repo, numbers)
    # Which heads are in main and what the chains hold follow from these object ids alone (objects never
    # change), so a command that lists the same refs again (a submission, then its merge) asks git once.
    key = (main, tuple(sorted((n, r.get("head"), r.get("meta")) for n, r in refs.items())))
    metas = sorted({r["meta"] for r in refs.values() if "meta" in r})
    merged, commits = repo.keep(("load_raw", key), lambda: (merged_heads(repo, main, numbers), walk_meta(repo, metas)))
    result = []
    for number in sorted(refs):
        r = refs[number]
        raw = RawSubmission(number, r.get("head"), r.get("meta"), number in merged)
        sha = raw.meta
        chain = []
        while sha:
            commit = commits.get(sha)
            if commit is None:
                raw.problem = f"meta commit {sha[:12]} is missing"
                break
            chain.append(commit)
            if len(commit.parents) > 1:
                raw.problem = "the meta chain has a merge commit"
                break
            sha = commit.parents[0] if commit.parents else None
        raw.chain = list(reversed(chain))
        for commit in raw.chain:
            for path, blob in commit.added:
                if path == SUMMARY:
                    raw.summary_blob = blob
        result.append(raw)
    return result


def event_files(commit: MetaCommit) -> list[tuple[int, str, str]]:
    """(seq, type, blob) of the event files a meta commit added."""
    found = []
    for path, blob in commit.added:
        match = _EVENT.match(path)
        if match:
            found.append((int(match.group(1)), match.group(2), blob))
    return found


def event_path(seq: int, kind: str) -> str:
    return f"events/{seq:04d}-{kind}.yaml"


def blobs(raw: RawSubmission) -> list[str]:
    """Every meta file blob of a submission: its summary and its event files."""
    found = [raw.summary_blob] if raw.summary_blob else []
    for commit in raw.chain:
        found += [blob for _, _, blob in event_files(commit)]
    return found


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dump(data: dict) -> bytes:
    """Meta files are YAML written in its JSON subset: any YAML reader reads them, and listing a
    thousand submissions parses them with ``json`` (fast) instead of a YAML constructor."""
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def load(data: bytes | None) -> dict | None:
    """A meta file's mapping, or None when it is missing or not one (then the event does not count)."""
    if not data:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    from medperf_git.records.yamlio import load_yaml

    try:
        value = load_yaml(data, "meta")
    except Exception:  # noqa: BLE001 - a broken meta file is reported as an invalid event, never a crash
        return None
    return value if isinstance(value, dict) else None


def event_commit(repo: GitRepo, identity: Identity, handle: str, parent: str | None, summary: dict, seq: int,
                 kind: str, **data) -> str:
    """The signed meta commit that appends event number ``seq`` to a submission's chain."""
    event = {"type": kind, "by": handle, "at": now(), **data}
    tree = build_tree(repo, parent, {SUMMARY: dump(summary), event_path(seq, kind): dump(event)})
    return commit_tree(repo, tree, [parent] if parent else [], f"#{summary['number']} {kind} by {handle}", identity)
