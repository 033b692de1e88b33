"""Finding 3: a path is a record's place only when the whole of it matches the layout.

``datasets/1.yaml`` followed by a newline used to pass the layout check (``$`` matches before a
trailing newline): it was judged a *new* record and listed as a second "dataset 1", owned by the
attacker. Lint and policy share one rule now, which also refuses control and invisible characters,
names that are not in normal form C, and names that differ from another only in case.
"""

from __future__ import annotations

import pytest

from tests.attacks.hostile import MAIN, audit_lines, dataset, record, tutorial_target
from tests.support.tutorial_registry import commit_records


@pytest.fixture
def target(tmp_path):
    target = tutorial_target(tmp_path)
    commit_records(target.registry, target.actors["testadmin"],
                   {"datasets/1.yaml": dataset(1, "testdo", "b")},
                   "testdo's dataset 1")
    return target


@pytest.mark.parametrize("name", ["1.yaml\n", "1.yaml\r", "1.yaml\u202e", "1.yam\u200bl", "1.YAML"])
def test_a_look_alike_record_path_is_refused_by_ci_and_by_the_audit(target, invoke, name):
    forged = record(dataset(1, "testmo", "c"))
    main = target.main
    head = target.commit(target.tree_with_name(main, "datasets", name, forged), [main], "Dataset", "testmo")
    with target.actors["testbo"].active():
        check = invoke("ci", "check", str(target.registry), "--base", main, "--head", head)
    assert check.exit_code in (3, 4), check.output
    assert "BAD-PATH" in check.output or "PLACEMENT" in check.output or "PATH" in check.output

    merge = target.commit(target.clean_merge_tree(main, head), [main, head], "Merge", "testmo")
    target.set_ref(MAIN, merge)
    code, output = audit_lines(invoke, target)
    assert code == 4 and f"{merge[:12]} LINT datasets/" in output, output
    assert "PATH" in output or "PLACEMENT" in output
    with target.actors["testbo"].active():  # nobody ever lists a second dataset 1
        listed = invoke("dataset", "ls", "--json")
    assert listed.stdout.count('"id": 1') <= 1 and "testmo" not in listed.stdout


def test_paths_are_refused_alike_by_lint_and_policy():
    from medperf_git.lint._parse import placement
    from medperf_git.records.layout import parse_path, path_problem

    for path in ("datasets/1.yaml\n", "people/bo\u0301.yaml", "containers/\u202e4.yaml", ".GIT/config", "a/../b"):
        assert parse_path(path) is None and path_problem(path) is not None
        assert placement(path)[1] is not None
    assert parse_path("datasets/1.yaml").id == 1 and path_problem("datasets/1.yaml") is None


def test_case_twins_outside_the_record_folders_are_refused(target, invoke):
    """Under .github/ (admins' files) two names that differ only in case overwrite each other on some disks."""
    main = target.main
    tree = target.tree(main, {".github/workflows/ci.yml": "on: push\n", ".github/workflows/CI.yml": "on: push\n"})
    head = target.commit(tree, [main], "Workflows", "testadmin")
    with target.actors["testbo"].active():
        check = invoke("ci", "check", str(target.registry), "--base", main, "--head", head)
    assert check.exit_code == 3 and "CASE-TWIN" in check.output, check.output
