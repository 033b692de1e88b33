"""How a submission's head relates to the base it is judged against.

Every policy question starts from the same three facts: the fork point (``merge-base``), the
submission's own commits (``base..head``) and what they change (the diff from the fork). They are
computed once per head and handed to every rule, and for many heads at once with three git
processes in all, so listing a thousand submissions costs what listing one does, plus parsing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from medperf_git.errors import GitError
from medperf_git.registry.git import GitRepo, is_object_id

Change = tuple[str, str, str, str]  # (status A/M/D, old blob, new blob, path)


@dataclass(frozen=True)
class Lineage:
    base: str
    head: str
    fork: str | None  # merge-base(base, head); None when they share no history
    commits: tuple[str, ...]  # base..head, the head first and every commit before its parents
    changes: tuple[Change, ...]  # fork..head

    @property
    def paths(self) -> list[str]:
        return [path for _, _, _, path in self.changes]


def lineage(repo: GitRepo, base: str, head: str) -> Lineage:
    return lineages(repo, base, [head])[head]


def lineages(repo: GitRepo, base: str, heads: Iterable[str]) -> dict[str, Lineage]:
    """The lineage of each head against commit ``base`` (keyed by the heads as given).

    One ``rev-list --parents`` lists every commit the heads have and the base lacks; walking that
    graph from each head gives its commits and the base commits it touches. When it touches exactly
    one, that commit is the merge-base (all common history lies below it); otherwise, as after a
    merge of main into the submission, git computes it.
    """
    given = list(dict.fromkeys(heads))
    full = _commits(repo, [base, *given])
    base = full[base]
    heads = list(dict.fromkeys(full.values()))
    parents: dict[str, list[str]] = {}
    if heads:
        listed = repo.out("rev-list", "--parents", "--stdin", input="".join(f"{h}\n" for h in heads) + f"^{base}\n")
        for line in listed.splitlines():
            sha, *rest = line.split()
            parents[sha] = rest
    walked: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    for head in heads:
        if head not in parents:  # already part of the base's history
            walked[head] = (head, ())
            continue
        own, edge = _walk(head, parents)
        walked[head] = (_fork(repo, base, head, edge), own)
    diffs = repo.diff_commits([(fork, head) for head, (fork, commits) in walked.items() if fork and commits])
    return {name: Lineage(base, full[name], *walked[full[name]], tuple(diffs.get(full[name], ()))) for name in given}


def merge_lineages(repo: GitRepo, start: str | None, chain: Sequence[Sequence[str]]) -> dict[str, Lineage]:
    """merge -> its second parent's lineage against its first, for a first-parent ``chain`` of
    ``[commit, *parents]`` rows in order from ``start`` (as ``rev-list --first-parent --reverse --parents``
    lists it): one ``rev-list`` and one ``diff-tree`` for every merge, where asking :func:`lineage` of
    each costs a few git processes per merge.

    Walking the chain in order keeps the set of commits main already holds, so each merge's own
    commits are those its second parent reaches outside that set. {} when the chain has a commit of
    more than two parents (the audit judges those one by one).
    """
    if any(len(row) > 3 for row in chain):
        return {}
    merges = [(row[0], row[1], row[2]) for row in chain if len(row) == 3]
    if not merges:
        return {}
    listed = repo.out("rev-list", "--parents", "--stdin",
                      input="".join(f"{second}\n" for _, _, second in merges) + (f"^{start}\n" if start else ""))
    graph: dict[str, list[str]] = {}
    for line in listed.splitlines():
        sha, *rest = line.split()
        graph[sha] = rest
    on_main: set[str] = set()
    outside = _Outside(graph, on_main)
    walked: dict[str, tuple[str, str, str | None, tuple[str, ...]]] = {}
    merge_of = {sha: (first, second) for sha, first, second in merges}
    for sha, *_ in chain:
        if sha in merge_of:
            first, second = merge_of[sha]
            if second not in outside:
                walked[sha] = (first, second, second, ())
            else:
                own, edge = _walk(second, outside)
                walked[sha] = (first, second, _fork(repo, first, second, edge), own)
                on_main.update(own)
        on_main.add(sha)
    diffs = repo.diff_commits([(fork, second) for _, second, fork, own in walked.values() if fork and own])
    return {sha: Lineage(first, second, fork, own, tuple(diffs.get(second, ())) if own else ())
            for sha, (first, second, fork, own) in walked.items()}


def _fork(repo: GitRepo, base: str, head: str, edge: set[str]) -> str | None:
    """The merge-base, from where the walk from ``head`` met the base's history: the one commit it met
    (all common history lies below it), none for unrelated histories, else git's answer."""
    if len(edge) == 1:
        return next(iter(edge))
    return repo.merge_base(base, head) if edge else None


class _Outside:
    """``graph`` without the commits main already holds: what :func:`_walk` reads as parents."""

    def __init__(self, graph: dict[str, list[str]], on_main: set[str]):
        self.graph, self.on_main = graph, on_main

    def __contains__(self, sha: str) -> bool:
        return sha in self.graph and sha not in self.on_main

    def __getitem__(self, sha: str) -> list[str]:
        return self.graph[sha]


def _walk(head: str, parents: dict[str, list[str]] | _Outside) -> tuple[tuple[str, ...], set[str]]:
    """The commits from ``head`` down to the base's history, children before parents, and the base
    commits where the walk stops."""
    pending = {head: 0}
    for sha in _reachable(head, parents):
        for parent in parents[sha]:
            if parent in parents:
                pending[parent] = pending.get(parent, 0) + 1
    order, edge, ready = [], set(), [head]
    while ready:
        sha = ready.pop()
        order.append(sha)
        for parent in parents[sha]:
            if parent not in parents:
                edge.add(parent)
                continue
            pending[parent] -= 1
            if pending[parent] == 0:
                ready.append(parent)
    return tuple(order), edge


def _reachable(head: str, parents: dict[str, list[str]] | _Outside) -> set[str]:
    seen, stack = {head}, [head]
    while stack:
        for parent in parents[stack.pop()]:
            if parent in parents and parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def _commits(repo: GitRepo, revs: list[str]) -> dict[str, str]:
    """The commit id each revision names, for all of them with one ``cat-file --batch-check``
    (none when all are commit ids already, which the object reader answers in-process)."""
    if all(is_object_id(rev) and repo.object_type(rev) == "commit" for rev in revs):
        return {rev: rev for rev in revs}
    out = repo.out("cat-file", "--batch-check=%(objectname) %(objecttype)",
                   input="".join(f"{rev}^{{commit}}\n" for rev in revs)).splitlines()
    found = {}
    for rev, line in zip(revs, out, strict=True):
        sha, _, kind = line.partition(" ")
        if kind != "commit":
            raise GitError(f"{rev} is not a commit of {repo.path}")
        found[rev] = sha
    return found
