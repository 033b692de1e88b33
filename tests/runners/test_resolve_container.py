"""From a registry record to a runnable container: archives fetched, checked by sha256, extracted, re-verified."""

from __future__ import annotations

import shutil

import pytest
import yaml

from medperf_git.errors import DownloadError, HashMismatch, UnsafeArchive
from medperf_git.runners import RunOptions, resolve_container, run_task
from medperf_git.runners.archives import make_archive
from medperf_git.runners.resolve import tree_of

SCRIPT = """\
import os
weights = open(os.path.join(os.environ["MP_VOL_ADDITIONAL_FILES"], "weights.txt")).read()
open(os.path.join(os.environ["MP_VOL_OUTPUT_PATH"], "out.txt"), "w").write("weights=" + weights)
"""

TASK = """\
infer:
  input_volumes:
    data_path: {mount_path: /mlcommons/volumes/data, type: directory}
    additional_files: {mount_path: /mlcommons/volumes/additional_files, type: directory}
  output_volumes:
    output_path: {mount_path: /mlcommons/volumes/output, type: directory}
"""


@pytest.fixture
def record(make_container, tmp_path):
    folder = make_container(SCRIPT, TASK).parent
    source_sha = make_archive(folder, tmp_path / "source.tar.gz", prefix="probe")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "weights.txt").write_text("0.25")
    extra_sha = make_archive(extra, tmp_path / "extra.tar.gz")
    config = yaml.safe_load((folder / "container_config.yaml").read_text())
    return {
        "schema_version": 1, "kind": "container", "id": 2, "name": "probe", "owner": "alice", "config": config,
        "parameters": {"threshold": 0.5},
        "source": {"url": (tmp_path / "source.tar.gz").as_uri(), "hash": source_sha},
        "additional_files": {"url": (tmp_path / "extra.tar.gz").as_uri(), "hash": extra_sha},
    }


def _with_tree(record, tmp_path):
    staged = tmp_path / "staged"
    shutil.unpack_archive(tmp_path / "source.tar.gz", staged)
    record["source"]["tree"] = tree_of(staged)
    return record


def test_a_record_resolves_and_runs_with_its_pins(record, tmp_path):
    record = _with_tree(record, tmp_path)
    container = resolve_container(record, cache_dir=tmp_path / "cache", allow_file_urls=True)
    assert (container.source_dir / "project" / "task.py").is_file()
    assert (container.additional_files_dir / "weights.txt").read_text() == "0.25"
    (tmp_path / "data").mkdir()
    result = run_task(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out"},
                      RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work", runner="local",
                                 cache_dir=tmp_path / "cache"))
    assert (tmp_path / "out" / "out.txt").read_text() == "weights=0.25"
    assert result.pins["source"] == record["source"]
    assert result.pins["additional_files"] == record["additional_files"]
    assert result.pins["config_hash"] == result.config_hash
    assert result.pins["parameters_hash"] == result.parameters_hash


def test_an_archive_that_is_not_the_pinned_one_is_refused(record, tmp_path):
    record["additional_files"]["hash"] = "sha256:" + "0" * 64
    with pytest.raises(HashMismatch):
        resolve_container(record, cache_dir=tmp_path / "cache", allow_file_urls=True)


def test_file_urls_need_the_registry_to_allow_them(record, tmp_path):
    with pytest.raises(DownloadError, match="file:// URLs are not allowed"):
        resolve_container(record, cache_dir=tmp_path / "cache", allow_file_urls=False)


def test_a_changed_file_in_the_extracted_cache_is_caught(record, tmp_path):
    record = _with_tree(record, tmp_path)
    container = resolve_container(record, cache_dir=tmp_path / "cache", allow_file_urls=True)
    (container.source_dir / "project" / "task.py").write_text("print('tampered')\n")
    with pytest.raises(HashMismatch, match="extracted source"):
        resolve_container(record, cache_dir=tmp_path / "cache", allow_file_urls=True)


def test_an_archive_with_unsafe_entries_is_not_extracted(record, tmp_path):
    import hashlib
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"owned"
        info = tarfile.TarInfo("../escape.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (tmp_path / "evil.tar.gz").write_bytes(buf.getvalue())
    record["additional_files"] = {"url": (tmp_path / "evil.tar.gz").as_uri(),
                                  "hash": "sha256:" + hashlib.sha256(buf.getvalue()).hexdigest()}
    with pytest.raises(UnsafeArchive):
        resolve_container(record, cache_dir=tmp_path / "cache", allow_file_urls=True)
    assert not (tmp_path / "cache" / "escape.txt").exists()
