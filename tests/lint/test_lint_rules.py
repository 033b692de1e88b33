"""Each lint rule on a real registry folder: one failing case with its exact finding line, one passing case."""

from __future__ import annotations

import pytest
from registry_factory import (
    SHA,
    TREE,
    benchmark,
    container,
    dataset,
    dataset_association,
    make_valid_registry,
    model_association,
    result,
    write_record,
)

from medperf_git.lint.linter import lint, lint_tree
from medperf_git.registry.git import GitRepo
from medperf_git.registry.tree import CommitTree, FolderTree


def lines(root) -> list[str]:
    return [f"{f.path}:{f.line}:{f.col} {f.code} {f.message}" for f in lint_tree(FolderTree(root))]


@pytest.fixture
def reg(tmp_path):
    make_valid_registry(tmp_path)
    return tmp_path


def test_valid_registry_has_no_findings(reg):
    report = lint(FolderTree(reg))
    assert report.findings == []
    assert report.records == 13


def test_valid_registry_as_a_commit(tmp_path):
    make_valid_registry(tmp_path, commit=True)
    repo = GitRepo(tmp_path)
    assert lint_tree(CommitTree(repo, repo.rev_parse("HEAD"))) == []
    repo.close()


# placement
def test_unknown_file_is_a_finding(reg):
    write_record(reg, "notes.txt", "hello")
    assert lines(reg) == ["notes.txt:1:1 PLACEMENT unknown file 'notes.txt': a registry holds only registry.yaml, "
                          "README.md, .gitattributes, .gitignore, .github/ and records"]


def test_allowed_extra_files_pass(reg):
    for path in ("README.md", ".gitignore", ".gitattributes", ".github/workflows/lint.yml", "containers/README.md"):
        write_record(reg, path, "x: 1\n")
    assert lines(reg) == []


@pytest.mark.parametrize("name", ["containers/05.yaml", "containers/prep.yml", "containers/1.json"])
def test_badly_named_record_file(reg, name):
    write_record(reg, name, "x: 1\n")
    assert lines(reg) == [f"{name}:1:1 PLACEMENT '{name}' is not a valid name for a container record"]


def test_result_in_the_wrong_benchmark_folder(reg):
    write_record(reg, "results/2/b1m2d1.yaml", result())
    assert lines(reg) == ["results/2/b1m2d1.yaml:1:1 PLACEMENT 'results/2/b1m2d1.yaml' is not a valid name for a "
                          "result record"]


def test_id_must_match_file_name(reg):
    record = container(5, "five", "alice", "infer")
    record["id"] = 6
    write_record(reg, "containers/5.yaml", record)
    assert lines(reg) == ["containers/5.yaml:3:1 NAME-MISMATCH id is 6 but the file name says 5"]


def test_handle_must_match_file_name(reg, tmp_path):
    write_record(reg, "people/dave.yaml", {"schema_version": 1, "kind": "person", "handle": "david", "name": "D",
                                           "email": "d@example.org", "keys": ["ssh-ed25519 AAAA d"]})
    assert lines(reg) == ["people/dave.yaml:3:1 NAME-MISMATCH handle is 'david' but the file name says 'dave'"]


def test_association_fields_must_match_path(reg):
    write_record(reg, "associations/1/model-2.yaml", model_association(1, 4))
    assert lines(reg) == ["associations/1/model-2.yaml:4:1 NAME-MISMATCH model is 4 but the file name says 2"]


def test_record_of_another_kind_in_a_folder(reg):
    write_record(reg, "datasets/2.yaml", container(2, "y", "alice", "infer"))
    assert lines(reg) == ["datasets/2.yaml:2:1 PLACEMENT this file holds a container record, but datasets/2.yaml is "
                          "the place of a dataset record"]


def test_missing_registry_yaml(reg):
    (reg / "registry.yaml").unlink()
    assert lines(reg) == ["registry.yaml:1:1 PLACEMENT registry.yaml is missing: this folder is not a medperf-git "
                          "registry"]


# YAML, then schema
def test_yaml_syntax_error_has_its_position(reg):
    write_record(reg, "containers/5.yaml", "schema_version: 1\nname: [unclosed\n")
    assert lines(reg) == ["containers/5.yaml:3:1 YAML invalid YAML: did not find expected ',' or ']'"]


def test_schema_error_points_at_the_field(reg):
    record = container(5, "five", "alice", "infer")
    record["owner"] = 5
    write_record(reg, "containers/5.yaml", record)
    assert lines(reg) == ["containers/5.yaml:5:1 SCHEMA owner: must be of type string, not int"]


def test_schema_error_deep_in_the_record(reg):
    record = container(5, "five", "alice", "infer")
    record["config"]["tasks"]["infer"]["output_volumes"]["output_path"]["mount_path"] = "/tmp/out"
    write_record(reg, "containers/5.yaml", record)
    [line] = lines(reg)
    assert line.startswith("containers/5.yaml:12:11 SCHEMA config.tasks.infer.output_volumes.output_path.mount_path: "
                           '"/tmp/out" has the wrong form')


def test_unknown_and_missing_fields(reg):
    record = dataset(2, uid=TREE.replace("b", "d"))
    del record["owner"]
    record["colour"] = "blue"
    write_record(reg, "datasets/2.yaml", record)
    assert lines(reg) == ["datasets/2.yaml:1:1 SCHEMA missing required field 'owner'",
                          "datasets/2.yaml:1:1 SCHEMA unknown field 'colour'"]


# references
def test_unknown_person(reg):
    write_record(reg, "containers/5.yaml", container(5, "five", "zed", "infer"))
    assert lines(reg) == ["containers/5.yaml:5:1 UNKNOWN-REF owner: 'zed' is not a registered person "
                          "(no people/zed.yaml)"]


def test_unknown_person_in_a_list(reg):
    record = benchmark(2, "other", owners=("alice", "zed"))
    record["association_policy"]["models"] = {"mode": "allowlist", "allowlist": ["yan"]}
    write_record(reg, "benchmarks/2.yaml", record)
    assert lines(reg) == [
        "benchmarks/2.yaml:8:3 UNKNOWN-REF owners.1: 'zed' is not a registered person (no people/zed.yaml)",
        "benchmarks/2.yaml:18:7 UNKNOWN-REF association_policy.models.allowlist.0: 'yan' is not a registered "
        "person (no people/yan.yaml)"]


def test_unknown_container_and_dataset(reg):
    write_record(reg, "benchmarks/2.yaml", benchmark(2, "other", metrics=9))
    write_record(reg, "results/1/b1m2d9.yaml", result(dataset_id=9))
    assert lines(reg) == ["benchmarks/2.yaml:10:1 UNKNOWN-REF metrics: there is no container 9 (no containers/9.yaml)",
                          "results/1/b1m2d9.yaml:6:1 UNKNOWN-REF dataset: there is no dataset 9 "
                          "(no datasets/9.yaml)"]


def test_benchmark_containers_need_their_tasks(reg):
    write_record(reg, "benchmarks/2.yaml", benchmark(2, "other", prep=2, model=3, metrics=1))
    assert lines(reg) == [
        "benchmarks/2.yaml:8:1 MISSING-TASK data_preparation: container 2 is used as the data preparation but has "
        "no prepare, sanity_check, statistics tasks",
        "benchmarks/2.yaml:9:1 MISSING-TASK reference_model: container 3 is used as the reference model but has no "
        "infer task",
        "benchmarks/2.yaml:10:1 MISSING-TASK metrics: container 1 is used as the metrics but has no evaluate task"]


def test_benchmark_with_the_right_containers_passes(reg):
    write_record(reg, "benchmarks/2.yaml", benchmark(2, "other", prep=1, model=4, metrics=3))
    assert lines(reg) == []


def test_model_association_needs_an_infer_task(reg):
    write_record(reg, "associations/1/model-3.yaml", model_association(1, 3))
    assert lines(reg) == ["associations/1/model-3.yaml:4:1 MISSING-TASK model: container 3 is used as the model but "
                          "has no infer task"]


# uniqueness
def test_container_names_collide_ignoring_case_and_dashes(reg):
    write_record(reg, "containers/5.yaml", container(5, "my-model", "alice", "infer"))
    write_record(reg, "containers/6.yaml", container(6, "My_Model", "alice", "infer"))
    assert lines(reg) == ["containers/6.yaml:4:1 DUPLICATE-NAME name 'My_Model' is already taken by containers/5.yaml "
                          "(names are compared ignoring case, '-' and '_')"]


def test_benchmark_names_collide(reg):
    write_record(reg, "benchmarks/2.yaml", benchmark(2, "ChestXRay"))
    assert lines(reg) == ["benchmarks/2.yaml:4:1 DUPLICATE-NAME name 'ChestXRay' is already taken by "
                          "benchmarks/1.yaml (names are compared ignoring case, '-' and '_')"]


def test_generated_uid_is_unique_but_dataset_names_need_not_be(reg):
    write_record(reg, "datasets/2.yaml", dataset(2, uid=TREE.replace("b", "e")))
    assert lines(reg) == []  # same name as dataset 1, another generated_uid
    write_record(reg, "datasets/3.yaml", dataset(3))
    assert lines(reg) == ["datasets/3.yaml:11:1 DUPLICATE-UID generated_uid is already registered by datasets/1.yaml"]


# association rules
def test_association_with_a_missing_benchmark(reg):
    write_record(reg, "associations/9/dataset-1.yaml", dataset_association(9, 1))
    assert lines(reg) == ["associations/9/dataset-1.yaml:3:1 UNKNOWN-REF benchmark: there is no benchmark 9 "
                          "(no benchmarks/9.yaml)"]


def test_dataset_prepared_with_another_container(reg):
    write_record(reg, "containers/5.yaml", container(5, "prep2", "alice", "prepare", "sanity_check", "statistics"))
    write_record(reg, "datasets/2.yaml", dataset(2, prep=5, uid=TREE.replace("b", "f")))
    write_record(reg, "associations/1/dataset-2.yaml", dataset_association(1, 2))
    assert lines(reg) == ["associations/1/dataset-2.yaml:4:1 WRONG-PREPARATION dataset 2 was prepared with "
                          "container 5, but benchmark 1 prepares data with container 1"]


# file:/// URLs
def test_file_urls_need_the_registry_to_allow_them(reg, tmp_path):
    record = container(5, "five", "alice", "infer")
    record["source"] = {"url": "file:///srv/five.tar.gz", "hash": SHA}
    write_record(reg, "containers/5.yaml", record)
    assert lines(reg) == ["containers/5.yaml:18:3 FILE-URL source.url: file:// URLs are not allowed in this registry"]
    registry = {"schema_version": 1, "kind": "registry", "name": "test-registry", "admins": ["alice"],
                "medperf_git": "medperf-git==0.1.0", "allow_file_urls": True}
    write_record(reg, "registry.yaml", registry)
    assert lines(reg) == []


def test_findings_are_sorted_by_path_and_line(reg):
    write_record(reg, "containers/6.yaml", container(6, "six", "zed", "infer"))
    write_record(reg, "benchmarks/2.yaml", benchmark(2, "other", owners=("yan",), metrics=9))
    found = lint_tree(FolderTree(reg))
    assert [(f.path, f.line) for f in found] == sorted((f.path, f.line) for f in found)
    assert [f.code for f in found] == ["UNKNOWN-REF"] * 3


# published numbers: metrics and statistics hold numbers under short labels, never text
def test_text_in_metrics_is_refused_at_its_line(reg):
    write_record(reg, "results/1/b1m2d1.yaml", "schema_version: 1\nkind: result\nname: b1m2d1\nbenchmark: 1\n"
                 "model: 2\ndataset: 1\nowner: bob\nmetrics:\n  AUC: 0.91\n  patient: MRN-0042 Jane Doe\n"
                 "partial: false\n" + _tail(result()))
    assert lines(reg) == ['results/1/b1m2d1.yaml:10:3 SCHEMA metrics.patient: "MRN-0042 Jane Doe" is not a number: '
                          "metrics and statistics hold only numbers, and lists and maps of numbers"]


def _tail(record: dict) -> str:
    """The provenance and created_at of a record, as YAML, for records otherwise written by hand."""
    from medperf_git.records.yamlio import dump_yaml

    return dump_yaml({k: record[k] for k in ("provenance", "created_at")})


def test_text_in_statistics_is_refused_at_its_line(reg):
    record = dataset(2, uid=TREE.replace("b", "d"))
    record["statistics"] = {"num_cases": 12, "labels_count": {"atelectasis": 3, "effusion": "MRN-0042"}}
    write_record(reg, "datasets/2.yaml", record)
    assert lines(reg) == ['datasets/2.yaml:16:5 SCHEMA statistics.labels_count.effusion: "MRN-0042" is not a '
                          "number: metrics and statistics hold only numbers, and lists and maps of numbers"]


@pytest.mark.parametrize("text,message", [
    ("  AUC: .nan\n", "metrics.AUC: NaN is not a number: a value that cannot be computed is left out, not written "
                      "as NaN"),
    ("  AUC: -.inf\n", "metrics.AUC: -Infinity is out of range: published numbers are finite, within "
                       "-9007199254740991 and 9007199254740991 (2^53 - 1)"),
    ("  AUC: 12345678901234567890\n", "metrics.AUC: 12345678901234567890 is out of range: published numbers are "
                                      "finite, within -9007199254740991 and 9007199254740991 (2^53 - 1)"),
    ("  converged: true\n", "metrics.converged: true is not a number: metrics and statistics hold only numbers, and "
                            "lists and maps of numbers"),
    ("  AUC:\n", "metrics.AUC: null is not a number: metrics and statistics hold only numbers, and lists and maps "
                 "of numbers"),
    ("  Jane Doe: 1\n", "metrics.Jane Doe: the key \"Jane Doe\" is not a label: 1 to 64 letters, digits, '_', '.' "
                        "or '-'"),
    ("  7: 1\n", "metrics.7: the key 7 is not text: keys are names such as metric or class names (quote it)"),
    ("  per_class:\n    effusion:\n      counts: [1, 2]\n",
     'metrics.per_class.effusion.counts: [1, 2] is not a number: lists and maps nest at most three levels deep, '
     "and hold only numbers"),
    ("  curve: [" + ", ".join("0.5" for _ in range(257)) + "]\n",
     "metrics.curve: is a list of 257 items: a list holds at most 256"),
])
def test_metrics_hold_finite_numbers_under_labels(reg, text, message):
    """The finding names the field and sits on the line of the refused value (the last under metrics)."""
    write_record(reg, "results/1/b1m2d1.yaml", "schema_version: 1\nkind: result\nname: b1m2d1\nbenchmark: 1\n"
                 "model: 2\ndataset: 1\nowner: bob\nmetrics:\n" + text + "partial: false\n" + _tail(result()))
    [line] = lines(reg)
    assert line.startswith("results/1/b1m2d1.yaml:") and line.endswith(f" SCHEMA {message}")
    assert line.split(":")[1] == str(8 + text.count("\n"))


def test_metrics_as_medperf_containers_write_them_pass(reg):
    """The chest X-ray example's shapes, per-class maps and a confusion matrix are all fine."""
    record = result()
    record["metrics"] = {"Accuracy": 0.86, "AUC": 0.5, "num_cases": 12,
                         "per_class": {"Atelectasis": {"AUC": 0.7, "F1": 0.1}, "No_Finding": {"AUC": 1}},
                         "confusion": [[3, 1], [0, 8]], "thresholds.v2": [0.1, 0.5, 1e-300]}
    write_record(reg, "results/1/b1m2d1.yaml", record)
    record = dataset(2, uid=TREE.replace("b", "d"))
    record["statistics"] = {"num_cases": 12, "labels_count": {f"label-{i}": i for i in range(14)}}
    write_record(reg, "datasets/2.yaml", record)
    assert lines(reg) == []
