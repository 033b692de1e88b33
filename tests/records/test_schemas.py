import json

import pytest
from jsonschema import Draft202012Validator

from medperf_git.records.schemas import KINDS, schema_text, validate

ALL = (*KINDS, "common", "container_config")


@pytest.mark.parametrize("name", ALL)
def test_every_schema_is_a_valid_draft_2020_12_schema(name):
    schema = json.loads(schema_text(name))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("kind", [k for k in KINDS])
def test_records_are_strict_about_unknown_fields(kind):
    problems = validate(kind, {"schema_version": 1, "kind": kind, "surprise": True})
    assert any("unknown field 'surprise'" in p.message for p in problems)


@pytest.mark.parametrize("value,ok", [
    ("sha256:" + "a" * 64, True), ("sha256:" + "A" * 64, False), ("md5:abc", False),
])
def test_hash_patterns(value, ok):
    record = {"schema_version": 1, "kind": "container", "id": 1, "name": "c", "owner": "bo",
              "config": {"tasks": {"infer": {}}}, "source": {"url": "https://example.org/s.tar.gz", "hash": value}}
    assert (validate("container", record) == []) is ok
