"""One command, one fetch: the registry session opens the clone once and fetches once.

`dataset submit` used to fetch for the record, again for the next id and again to publish;
`review approve` connected twice and assessed the same submission three or four times. Every call
to the clone's fetch is counted here, through the real commands.
"""

from __future__ import annotations

import sys

import pytest

from medperf_git.flows import dataset as dataset_flow
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.session import RegistrySession
from medperf_git.flows.submission import open_submission
from medperf_git.registry import clone as clone_module
from tests.attacks.hostile import dataset, record, tutorial_target
from tests.support.tutorial_registry import commit_records, make_raw_data


@pytest.fixture
def fetches(monkeypatch):
    calls = []
    real = clone_module.fetch_remote

    def counted(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(clone_module, "fetch_remote", counted)
    return calls


def test_dataset_submit_fetches_once(tmp_path, invoke, fetches):
    target = tutorial_target(tmp_path, runner="local", python=sys.executable)
    raw = make_raw_data(tmp_path / "raw", count=6)
    with target.actors["testdo"].active():
        prepared = dataset_flow.create(RegistrySession.load(), benchmark=1, name="d", data_path=raw / "images",
                                       labels_path=raw / "labels",
                                       settings=RunSettings(runner="local", python=sys.executable)).dataset
        fetches.clear()
        submitted = invoke("dataset", "submit", "--data_uid", prepared.uid[:8], "-y")
    assert submitted.exit_code == 0 and "merged" in submitted.output, submitted.output
    assert len(fetches) == 1


def test_review_approve_fetches_once(tmp_path, invoke, fetches):
    target = tutorial_target(tmp_path)
    commit_records(target.registry, target.actors["testadmin"], {"datasets/1.yaml": dataset()}, "dataset 1")
    request = {"schema_version": 1, "kind": "association", "benchmark": 1, "dataset": 1, "initiated_by": "testdo"}
    with target.actors["testdo"].active():
        number = open_submission(RegistrySession.load(), {"associations/1/dataset-1.yaml": record(request).encode()},
                                 "Associate", "association").submission.number
    with target.actors["testbo"].active():
        assert invoke("review", "ls").exit_code == 0  # the reviewer has a copy, as usual
        fetches.clear()
        approved = invoke("review", "approve", str(number), "-y")
    assert approved.exit_code == 0 and "Approved and merged" in approved.output, approved.output
    assert len(fetches) == 1
