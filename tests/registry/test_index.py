"""The SQLite index and its queries, on real git repositories."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from medperf_git.errors import RecordInvalid, RecordNotFound
from medperf_git.records.schemas import validate
from medperf_git.records.yamlio import YamlError, dump_yaml, load_yaml
from medperf_git.registry import _index_rows, index as index_module, queries
from medperf_git.registry.git import GitRepo
from medperf_git.registry.index import Index, load_record, read_blobs

SHA = "sha256:" + "a" * 64


def tree(c: str) -> str:
    return "tree-v1:sha256:" + c * 64


def container(cid: int, name: str, owner: str, *tasks: str, **extra) -> dict:
    return {"schema_version": 1, "kind": "container", "id": cid, "name": name, "owner": owner,
            "config": {"tasks": {t: {} for t in tasks}},
            "image": {"reference": f"docker.io/example/{name}:1.0", "digest": SHA}, **extra}


def benchmark(bid: int, name: str, owners: list[str], **extra) -> dict:
    return {"schema_version": 1, "kind": "benchmark", "id": bid, "name": name, "description": "chest x-rays",
            "owners": owners, "data_preparation": 1, "reference_model": 2, "metrics": 3, **extra}


def dataset(did: int, owner: str, uid: str, benchmark_id: int = 1) -> dict:
    return {"schema_version": 1, "kind": "dataset", "id": did, "name": f"data {did}", "owner": owner,
            "benchmark": benchmark_id, "data_preparation": 1, "input_data_hash": tree("c"), "generated_uid": uid,
            "statistics": {"rows": 10}, "tool_version": "0.1.0"}


def association(bid: int, component: str, cid: int, by: str, **extra) -> dict:
    return {"schema_version": 1, "kind": "association", "benchmark": bid, component: cid, "initiated_by": by,
            **extra}


BASE = {
    "containers/1.yaml": container(1, "prep", "alice", "prepare", "sanity_check", "statistics"),
    "containers/2.yaml": container(2, "ref-model", "alice", "infer"),
    "containers/3.yaml": container(3, "metrics", "alice", "evaluate"),
    "containers/4.yaml": container(4, "Other_Model", "carol", "infer"),
    "benchmarks/1.yaml": benchmark(1, "chestxray", ["alice", "dave"]),
    "datasets/1.yaml": dataset(1, "bob", tree("1")),
    "associations/1/dataset-1.yaml": association(1, "dataset", 1, "bob"),
    "associations/1/model-4.yaml": association(1, "model", 4, "carol", priority=0),
    "README.md": "not a record",
}


def test_builders_make_valid_records():
    for path, data in BASE.items():
        if isinstance(data, dict):
            assert validate(data["kind"], data) == [], path


class Registry:
    """A working repository whose commits the tests make; the index reads it directly."""

    def __init__(self, path: Path):
        self.path = path
        subprocess.run(["git", "init", "-q", "--initial-branch=main", str(path)], check=True)
        self.repo = GitRepo(path)

    def commit(self, files: dict[str, object], message: str = "change") -> str:
        for rel, content in files.items():
            target = self.path / rel
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, dict):
                content = dump_yaml(content)
            target.write_bytes(content if isinstance(content, bytes) else str(content).encode())
        subprocess.run(["git", "add", "-A", "."], cwd=self.path, check=True)
        subprocess.run(["git", "commit", "-q", "--no-gpg-sign", "-m", message], cwd=self.path, check=True)
        return self.repo.rev_parse("HEAD")


@pytest.fixture
def reg(tmp_path) -> Registry:
    registry = Registry(tmp_path / "registry")
    registry.commit(BASE, "initial records")
    return registry


@pytest.fixture
def index(tmp_path):
    with Index.open(tmp_path / "ws" / "index.sqlite") as ix:
        yield ix


def snapshot(ix: Index) -> dict[str, tuple]:
    return {row["path"]: tuple(row) for row in ix.query("SELECT * FROM records")}


def test_cold_build_stores_every_record_and_its_facts(reg, index):
    head = reg.repo.rev_parse("HEAD")
    stats = index.update(reg.repo, head)
    assert (stats.mode, stats.added) == ("cold", 8)
    assert index.commit == head
    assert index.count() == 8  # README.md is not a record
    assert index.has("container", "4") and not index.has("container", "5")
    assert index.has("association", "1/model-4")
    assert index.get("benchmark", "1") == BASE["benchmarks/1.yaml"]
    assert index.names("container")["other-model"] == ["4"]
    assert index.generated_uids() == {tree("1"): ["1"]}
    assert index.max_id("container") == 4
    assert index.blob_id("datasets/1.yaml") == next(reg.repo.ls_tree(head, ["datasets/1.yaml"])).sha
    assert index.update(reg.repo, head).mode == "none"


def test_incremental_update_touches_only_changed_paths(reg, index):
    index.update(reg.repo, reg.repo.rev_parse("HEAD"))
    before = snapshot(index)
    changed_benchmark = benchmark(1, "chestxray", ["alice", "dave"], retired=True)
    head = reg.commit({
        "containers/5.yaml": container(5, "new-model", "erin", "infer"),
        "benchmarks/1.yaml": changed_benchmark,
        "associations/1/model-4.yaml": None,
        "README.md": "still not a record, but changed",
    })
    stats = index.update(reg.repo, head)
    assert (stats.mode, stats.added, stats.changed, stats.deleted) == ("incremental", 1, 1, 1)
    after = snapshot(index)
    touched = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert touched == {"containers/5.yaml", "benchmarks/1.yaml", "associations/1/model-4.yaml"}
    assert index.commit == head
    assert index.get("benchmark", "1")["retired"] is True
    assert not index.has("association", "1/model-4")
    assert [r.id for r in queries.list_containers(index, owner="erin")] == [5]


def test_owners_follow_incremental_changes(reg, index):
    index.update(reg.repo, reg.repo.rev_parse("HEAD"))
    assert [r.id for r in queries.list_benchmarks(index, owner="dave")] == [1]
    head = reg.commit({"benchmarks/1.yaml": benchmark(1, "chestxray", ["alice"])})
    index.update(reg.repo, head)
    assert queries.list_benchmarks(index, owner="dave") == []
    assert [r.id for r in queries.list_benchmarks(index, owner="alice")] == [1]


def test_invalid_records_are_stored_as_invalid_and_never_break_reads(reg, index):
    head = reg.commit({
        "benchmarks/2.yaml": "name: [unclosed\n",
        "benchmarks/3.yaml": "- a list\n",
        "benchmarks/4.yaml": dump_yaml(container(4, "x", "alice", "infer")),
        "datasets/2.yaml": b"\xff\xfe not utf-8",
        "containers/6.yaml": dump_yaml(container(7, "wrong-id", "alice", "infer")),
    })
    index.update(reg.repo, head)
    broken = dict(index.invalid())
    assert set(broken) == {"benchmarks/2.yaml", "benchmarks/3.yaml", "benchmarks/4.yaml", "datasets/2.yaml",
                           "containers/6.yaml"}
    assert "invalid YAML" in broken["benchmarks/2.yaml"]
    assert "not a mapping" in broken["benchmarks/3.yaml"]
    assert "kind is 'container'" in broken["benchmarks/4.yaml"]
    assert "UTF-8" in broken["datasets/2.yaml"]
    assert "file name says 6" in broken["containers/6.yaml"]
    assert [r.id for r in queries.list_benchmarks(index)] == [1]
    assert index.has("benchmark", "2")  # existence comes from the path
    assert index.get("benchmark", "2") is None
    with pytest.raises(RecordInvalid, match="benchmarks/2.yaml cannot be read"):
        queries.get(index, "benchmark", 2)


def test_a_crash_mid_update_keeps_the_old_commit_and_the_next_run_redoes_it(reg, index, monkeypatch):
    first = reg.repo.rev_parse("HEAD")
    index.update(reg.repo, first)
    before = snapshot(index)
    head = reg.commit({"containers/5.yaml": container(5, "new-model", "erin", "infer"),
                       "containers/4.yaml": None})

    def crash(conn, commit):
        raise KeyboardInterrupt

    monkeypatch.setattr(index_module, "_set_meta", crash)
    with pytest.raises(KeyboardInterrupt):
        index.update(reg.repo, head)
    monkeypatch.undo()
    assert index.commit == first
    assert snapshot(index) == before
    assert index.update(reg.repo, head).mode == "incremental"
    assert index.has("container", "5") and not index.has("container", "4")


def test_a_failed_cold_build_leaves_the_old_index_and_no_temporary_file(reg, index, monkeypatch):
    first = reg.repo.rev_parse("HEAD")
    index.update(reg.repo, first)
    before = snapshot(index)

    def crash(conn, rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(index_module, "_insert", crash)
    with pytest.raises(RuntimeError):
        index.rebuild(reg.repo, first)
    monkeypatch.undo()
    assert index.commit == first and snapshot(index) == before
    assert [p.name for p in index.path.parent.iterdir() if p.name.endswith(".building")] == []


def test_an_index_of_an_older_format_or_a_lost_commit_is_rebuilt(reg, index):
    index.update(reg.repo, reg.repo.rev_parse("HEAD"))
    index.conn.execute("UPDATE meta SET value = '0' WHERE key = 'format'")
    assert index.commit is None
    assert index.update(reg.repo, reg.repo.rev_parse("HEAD")).mode == "cold"
    index.conn.execute("UPDATE meta SET value = ? WHERE key = 'commit'", ("f" * 40,))
    assert index.update(reg.repo, reg.repo.rev_parse("HEAD")).mode == "cold"


def test_a_damaged_index_file_is_replaced(tmp_path, reg):
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with Index.open(path) as ix:
        assert ix.commit is None
        assert ix.update(reg.repo, reg.repo.rev_parse("HEAD")).mode == "cold"


def test_two_processes_parse_the_same_rows_as_one(reg, tmp_path, monkeypatch):
    head = reg.repo.rev_parse("HEAD")
    with Index.open(tmp_path / "one.sqlite") as one:
        one.update(reg.repo, head)
        rows_one = snapshot(one)
    workers = tmp_path / "workers"
    workers.mkdir()
    monkeypatch.setattr(_index_rows, "POOL_MIN", 1)
    monkeypatch.setattr(_index_rows, "CHUNK", 3)
    monkeypatch.setattr(_index_rows, "_quiet_worker", lambda: (workers / str(os.getpid())).touch())
    with Index.open(tmp_path / "two.sqlite") as two:
        seen = []
        two.update(reg.repo, head, progress=lambda done, total: seen.append((done, total)))
        assert snapshot(two) == rows_one
    assert len(list(workers.iterdir())) == 2  # the pool really parsed them
    assert seen == [(3, 8), (6, 8), (8, 8)]


def test_index_reopens_with_its_commit(reg, tmp_path):
    head = reg.repo.rev_parse("HEAD")
    with Index.open(tmp_path / "i.sqlite") as ix:
        ix.update(reg.repo, head)
    with Index.open(tmp_path / "i.sqlite") as ix:
        assert ix.commit == head and ix.count("container") == 4
    conn = sqlite3.connect(tmp_path / "i.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_read_blobs_returns_none_for_missing_and_non_blob_objects(reg):
    head = reg.repo.rev_parse("HEAD")
    entries = list(reg.repo.ls_tree(head, ["datasets/1.yaml"]))
    got = list(read_blobs(reg.repo, [entries[0].sha, "0" * 40, head]))
    assert load_yaml(got[0]) == BASE["datasets/1.yaml"]
    assert got[1:] == [None, None]


@pytest.mark.parametrize("doc", [
    b"a: 1\nb: [x, 'y', 2.5, null, true, 0x1f, 2026-01-01]\nc: {d: e}\n", b"", b"- 1\n- two\n",
    b"a: 1\na: 2\n", b"x: &a 1\ny: *a\n", b"<<: {a: 1}\nb: 2\n", b"a: !!binary aGVsbG8=\n", b"a: !custom x\n",
    b"a: b: c\n", b"\xff", b"a: |\n  multi\n  line\n", b"1: 2\ntrue: 3\n", b"? [a]\n: 1\n", b"\x00",
])
def test_fast_loader_gives_exactly_what_load_yaml_gives(doc):
    def outcome(load):
        try:
            return "ok", load(doc, "f.yaml")
        except YamlError as exc:
            return "error", str(exc)

    assert outcome(load_record) == outcome(load_yaml)
    assert outcome(load_record) == outcome(load_yaml)  # a second parse of the same bytes is remembered


def test_a_remembered_parse_is_a_fresh_copy_each_time():
    doc = b"a: {b: [1, 2]}\nc: [x, {d: e}]\ns: !!set {k}\n"
    first = load_record(doc, "f.yaml")
    first["a"]["b"].append(3)
    first["c"][1]["d"] = "changed"
    first["s"].add("other")
    assert load_record(doc, "f.yaml") == load_yaml(doc, "f.yaml") == {"a": {"b": [1, 2]}, "c": ["x", {"d": "e"}],
                                                                      "s": {"k"}}


def test_queries_filter_and_derive_association_status(reg, index):
    head = reg.commit({
        "associations/1/model-4.yaml": association(1, "model", 4, "carol", priority=0, revoked={
            "by": "alice", "at": "2026-01-02T03:04:05Z", "reason": "wrong outputs"}),
        "containers/5.yaml": container(5, "model-five", "carol", "infer"),
        "associations/1/model-5.yaml": association(1, "model", 5, "carol"),
        "datasets/2.yaml": dataset(2, "erin", tree("2"), benchmark_id=7),
    })
    index.update(reg.repo, head)
    assert [r.id for r in queries.list_models(index)] == [2, 4, 5]
    assert [r.id for r in queries.list_models(index, benchmark=1)] == [2, 5]  # 4 is revoked
    assert [r.id for r in queries.list_models(index, name="OTHER-model")] == [4]
    assert [r.id for r in queries.list_containers(index, task="evaluate")] == [3]
    assert [r.id for r in queries.list_datasets(index, benchmark=7)] == [2]
    assert [r.id for r in queries.list_datasets(index, owner="bob")] == [1]
    assert [r.id for r in queries.list_benchmarks(index, state="retired")] == []
    assert queries.list_benchmarks(index, name="%") == []  # LIKE wildcards are literal
    found = queries.associations(index, benchmark=1, pending=[
        {**association(1, "dataset", 2, "erin"), "submission": "7"},
        association(2, "dataset", 3, "erin")])
    status = {(a.component, a.id): (a.status, a.submission) for a in found}
    assert status == {("dataset", 1): ("approved", None), ("model", 4): ("revoked", None),
                      ("model", 5): ("approved", None), ("dataset", 2): ("pending", "7")}
    with pytest.raises(RecordNotFound, match="no benchmark with id 9"):
        queries.get(index, "benchmark", 9)
    with pytest.raises(RecordNotFound, match="container 1 is not a model"):
        queries.get_model(index, 1)
    assert queries.get_model(index, 4).name == "Other_Model"


def test_temporary_files_of_killed_builds_are_removed(reg, index):
    dead = subprocess.Popen(["true"])
    dead.wait()
    abandoned = index.path.with_name(f".{index.path.name}.{dead.pid}.building")
    abandoned.write_bytes(b"half an index")
    index.update(reg.repo, reg.repo.rev_parse("HEAD"))
    assert not abandoned.exists()
