"""``lint --base``: history rules against a base commit, and incremental checks of only the changed records."""

from __future__ import annotations

import importlib.util

import pytest
from registry_factory import SHA, TREE, container, dataset, git_commit, make_valid_registry, write_record

from medperf_git.lint.linter import lint
from medperf_git.lint.local import changed_since, lint_path
from medperf_git.registry.git import GitRepo
from medperf_git.registry.tree import CommitTree, FolderTree

HAS_INDEX = importlib.util.find_spec("medperf_git.registry.index") is not None
MODES = [pytest.param(False, id="base-tree"),
         pytest.param(True, id="index", marks=pytest.mark.skipif(not HAS_INDEX, reason="the index is not installed"))]


def lines(report) -> list[str]:
    return [f"{f.path}:{f.line}:{f.col} {f.code} {f.message}" for f in report.findings]


@pytest.fixture
def reg(tmp_path):
    records = make_valid_registry(tmp_path, commit=True)
    return tmp_path, records


@pytest.mark.parametrize("use_index", MODES)
def test_unchanged_checkout_is_valid(reg, use_index):
    root, _ = reg
    report = lint_path(root, "HEAD", use_index=use_index)
    assert report.findings == [] and report.records == 0


@pytest.mark.parametrize("use_index", MODES)
def test_changed_immutable_field(reg, use_index):
    root, records = reg
    record = records["containers/2.yaml"]
    record["image"]["digest"] = "sha256:" + "f" * 64
    write_record(root, "containers/2.yaml", record)
    assert lines(lint_path(root, "HEAD", use_index=use_index)) == [
        "containers/2.yaml:14:1 FROZEN-FIELD image cannot change once a container is merged (it may change only: "
        "description, retired)"]


@pytest.mark.parametrize("use_index", MODES)
def test_allowed_mutable_change_passes(reg, use_index):
    root, records = reg
    records["containers/2.yaml"]["description"] = "a better description"
    records["containers/2.yaml"]["retired"] = True
    write_record(root, "containers/2.yaml", records["containers/2.yaml"])
    records["benchmarks/1.yaml"]["owners"] = ["alice", "bob"]
    records["benchmarks/1.yaml"]["association_policy"]["datasets"] = {"mode": "always"}
    write_record(root, "benchmarks/1.yaml", records["benchmarks/1.yaml"])
    records["associations/1/dataset-1.yaml"]["revoked"] = {"by": "alice", "at": "2026-02-01T00:00:00Z",
                                                           "reason": "withdrawn"}
    write_record(root, "associations/1/dataset-1.yaml", records["associations/1/dataset-1.yaml"])
    report = lint_path(root, "HEAD", use_index=use_index)
    assert report.findings == [] and report.records == 3


@pytest.mark.parametrize("use_index", MODES)
def test_edited_result(reg, use_index):
    root, records = reg
    records["results/1/b1m2d1.yaml"]["metrics"] = {"accuracy": 0.99}
    write_record(root, "results/1/b1m2d1.yaml", records["results/1/b1m2d1.yaml"])
    assert lines(lint_path(root, "HEAD", use_index=use_index)) == [
        "results/1/b1m2d1.yaml:1:1 RESULT-EDITED result records never change once merged"]


@pytest.mark.parametrize("use_index", MODES)
def test_deleted_record(reg, use_index):
    root, _ = reg
    (root / "datasets" / "1.yaml").unlink()
    report = lint_path(root, "HEAD", use_index=use_index)
    assert lines(report) == ["datasets/1.yaml:1:1 DELETED dataset record deleted: records are never deleted, so ids "
                             "are never freed"]
    assert report.findings[0].hint == "restore it with `git checkout HEAD -- datasets/1.yaml`"


@pytest.mark.parametrize("use_index", MODES)
def test_reused_id(reg, use_index):
    root, _ = reg
    write_record(root, "containers/4.yaml", container(4, "brand-new", "bob", "infer"))
    assert lines(lint_path(root, "HEAD", use_index=use_index)) == [
        "containers/4.yaml:4:1 ID-REUSED containers/4.yaml holds another container on the base ('othermodel'): ids "
        "are never reused"]


@pytest.mark.parametrize("use_index", MODES)
def test_new_records_are_checked_against_the_base(reg, use_index):
    root, _ = reg
    write_record(root, "datasets/2.yaml", dataset(2, uid=TREE.replace("b", "9")))  # untracked, valid
    write_record(root, "containers/5.yaml", container(5, "Ref_Model", "zed", "infer"))  # untracked, two problems
    report = lint_path(root, "HEAD", use_index=use_index)
    assert lines(report) == [
        "containers/5.yaml:5:1 UNKNOWN-REF owner: 'zed' is not a registered person (no people/zed.yaml)"]
    write_record(root, "containers/5.yaml", container(5, "Ref-Model", "bob", "infer"))
    write_record(root, "containers/6.yaml", container(6, "REF_MODEL", "bob", "infer"))
    assert lines(lint_path(root, "HEAD", use_index=use_index)) == [
        "containers/6.yaml:4:1 DUPLICATE-NAME name 'REF_MODEL' is already taken by containers/5.yaml (names are "
        "compared ignoring case, '-' and '_')"]
    write_record(root, "containers/6.yaml", container(6, "PREP", "bob", "infer"))
    assert lines(lint_path(root, "HEAD", use_index=use_index)) == [
        "containers/6.yaml:4:1 DUPLICATE-NAME name 'PREP' is already taken by containers/1.yaml (names are "
        "compared ignoring case, '-' and '_')"]


def test_a_broken_change_is_reported_once(reg):
    root, _ = reg
    write_record(root, "containers/2.yaml", "id: [\n")
    assert lines(lint_path(root, "HEAD", use_index=False)) == [
        "containers/2.yaml:2:1 YAML invalid YAML: did not find expected node content"]


def test_changed_paths_include_staged_unstaged_and_untracked(reg):
    root, _ = reg
    write_record(root, "people/dave.yaml", "x")
    (root / "README.md").write_text("changed\n")
    (root / "results" / "1" / "b1m2d1.yaml").unlink()
    repo = GitRepo(root)
    assert changed_since(repo, repo.rev_parse("HEAD")) == {"people/dave.yaml", "README.md", "results/1/b1m2d1.yaml"}


def test_merged_tree_against_its_base_as_ci_does(reg):
    """CI lints a pull request's merged commit against the base commit: both are commit trees."""
    root, records = reg
    repo = GitRepo(root)
    base = repo.rev_parse("HEAD")
    records["containers/2.yaml"]["name"] = "renamed"
    write_record(root, "containers/2.yaml", records["containers/2.yaml"])
    write_record(root, "datasets/2.yaml", dataset(2, uid=TREE.replace("b", "9")))
    head = git_commit(root, "change")
    report = lint(CommitTree(repo, head), base=CommitTree(repo, base))
    repo.close()
    assert lines(report) == ["containers/2.yaml:4:1 FROZEN-FIELD name cannot change once a container is merged (it "
                             "may change only: description, retired)"]
    assert report.records == 2


def test_base_facts_without_base_tree(reg):
    """Merges and CI may pass only the facts of the base (an index); the history rules still apply."""
    root, records = reg
    from medperf_git.lint.tree_facts import TreeFacts

    repo = GitRepo(root)
    base = CommitTree(repo, repo.rev_parse("HEAD"))
    records["containers/3.yaml"]["image"] = {"reference": "docker.io/x/y:2", "digest": SHA}
    write_record(root, "containers/3.yaml", records["containers/3.yaml"])
    report = lint(FolderTree(root), base_facts=TreeFacts(base), changed={"containers/3.yaml"})
    repo.close()
    assert [f.code for f in report.findings] == ["FROZEN-FIELD"]


def test_registry_yaml_may_change(reg):
    root, records = reg
    records["registry.yaml"]["admins"] = ["alice", "bob"]
    write_record(root, "registry.yaml", records["registry.yaml"])
    assert lint_path(root, "HEAD", use_index=False).findings == []


@pytest.mark.skipif(not HAS_INDEX, reason="the index is not installed")
def test_the_index_of_the_base_is_used_and_kept_warm(reg, isolated_home):
    from medperf_git.lint.local import index_facts

    root, _ = reg
    repo = GitRepo(root)
    base = repo.rev_parse("HEAD")
    index = index_facts(repo, base)
    assert index is not None and index.commit == base and index.has("container", "4")
    index.close()
    assert list(isolated_home.glob("registries/*/index.sqlite"))  # the registry clone's own index file


@pytest.mark.parametrize("use_index", MODES)
def test_turning_file_urls_off_rechecks_records_already_merged(reg, use_index):
    """An unchanged record may break a tightened registry.yaml: the change is linted against all records."""
    root, records = reg
    records["registry.yaml"]["allow_file_urls"] = True
    write_record(root, "registry.yaml", records["registry.yaml"])
    pinned = dict(records["containers/2.yaml"], source={"url": "file:///srv/model.tar.gz", "hash": SHA})
    write_record(root, "containers/2.yaml", pinned)
    git_commit(root, "Allow file URLs and pin one")
    records["registry.yaml"]["name"] = "renamed-registry"
    write_record(root, "registry.yaml", records["registry.yaml"])
    assert lines(lint_path(root, "HEAD", use_index=use_index)) == []  # still allowed: nothing else to check
    records["registry.yaml"]["allow_file_urls"] = False
    write_record(root, "registry.yaml", records["registry.yaml"])
    found = lines(lint_path(root, "HEAD", use_index=use_index))
    assert [line.split(" ", 2)[:2] for line in found] == [["containers/2.yaml:18:3", "FILE-URL"]]
