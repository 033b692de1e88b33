"""Everything a client checks about a submission before it shows, approves or merges it.

The forge says what the remote holds; this says what it is worth: which meta events count (their
signer is who they claim, and that person may do it), who wrote the content, which approvals are
valid, the policy verdict on the base, and lint on the **merged** tree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from medperf_git.forges.base import Event, MergeConflict, Submission
from medperf_git.lint.findings import Finding, has_errors
from medperf_git.registry.git import GitRepo
from medperf_git.workspace.atomic import write_text


def _review(repo: GitRepo, base: str, head: str, line=None):
    from medperf_git.policy.review import review_submission

    return review_submission(repo, base, head, line=line)


# Verdicts saved before commit objects were read strictly may have accepted a malformed one: a new key.
_SIGS = "sigs-v2"
KEEP_SIGNATURES = 50_000  # about 5 MB of JSON; older ones are verified again if ever needed


class MetaJudge:
    """Decides which meta events count, from the people records of main (the current rules).

    Who signed a commit never changes, and whose key that is changes only with ``people/``, so both
    answers are kept in ``cache_file``: listing a thousand submissions verifies each signature once.
    """

    def __init__(self, repo: GitRepo, main: str | None, cache_file: Path | None = None):
        self.repo = repo
        self.main = main
        self.cache_file = cache_file
        self._base = None
        self._candidates: dict[tuple[str, str], set[str]] = {}
        self._people_tree: str | None = None
        self._dirty = False
        from medperf_git.registry.verify import verified_signatures

        data = _read_json(cache_file)
        self._sigs = verified_signatures(repo)
        saved = data.get(_SIGS) if isinstance(data.get(_SIGS), dict) else {}
        self._sigs.update({sha: v for sha, v in saved.items() if isinstance(v, list) and len(v) == 2})
        self._saved = len(self._sigs)
        self._owners_by_tree: dict[str, dict[str, str | None]] = data.get("owners", {})
        self._saved_history = data.get("keys")
        self._history = None

    @property
    def base(self):
        if self._base is None:
            from medperf_git.policy.base import BaseRecords

            self._base = BaseRecords(self.repo, self.main or "")
        return self._base

    def warm(self, shas: list[str]) -> None:
        """Read the meta commits whose signatures were never verified with one ``cat-file --batch``."""
        self.repo.prefetch([sha for sha in shas if sha not in self._sigs])

    def _signature(self, sha: str) -> tuple[str | None, str | None]:
        known = self._sigs.get(sha)  # verified on an earlier run: not even read again
        if known is None:
            from medperf_git.registry.verify import read_commit

            info = read_commit(self.repo, sha)  # verifies it and remembers the verdict (see flush)
            return info.signature_key, info.signature_error
        key, error = known
        return key, error

    def _owner(self, key: str) -> str | None:
        if self._people_tree is None:
            self._people_tree = self.repo.out("rev-parse", f"{self.main}:people", check=False) or "-"
        owners = self._owners_by_tree.setdefault(self._people_tree, {})
        if key not in owners:
            owners[key] = self.base.key_owner(key)
            self._dirty = True
        return owners[key]

    def flush(self) -> None:
        """Save what was learnt: the signatures verified (meta events and content commits alike, the newest
        ``KEEP_SIGNATURES``) and the key owners of the current people tree."""
        if (not self._dirty and len(self._sigs) == self._saved) or self.cache_file is None:
            return
        owners = {self._people_tree: self._owners_by_tree.get(self._people_tree or "", {})} if self._people_tree else {}
        sigs = dict(list(self._sigs.items())[-KEEP_SIGNATURES:])
        saved: dict = {_SIGS: sigs, "owners": owners}
        if self._history is not None:
            saved["keys"] = self._history.to_dict()
        write_text(self.cache_file, json.dumps(saved))
        self._dirty, self._saved = False, len(self._sigs)

    def candidates(self, sub: Submission) -> set[str]:
        key = (sub.head, self.main or "")
        if key not in self._candidates:
            try:
                review = _review(self.repo, self.main or sub.base, sub.head)
                self._candidates[key] = {c for r in review.verdict.requirements for c in r.candidates}
            except Exception:  # noqa: BLE001 - an unreadable submission entitles nobody
                self._candidates[key] = set()
        return self._candidates[key]

    @property
    def history(self):
        """When each key joined each record on main (built on first need, then kept in the cache file)."""
        if self._history is None:
            from medperf_git.policy.key_history import KeyHistory

            self._history = KeyHistory(self.repo, self.main or "", self._saved_history)
            self._dirty = True
        return self._history

    def signer(self, sub: Submission, event: Event) -> tuple[str | None, str | None]:
        """(handle, None) for a valid signature by a key its signer had when the event was made, else (None, why).

        Keys are judged at the event's time: a key rotated away since still counts for what it signed
        before, and a key that joined a record after the event's time never does (no back-dating).
        """
        from medperf_git.policy.key_history import event_time, stamp
        from medperf_git.registry.verify import normalize_key

        key, error = self._signature(event.commit or "")
        if key is None:
            return None, f"not validly signed ({error})"
        if event.by == sub.author and sub.kind == "person":
            # A newcomer's own registration: signed by the key their new record lists.
            record = _person_in(self.repo, sub.head, event.by)
            if record and normalize_key(key) in {normalize_key(k) for k in record.get("keys") or ()}:
                return event.by, None
        if not self.main:
            return None, "signed by a key that no registered person lists"
        when = event_time(event.at)
        if when is None:
            return None, f"its time ({event.at!r}) is not YYYY-MM-DDTHH:MM:SSZ, so its key cannot be judged"
        owners = self.history.owners_at(key, when)
        if len(owners) == 1:
            return owners[0], None
        current = self._owner(key)
        since = self.history.first_listed(current, key) if current else None
        if since is not None and since > when:
            return None, (f"signed with a key that '{current}' has listed only since {stamp(since)}, after the "
                          f"event's time ({event.at})")
        return None, "signed by a key that no person listed at the event's time"

    def __call__(self, sub: Submission, event: Event) -> str | None:
        owner, problem = self.signer(sub, event)
        if problem:
            return problem
        if owner != event.by:
            return f"claims to be by '{event.by}' but is signed by '{owner}'"
        if event.type == "updated" and event.by != sub.author:
            return f"only the author ('{sub.author}') may update a submission"
        if event.type == "closed" and event.by != sub.author and event.by not in self.candidates(sub):
            return f"'{event.by}' is neither the author nor an entitled approver, so cannot close it"
        return None


def _read_json(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _person_in(repo: GitRepo, head: str, handle: str) -> dict | None:
    from medperf_git.records.yamlio import load_yaml

    data = repo.read_path(head, f"people/{handle}.yaml")
    try:
        record = load_yaml(data, "person") if data else None
    except Exception:  # noqa: BLE001 - not a readable record: not a proof of anything
        return None
    return record if isinstance(record, dict) else None


@dataclass
class Assessment:
    submission: Submission
    main: str
    review: object | None  # policy.review.SubmissionReview
    changes: list[tuple[str, str]] = field(default_factory=list)  # (A/M/D, path)
    findings: list[Finding] = field(default_factory=list)
    conflict: list[str] = field(default_factory=list)

    @property
    def verdict(self):
        return self.review.verdict if self.review is not None else None

    @property
    def author(self) -> str | None:
        return self.verdict.author if self.verdict is not None else None

    @property
    def lint_ok(self) -> bool:
        return not has_errors(self.findings) and not self.conflict

    @property
    def mergeable(self) -> bool:
        return self.verdict is not None and self.verdict.mergeable and self.lint_ok

    def candidates(self) -> set[str]:
        if self.verdict is None:
            return set()
        return {c for r in self.verdict.requirements for c in r.candidates}

    def missing(self) -> list[str]:
        """What still stands between this submission and main, in words."""
        todo = []
        if self.conflict:
            todo.append(f"conflicts with main on {', '.join(self.conflict)}")
        if has_errors(self.findings):
            todo.append(f"{sum(f.severity == 'error' for f in self.findings)} lint error(s) in the merged tree")
        verdict = self.verdict
        if verdict is not None:
            todo += [f"refused by policy: {v.path}: {v.message}" for v in verdict.violations]
            todo += [r.text() for r in verdict.requirements if not r.satisfied]
        return todo

    def to_dict(self) -> dict:
        return {**self.submission.to_dict(), "main": self.main,
                "changes": [{"status": s, "path": p} for s, p in self.changes],
                "lint": [f.to_dict() for f in self.findings], "conflict": self.conflict,
                "policy": self.review.to_dict() if self.review is not None else None,
                "mergeable": self.mergeable, "missing": self.missing()}


def lint_merge(repo: GitRepo, number: int, main: str, head: str,
               tree: str | None = None) -> tuple[list[Finding], list[str]]:
    """Lint findings of the tree that merging ``head`` into ``main`` gives (or ``tree``), and conflicting paths."""
    from medperf_git.forges._merge import merged_tree
    from medperf_git.lint.linter import lint_tree

    if tree is None:
        try:
            tree = merged_tree(repo, number, main, head)
        except MergeConflict as exc:
            return [], exc.paths
    from medperf_git.lint.local import index_facts
    from medperf_git.registry.tree import LazyTree

    changes = {path: (None if status == "D" else blob) for status, _, blob, path in repo.diff_tree(main, tree)}
    facts = index_facts(repo, main, existing_only=True)  # a warm index of the base, when there is one
    try:
        return lint_tree(LazyTree(repo, tree, changes), base=LazyTree(repo, main), base_facts=facts,
                         changed=set(changes)), []
    finally:
        if facts is not None:
            facts.close()


def assess(repo: GitRepo, sub: Submission, main: str, *, lint: bool = True) -> Assessment:
    from medperf_git.policy.lineage import lineage

    line = lineage(repo, main, sub.head)
    result = Assessment(sub, main, None, [(status, path) for status, _, _, path in line.changes])
    if sub.state != "open":
        return result
    result.review = _review(repo, main, sub.head, line)
    if lint:
        result.findings, result.conflict = lint_merge(repo, sub.number, main, sub.head)
    return result


def describe(repo: GitRepo, base: str, head: str) -> dict:
    """What a pull request's body shows of ``head`` on ``base``: its records and their texts, the
    compatibility tests they carry, lint of the merged tree, and who must still approve."""
    from medperf_git.policy.lineage import lineage
    from medperf_git.policy.review import review_submission

    changes = list(lineage(repo, base, head).changes)
    contents, compat = _record_texts(repo, changes)
    findings, _ = lint_merge(repo, 0, base, head)
    verdict = review_submission(repo, base, head).verdict
    return {"records": [(status, path) for status, _, _, path in changes], "contents": contents, "compat": compat,
            "findings": [f.to_dict() for f in findings],
            "approvers": [r.text() for r in verdict.requirements if not r.satisfied]}


def _record_texts(repo: GitRepo, changes) -> tuple[dict[str, str], list[str]]:
    """Each changed record's text for the body, and one line per compatibility test it carries."""
    from medperf_git.records.yamlio import YamlError, load_yaml

    texts: dict[str, str] = {}
    compat: list[str] = []
    for status, _, blob, path in changes:
        if status == "D" or not path.endswith(".yaml"):
            continue
        raw = repo.read_blob(blob)
        texts[path] = raw.decode("utf-8", "replace")
        try:
            record = load_yaml(raw, path)
        except YamlError:
            continue
        results = ((record or {}).get("compatibility_test") or {}).get("results") if isinstance(record, dict) \
            else None
        if isinstance(results, dict):
            compat.append(f"`{path}`: " + ", ".join(f"{k} = {v}" for k, v in results.items()))
    return texts, compat
