"""The policy engine: may this author make this change, and whose approvals does it need?

Everything is decided from the records of the **base** commit (people, admins, owners, association
policies, pins), never from the submission, so a submission cannot grant itself rights: a changed
owners list or key takes effect only once merged under the old rules. The change is the diff of
``merge-base(base, head)..head``. Rules come from DESIGN.md's permissions table
(``records/permissions.py``); kind-specific rules for creating associations and results live in
``policy/_create.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from medperf_git.lint.findings import Finding
from medperf_git.policy import _create
from medperf_git.policy.base import BaseRecords, load_mapping
from medperf_git.policy.lineage import Lineage
from medperf_git.policy.verdict import Requirement, Verdict
from medperf_git.records.envelope import reencryption_problem
from medperf_git.records.layout import RECORD_FOLDERS, RecordPath, parse_path, path_problem, printable, record_path
from medperf_git.records.permissions import ENVELOPE_FIELD, ON_BEHALF, PERMISSIONS, field_rule, frozen_record
from medperf_git.registry.git import GitRepo
from medperf_git.registry.verify import normalize_key

__all__ = ["Requirement", "Verdict", "evaluate", "Judge"]

# Records whose place is a number the submitter picked (an id, a re-run suffix): when another record
# takes it first, the submission moves to the next free one.
RENUMBERABLE = ("container", "benchmark", "dataset", "result")


class Judge:
    """Collects violations and requirements while the change is examined path by path."""

    def __init__(self, repo: GitRepo, base: str, author: str, records: BaseRecords | None = None):
        self.repo = repo
        self.base = records if records is not None and records.rev == base else BaseRecords(repo, base)
        self.author = author
        self.violations: list[Finding] = []
        self.requirements: dict[str, Requirement] = {}

    def deny(self, path: str, code: str, message: str, hint: str | None = None) -> None:
        self.violations.append(Finding(path, 1, 1, code, message, hint))

    def need(self, description: str, candidates: Sequence[str], count: int, path: str) -> None:
        """Approvals from ``candidates`` other than the author (a sole holder of the role may act alone)."""
        others = [c for c in dict.fromkeys(candidates) if c != self.author]
        if not others and self.author in candidates:
            return
        req = self.requirements.get(description)
        if req is None:
            req = self.requirements[description] = Requirement(description, others, max(1, count))
        req.count = max(req.count, count)
        if path not in req.paths:
            req.paths.append(path)

    def need_admins(self, path: str) -> None:
        self.need("the registry admins", self.base.admins, 1, path)

    # Roles, resolved on the base
    def benchmark(self, bid) -> dict | None:
        return self.base.record("benchmark", bid) if isinstance(bid, int) else None

    def roles(self, rp: RecordPath, old: dict) -> set[str]:
        author, roles = self.author, {"any"}
        if author in self.base.admins:
            roles.add("admins")
        if rp.kind == "person" and rp.key == author:
            roles.add("self")
        if old.get("owner") == author:
            roles.add("owner")
        if author in (old.get("owners") or []):
            roles.add("owners")
        if rp.kind in ("association", "result"):
            if author in ((self.benchmark(rp.benchmark) or {}).get("owners") or []):
                roles.add("benchmark_owners")
            if rp.kind == "association" and author == _create.component_owner(self, rp):
                roles.add("component_owner")
        return roles

    def approve_role(self, role: str, rp: RecordPath, old: dict, path: str) -> None:
        if role == "policy":
            return
        if role == "admins":
            self.need_admins(path)
        elif role in ("owners", "benchmark_owners"):
            bench = old if rp.kind == "benchmark" else (self.benchmark(rp.benchmark) or {})
            self.need(f"the committee of benchmark {bench.get('id', rp.benchmark)}", bench.get("owners") or [],
                      int(bench.get("approvals_required") or 1), path)
        elif role == "owner":
            self.need(f"the owner of {rp.path}", [old.get("owner")] if old.get("owner") else [], 1, path)
        else:
            self.deny(path, "NOT-PERMITTED", f"no approver is defined for role '{role}'")

    # The change, path by path
    def path(self, status: str, new_blob: str, path: str) -> None:
        problem = path_problem(path)
        if problem:
            self.deny(printable(path), "BAD-PATH", f"{problem}: '{printable(path)}'",
                      "name files with plain, visible characters")
            return
        rp = parse_path(path)
        if status == "D":
            self.deny(path, "DELETED", "deleting is refused: records are never deleted, so ids are never freed",
                      "to end a record's use set `retired: true` (containers, benchmarks) or `revoked` (associations)")
            return
        if rp is None:
            if path.split("/", 1)[0] in RECORD_FOLDERS:
                self.deny(path, "OUT-OF-SCOPE", "this path holds no record, so no submission may write it",
                          "records live at people/<handle>.yaml, datasets/<id>.yaml, ... (see DESIGN.md)")
            else:
                twin = self.base.case_twin(path) if status == "A" else None
                if twin:
                    self.deny(path, "CASE-TWIN", f"'{path}' differs only in case from '{twin}' on the base",
                              "keep one of the two names")
                self.need_admins(path)
            return
        new = load_mapping(self.repo.read_blob(new_blob), path)
        if new is None:
            self.deny(path, "RECORD-INVALID", "the record is not a YAML mapping", "run `medperf-git registry lint`")
            return
        if self.base.exists(path):
            if status == "A" and self.base.blob(path) != new_blob and rp.kind in RENUMBERABLE:
                # A new record whose id someone else's record took meanwhile: never an edit of theirs.
                self.deny(path, "ID-TAKEN", f"{path} was free when this submission was made, and another record took "
                                            "it since", "renumber it: `medperf-git submission renumber N` (the "
                                                        "publishing commands do it by themselves)")
                return
            old = self.base.get(path)
            if old is None:
                self.deny(path, "BASE-INVALID", "the base's version of this record cannot be read")
            elif old != new:
                self.change(rp, old, new, path)
            return
        self.create(rp, new, path)

    def create(self, rp: RecordPath, new: dict, path: str) -> None:
        author, kind = self.author, rp.kind
        if kind == "person":
            if rp.key != author:
                self.deny(path, "NOT-PERMITTED", f"'{author}' may not create the person record of '{rp.key}'",
                          "each person registers themselves with `medperf-git person register`")
            if not self.base.open_registration:
                self.need_admins(path)
            self.check_new_keys(new, path)
        elif kind in ("container", "dataset"):
            if new.get("owner") != author:
                self.deny(path, "NOT-OWNER", f"a new {kind} must name its author '{author}' as owner, "
                                             f"not '{new.get('owner')}'")
            if kind == "dataset":
                _create.confidential(self, self.benchmark(new.get("benchmark")), new, path, "dataset's statistics")
        elif kind == "benchmark":
            if author not in (new.get("owners") or []):
                self.deny(path, "NOT-OWNER", f"a new benchmark must list its author '{author}' among its owners")
            self.need_admins(path)
        elif kind == "association":
            _create.association(self, rp, new, path)
            _create.weights_keys(self, rp, None, new, path)
        elif kind == "result":
            _create.result(self, rp, new, path)
        else:  # registry.yaml missing on the base: only admins may set a registry up
            self.need_admins(path)

    def change(self, rp: RecordPath, old: dict, new: dict, path: str) -> None:
        kind = rp.kind
        fields = [f for f in dict.fromkeys([*old, *new]) if old.get(f) != new.get(f) or (f in old) != (f in new)]
        if not PERMISSIONS[kind].mutable or frozen_record(kind, set(fields)):
            self.deny(path, "RESULT-EDITED" if kind == "result" else "FROZEN-FIELD",
                      f"{kind} records never change once merged",
                      "submit a re-run as a new result (-2, -3, ...)" if kind == "result" else None)
            return
        if ENVELOPE_FIELD in fields:
            problem = reencryption_problem(old.get(ENVELOPE_FIELD), new.get(ENVELOPE_FIELD))
            if problem:
                self.deny(path, "REENCRYPT-CHANGED", problem)
                return
        roles = self.roles(rp, old)
        for name in fields:
            rule = field_rule(kind, name)
            if rule is None:
                self.deny(path, "FROZEN-FIELD", f"'{name}' cannot change once a {kind} is merged")
            elif roles & set(rule.changed_by):
                for role in rule.approved_by:
                    self.approve_role(role, rp, old, path)
            elif kind in ON_BEHALF:
                for role in ON_BEHALF[kind]:
                    self.approve_role(role, rp, old, path)
            else:
                who = " or ".join(rule.changed_by).replace("_", " ")
                self.deny(path, "NOT-PERMITTED", f"'{self.author}' may not change '{name}' of {path} "
                                                 f"(only the {who} may)")
        if kind == "person" and "keys" in fields:
            self.check_new_keys(new, path, old)
        if kind == "association" and "weights_keys" in fields:
            _create.weights_keys(self, rp, old, new, path)
        if kind == "association" and "revoked" in fields and isinstance(new.get("revoked"), dict) \
                and new["revoked"].get("by") != self.author:
            self.deny(path, "NOT-PERMITTED", f"revoked.by must name the person revoking ('{self.author}')")

    def check_new_keys(self, new: dict, path: str, old: dict | None = None) -> None:
        """A key already registered to someone else would make signatures ambiguous."""
        before = {normalize_key(k) for k in (old or {}).get("keys") or [] if isinstance(k, str)}
        handle = path[len("people/"):-len(".yaml")]
        for key in new.get("keys") or []:
            if not isinstance(key, str) or normalize_key(key) in before:
                continue
            others = [h for h in self.base.key_owners(key) if h != handle]
            if others:
                self.deny(path, "KEY-TAKEN", f"this key is already registered to '{others[0]}'",
                          "generate a new key for this person")

    def verdict(self, approvals: Sequence[str], base: str, head: str) -> Verdict:
        given = [a for a in dict.fromkeys(approvals) if a != self.author]
        reqs = list(self.requirements.values())
        for req in reqs:
            req.approved_by = [a for a in given if a in req.candidates]
        return Verdict(self.violations, reqs, self.author, base, head)


def evaluate(repo: GitRepo, line: Lineage, *, author: str | None,
             approvals: Sequence[str] = (), records: BaseRecords | None = None) -> Verdict:
    """The verdict on merging the head into the base, judged on the base commit's records only.

    ``records`` may pass the base's records already read (e.g. by ``review_submission``).
    """
    judge = Judge(repo, line.base, author or "", records)
    if not line.fork:
        judge.deny(".", "UNRELATED", f"{line.head[:12]} shares no history with {line.base[:12]}")
        return judge.verdict(approvals, line.base, line.head)
    paths = line.paths
    if not author:
        judge.deny(".", "NO-AUTHOR", "the submission has no identifiable author (its commits must be signed)")
    elif not judge.base.exists(record_path("person", author)) and record_path("person", author) not in paths:
        judge.deny(".", "NOT-REGISTERED", f"'{author}' is not a registered person on the base",
                   "register first with `medperf-git person register`")
    # Both sides of every changed record, read with one cat-file round trip instead of one per file.
    repo.prefetch([blob for status, _, blob, _ in line.changes if status != "D"] +
                  [blob for _, _, _, path in line.changes if (blob := judge.base.blob(path))])
    for status, _, new_blob, path in line.changes:
        judge.path(status, new_blob, path)
    return judge.verdict(approvals, line.base, line.head)
