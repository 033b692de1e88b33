import json

import pytest
from jsonschema import Draft202012Validator

from medperf_git.records.schemas import KINDS, schema_text, validate, validate_definition

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


NAN, INF = float("nan"), float("inf")
PUBLISHED = [  # (metrics or statistics, accepted)
    ({"Accuracy": 0.86, "AUC": 0.5}, True),  # the chest X-ray metrics container's results.yaml
    ({"num_cases": 12, "labels_count": {"atelectasis": 1, "effusion": 0}}, True),  # its statistics.yaml
    ({"correct": 3, "incorrect": 1, "error": 0, "num_classes": 2}, True),  # MedPerf's mock metrics
    ({"per_class": {"Atelectasis": {"AUC": 0.7}}, "confusion": [[3, 1], [0, 8]]}, True),  # three levels
    ({"x" * 64: 1, "a.b-c_D9": -2.5e-300, "big": 2**53 - 1}, True),
    ({}, True),
    ({"patient": "MRN-0042 Jane Doe"}, False),
    ({"labels_count": {"effusion": "3"}}, False),  # a number written as text is text
    ({"AUC": NAN}, False), ({"AUC": INF}, False), ({"AUC": -INF}, False), ({"n": 2**53}, False),
    ({"n": 10**400}, False), ({"flag": True}, False), ({"missing": None}, False),
    ({"Jane Doe": 1}, False), ({"": 1}, False), ({"x" * 65: 1}, False), ({"é": 1}, False),
    ({"a": {"b": {"c": {"d": 1}}}}, False), ({"a": [[[1]]]}, False),  # four levels
    ({"a": list(range(257))}, False), ({f"k{i}": 1 for i in range(257)}, False),
    ({"a": {f"k{i}": 1 for i in range(257)}}, False),
    ("MRN-0042", False), ([1, 2], False),
]


@pytest.mark.parametrize("value,ok", PUBLISHED)
def test_published_numbers(value, ok):
    """Metrics and statistics: numbers, lists and maps of numbers, under short labels, bounded in size."""
    assert (validate_definition("published_numbers", value) == []) is ok
    dataset = {"schema_version": 1, "kind": "dataset", "id": 1, "name": "d", "owner": "bo", "data_preparation": 1,
               "input_data_hash": "tree-v1:sha256:" + "a" * 64, "generated_uid": "tree-v1:sha256:" + "b" * 64,
               "statistics": value, "tool_version": "0.1.0"}
    assert (validate("dataset", dataset) == []) is ok


@pytest.mark.parametrize("value,ok", PUBLISHED)
def test_lint_fast_path_agrees_on_published_numbers(value, ok):
    """Lint trusts the compiled validator's "valid": it must never accept what the explaining one refuses."""
    from medperf_git.lint._fastschema import is_valid

    result = {"schema_version": 1, "kind": "result", "name": "b1m2d1", "benchmark": 1, "model": 2, "dataset": 1,
              "owner": "bo", "metrics": value, "partial": False,
              "provenance": {"dataset_uid": "tree-v1:sha256:" + "a" * 64, "runner": "local", "isolation": "none",
                             "tool_version": "0.1.0",
                             "containers": {role: {"id": 1, "config_hash": "sha256:" + "c" * 64,
                                                   "parameters_hash": "sha256:" + "c" * 64}
                                            for role in ("model", "metrics")}},
              "created_at": "2026-01-01T00:00:00Z"}
    assert (validate("result", result) == []) is ok
    assert is_valid("result", result) in (ok, None)
