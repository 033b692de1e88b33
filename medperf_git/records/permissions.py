"""DESIGN.md's permissions table, as data.

Lint with ``--base``, the policy engine, the audit and the GitHub bot all read this one table, so
the rules cannot drift apart. Roles are resolved against the records of the base commit:

- ``self``: the person the record describes (people only);
- ``owner``: the record's ``owner`` field (containers, datasets, results);
- ``owners``: the benchmark's ``owners``;
- ``benchmark_owners``: the owners of the benchmark a record belongs to (associations);
- ``component_owner``: the owner of an association's dataset or model container;
- ``admins``: ``registry.yaml``'s admins;
- ``policy``: no person; merges once checks pass (self-service);
- ``nobody``: never changes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldRule:
    fields: tuple[str, ...]
    changed_by: tuple[str, ...]
    approved_by: tuple[str, ...] = ("policy",)


@dataclass(frozen=True)
class KindRule:
    created_by: tuple[str, ...]
    approved_by: tuple[str, ...]
    mutable: tuple[FieldRule, ...]


PERMISSIONS: dict[str, KindRule] = {
    "person": KindRule(
        created_by=("self",),
        approved_by=("admins",),  # nobody under registry.yaml's open_registration
        mutable=(FieldRule(("name", "email", "keys", "accounts"), ("self",), ("policy",)),),
    ),
    "registry": KindRule(
        created_by=("admins",),
        approved_by=("admins",),
        mutable=(FieldRule(("*",), ("admins",), ("admins",)),),
    ),
    "container": KindRule(
        created_by=("any",),
        approved_by=("policy",),
        mutable=(FieldRule(("description", "retired"), ("owner",), ("policy",)),),
    ),
    "benchmark": KindRule(
        created_by=("any",),
        approved_by=("admins",),
        mutable=(
            FieldRule(("description", "docs_url", "association_policy", "approvals_required",
                       "min_isolation", "result_visibility", "retired"), ("owners",), ("policy",)),
            FieldRule(("owners",), ("owners",), ("admins",)),
        ),
    ),
    "dataset": KindRule(
        created_by=("any",),
        approved_by=("policy",),
        mutable=(FieldRule(("description", "location", "encrypted"), ("owner",), ("policy",)),),
    ),
    "association": KindRule(
        created_by=("component_owner", "benchmark_owners"),
        approved_by=("other_side",),
        mutable=(
            FieldRule(("priority",), ("benchmark_owners",), ("policy",)),
            FieldRule(("revoked",), ("benchmark_owners", "component_owner"), ("policy",)),
            # A private model's key, released to data owners (records/weights.py): its owner alone.
            FieldRule(("weights_keys",), ("component_owner",), ("policy",)),
        ),
    ),
    # A result's numbers never change; its envelope is re-encrypted (same plaintext_sha256) by a recipient.
    "result": KindRule(created_by=("dataset_owner",), approved_by=("policy",),
                       mutable=(FieldRule(("encrypted",), ("owner", "benchmark_owners"), ("policy",)),)),
}

# Envelopes (records/envelope.py) may be re-encrypted but never added, removed or given another plaintext.
ENVELOPE_FIELD = "encrypted"


def frozen_record(kind: str, changed: set[str]) -> bool:
    """Whether a change to a record of ``kind`` touching ``changed`` edits a record that never changes: a
    result changes only by re-encryption."""
    return kind == "result" and bool(changed - mutable_fields(kind))


def mutable_fields(kind: str) -> set[str]:
    """Top-level fields of ``kind`` that may change after merge (``*`` means any)."""
    rule = PERMISSIONS[kind]
    return {f for r in rule.mutable for f in r.fields}


def field_rule(kind: str, field: str) -> FieldRule | None:
    for rule in PERMISSIONS[kind].mutable:
        if field in rule.fields or "*" in rule.fields:
            return rule
    return None


# A change proposed by someone outside a field's ``changed_by`` is normally refused; for these kinds
# it is allowed but needs these approvers instead (admins approve a key added for someone else, e.g.
# a recovery, and anyone may propose a change to registry.yaml).
ON_BEHALF: dict[str, tuple[str, ...]] = {"person": ("admins",), "registry": ("admins",)}

# Isolation levels, weakest first: a result's isolation must reach its benchmark's ``min_isolation``.
ISOLATION_LEVELS: tuple[str, ...] = ("none", "sandbox", "container")
