"""``benchmark/container/model/dataset ls`` and ``view``, end to end on a real bare remote."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from medperf_git.records.yamlio import dump_yaml, load_yaml
from medperf_git.workspace.config import Config, Profile
from medperf_git.workspace.workspace import home_dir

SHA = "sha256:" + "a" * 64
TREE = "tree-v1:sha256:" + "b" * 64


def container(cid: int, name: str, owner: str, *tasks: str) -> dict:
    return {"schema_version": 1, "kind": "container", "id": cid, "name": name, "owner": owner,
            "config": {"tasks": {t: {} for t in tasks}},
            "image": {"reference": f"docker.io/example/{name}:1.0", "digest": SHA}}


def benchmark(bid: int, name: str, owners: list[str]) -> dict:
    return {"schema_version": 1, "kind": "benchmark", "id": bid, "name": name,
            "description": "Classify chest x-rays into five findings", "owners": owners,
            "data_preparation": 1, "reference_model": 2, "metrics": 3}


def dataset(did: int, owner: str) -> dict:
    return {"schema_version": 1, "kind": "dataset", "id": did, "name": f"hospital {did}", "owner": owner,
            "location": "Lyon", "benchmark": 1, "data_preparation": 1, "input_data_hash": TREE,
            "generated_uid": TREE.replace("b", str(did)), "statistics": {"rows": 10}, "tool_version": "0.1.0"}


RECORDS = {
    "containers/1.yaml": container(1, "chexpert-prep", "alice", "prepare", "sanity_check", "statistics"),
    "containers/2.yaml": container(2, "chexpert-model", "alice", "infer"),
    "containers/3.yaml": container(3, "chexpert-metrics", "alice", "evaluate"),
    "containers/4.yaml": container(4, "bobs-model", "bob", "infer"),
    "benchmarks/1.yaml": benchmark(1, "chestxray", ["alice"]),
    "benchmarks/2.yaml": benchmark(2, "brain-mri", ["bob"]),
    "datasets/1.yaml": dataset(1, "bob"),
    "datasets/2.yaml": dataset(2, "carol"),
}


class Remote:
    """A bare registry remote with alice (admin), bob and carol registered; records are committed on
    main signed by the admin, as the tutorial's set-up does (a shortcut for submit-and-approve)."""

    def __init__(self, root: Path):
        from tests.support.actors import seed_registry

        self.bare, actors = seed_registry(root, ["alice", "bob", "carol"])
        self.admin = actors["alice"]

    def commit(self, files: dict[str, object]) -> None:
        from medperf_git.registry.commits import commit_changes, update_ref
        from medperf_git.registry.git import GitRepo

        repo = GitRepo(self.bare)
        main = repo.rev_parse("refs/heads/main")
        changes = {path: (dump_yaml(c) if isinstance(c, dict) else str(c)).encode() for path, c in files.items()}
        update_ref(repo, "refs/heads/main", commit_changes(repo, main, changes, "records", self.admin.identity), main)


def use_profile(registry: str | None, handle: str | None = "bob") -> None:
    config = Config.load(home_dir() / "config.yaml")
    config.profiles["default"] = Profile("default", registry=registry, handle=handle)
    config.save()


@pytest.fixture
def remote(tmp_path) -> Remote:
    remote = Remote(tmp_path)
    remote.commit(RECORDS)
    use_profile(str(remote.bare))
    return remote


def age_clone(seconds: float = 3600) -> None:
    """Make the local copy look old, so the next read fetches first."""
    for stamp in (home_dir() / "registries").glob("*/fetched-at"):
        old = stamp.stat().st_mtime - seconds
        os.utime(stamp, (old, old))


def table_ids(stdout: str) -> list[int]:
    lines = stdout.strip().splitlines()[2:]  # headers and the rule
    return [int(line.split()[0]) for line in lines]


def test_benchmark_ls_table_and_json(remote, invoke):
    result = invoke("benchmark", "ls")
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    for column in ("UID", "Name", "Description", "Data Preparation Container", "Reference Model", "Metrics",
                   "Owners", "State"):
        assert column in header
    assert table_ids(result.stdout) == [1, 2]
    assert "chestxray" in result.stdout and "active" in result.stdout
    assert "Next step: medperf-git benchmark view ID" in result.stderr
    as_json = invoke("benchmark", "ls", "--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == [RECORDS["benchmarks/1.yaml"], RECORDS["benchmarks/2.yaml"]]
    assert "Next step" not in as_json.stderr


def test_benchmark_ls_filters(remote, invoke):
    assert table_ids(invoke("benchmark", "ls", "--mine").stdout) == [2]
    assert table_ids(invoke("benchmark", "ls", "--owner", "alice").stdout) == [1]
    assert table_ids(invoke("benchmark", "ls", "--name", "BRAIN_mri").stdout) == [2]
    none = invoke("benchmark", "ls", "--state", "retired")
    assert none.exit_code == 0 and none.stdout == "" and "No benchmarks found." in none.stderr


def test_benchmark_view_yaml_json_and_missing(remote, invoke):
    result = invoke("benchmark", "view", "1")
    assert result.exit_code == 0, result.output
    assert load_yaml(result.stdout) == RECORDS["benchmarks/1.yaml"]
    assert "medperf-git dataset create --benchmark 1" in result.stderr
    assert json.loads(invoke("benchmark", "view", "1", "--json").stdout) == RECORDS["benchmarks/1.yaml"]
    missing = invoke("benchmark", "view", "99")
    assert missing.exit_code == 1
    assert "Error: no benchmark with id 99 in the registry" in missing.stderr
    assert "`medperf-git benchmark ls`" in missing.stderr


def test_container_ls_and_view(remote, invoke):
    result = invoke("container", "ls")
    assert result.exit_code == 0, result.output
    assert table_ids(result.stdout) == [1, 2, 3, 4]
    assert "prepare, sanity_check, statistics" in result.stdout
    assert table_ids(invoke("container", "ls", "--task", "evaluate").stdout) == [3]
    assert [c["id"] for c in json.loads(invoke("container", "ls", "--mine", "--json").stdout)] == [4]
    assert load_yaml(invoke("container", "view", "3").stdout) == RECORDS["containers/3.yaml"]
    assert json.loads(invoke("container", "view", "3", "--json").stdout)["name"] == "chexpert-metrics"
    missing = invoke("container", "view", "7")
    assert missing.exit_code == 1 and "`medperf-git container ls`" in missing.stderr


def test_model_ls_and_view(remote, invoke):
    result = invoke("model", "ls")
    assert result.exit_code == 0, result.output
    assert table_ids(result.stdout) == [2, 4]
    assert "UID" in result.stdout and "Type" in result.stdout
    assert table_ids(invoke("model", "ls", "--mine").stdout) == [4]
    assert table_ids(invoke("model", "ls", "-b", "1").stdout) == [2]  # the reference model; 4 has no association
    assert [m["id"] for m in json.loads(invoke("model", "ls", "--json").stdout)] == [2, 4]
    assert load_yaml(invoke("model", "view", "4").stdout) == RECORDS["containers/4.yaml"]
    not_model = invoke("model", "view", "1")
    assert not_model.exit_code == 1 and "container 1 is not a model" in not_model.stderr
    missing = invoke("model", "view", "9")
    assert missing.exit_code == 1 and "`medperf-git model ls`" in missing.stderr


def test_dataset_ls_and_view(remote, invoke):
    result = invoke("dataset", "ls")
    assert result.exit_code == 0, result.output
    assert "Data Preparation Container UID" in result.stdout
    assert table_ids(result.stdout) == [1, 2]
    assert table_ids(invoke("dataset", "ls", "--mine").stdout) == [1]
    assert table_ids(invoke("dataset", "ls", "--benchmark_uid", "1", "--owner", "carol").stdout) == [2]
    assert json.loads(invoke("dataset", "ls", "--json", "-m", "1").stdout)[0]["id"] == 1
    assert load_yaml(invoke("dataset", "view", "2").stdout) == RECORDS["datasets/2.yaml"]
    assert "--data_uid 2" in invoke("dataset", "view", "2").stderr
    missing = invoke("dataset", "view", "3")
    assert missing.exit_code == 1 and "no dataset with id 3" in missing.stderr


def test_mine_needs_a_handle(remote, invoke):
    use_profile(str(remote.bare), handle=None)
    result = invoke("dataset", "ls", "--mine")
    assert result.exit_code == 1
    assert "has no handle" in result.stderr and "profile set --handle" in result.stderr


def test_no_registry_configured(invoke):
    use_profile(None)
    result = invoke("benchmark", "ls")
    assert result.exit_code == 1
    assert "profile 'default' has no registry" in result.stderr


def test_new_commits_are_fetched_when_the_copy_is_old_and_never_offline(remote, invoke):
    assert table_ids(invoke("benchmark", "ls").stdout) == [1, 2]
    remote.commit({"benchmarks/3.yaml": benchmark(3, "skin-lesions", ["carol"])})
    assert table_ids(invoke("benchmark", "ls").stdout) == [1, 2]  # fetched moments ago
    age_clone()
    assert table_ids(invoke("--offline", "benchmark", "ls").stdout) == [1, 2]
    assert table_ids(invoke("benchmark", "ls").stdout) == [1, 2, 3]


def test_offline_without_a_local_copy_says_what_to_do(remote, invoke):
    result = invoke("--offline", "benchmark", "ls")
    assert result.exit_code == 1
    assert "no local copy of the registry" in result.stderr and "without --offline" in result.stderr


def test_an_unreachable_remote_uses_the_local_copy_with_a_warning(remote, invoke, tmp_path):
    assert invoke("benchmark", "ls").exit_code == 0
    shutil.move(remote.bare, tmp_path / "moved.git")
    age_clone()
    result = invoke("benchmark", "ls")
    assert result.exit_code == 0, result.output
    assert table_ids(result.stdout) == [1, 2]
    assert "Warning: could not fetch the registry" in result.stderr
    assert "showing the local copy" in result.stderr


def test_an_invalid_record_never_reaches_a_reader_and_does_not_break_reads(remote, invoke, tmp_path):
    """Main holding a broken record fails every client's audit: reads go on from the last verified copy,
    with a warning. An index that does meet one (a registry folder linted as is) names it and reads on."""
    assert invoke("benchmark", "ls").exit_code == 0
    remote.commit({"benchmarks/3.yaml": "name: [broken\n"})
    age_clone()
    result = invoke("benchmark", "ls")
    assert result.exit_code == 0, result.output
    assert table_ids(result.stdout) == [1, 2]
    assert "fails the audit" in result.stderr and "benchmarks/3.yaml" in result.stderr
    assert invoke("benchmark", "view", "3").exit_code != 0

    from medperf_git.registry.git import GitRepo
    from medperf_git.registry.index import Index

    with Index.open(tmp_path / "index.sqlite") as index:
        index.update(GitRepo(remote.bare), "refs/heads/main")
        assert [path for path, _ in index.invalid("benchmark")] == ["benchmarks/3.yaml"]
        assert index.get("benchmark", "1") is not None


def test_read_commands_have_help(invoke):
    for group in ("benchmark", "container", "model", "dataset"):
        for command in ("ls", "view"):
            result = invoke(group, command, "--help")
            assert result.exit_code == 0 and "--json" in result.stdout


def test_tables_match_tabulate_without_importing_it():
    from tabulate import tabulate

    from medperf_git.cli._read import table

    headers = ["UID", "Name", "Description", "Benchmark", "Owners", "State"]
    rows = [[1, "chestxray", "Classify chest x-rays", 1, "alice, bob", "active"],
            [12, "b", None, None, "", "retired"], [7, "ünïcode name", "", 3, "x", "active"]]
    assert table(rows, headers) == tabulate(rows, headers=headers)
