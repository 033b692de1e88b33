"""`medperf-git ci check`: lint of the merged tree plus the policy verdict, and its exit codes."""

from __future__ import annotations

import json

import pytest

from tests.policy.policy_world import World, association, dataset, y


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def ci(invoke, world: World, head: str, *extra: str):
    return invoke("ci", "check", str(world.path), "--base", "refs/heads/main", "--head", head, *extra)


def test_self_service_submission_passes(world, invoke):
    result = ci(invoke, world, world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))}))
    assert result.exit_code == 0, result.output
    assert "lint: valid" in result.stdout and "self-service" in result.stdout and "(author: do)" in result.stdout


def test_awaiting_approvals_exits_0_with_the_verdict(world, invoke):
    world.direct({"datasets/2.yaml": y(dataset(2, "do"))}, "dataset 2")
    head = world.submit("do", {"associations/1/dataset-2.yaml": y(association("dataset", 2, "do"))})
    result = ci(invoke, world, head)
    assert result.exit_code == 0, result.output
    assert "Valid, awaiting approvals" in result.stdout and "committee of benchmark 1 (bo)" in result.stdout
    approved = ci(invoke, world, world.approve("bo", head), "--format", "json")
    assert approved.exit_code == 0
    data = json.loads(approved.stdout)
    assert data["policy"]["mergeable"] and data["policy"]["approvals"][0]["handle"] == "bo"
    assert data["lint"]["valid"]
    own = ci(invoke, world, world.approve("do", head))
    assert own.exit_code == 0 and "does not count: the initiator cannot approve" in own.stdout


def test_lint_errors_exit_3(world, invoke):
    broken = dataset(2, "do")
    del broken["generated_uid"]
    result = ci(invoke, world, world.submit("do", {"datasets/2.yaml": y(broken)}))
    assert result.exit_code == 3, result.output
    assert "datasets/2.yaml" in result.stdout and "SCHEMA" in result.stdout


def test_policy_refusal_exits_4(world, invoke):
    data = world.read("datasets/1.yaml")
    data["description"] = "not mine"
    result = ci(invoke, world, world.submit("eve", {"datasets/1.yaml": y(data)}))
    assert result.exit_code == 4, result.output
    assert "NOT-PERMITTED" in result.stdout and "Refused by policy (author: eve)" in result.stdout
    deleted = ci(invoke, world, world.submit("do", {"datasets/1.yaml": None}))
    assert deleted.exit_code == 4 and "DELETED" in deleted.stdout


def test_unsigned_head_is_refused(world, invoke):
    from medperf_git.registry.commits import Identity, commit_changes

    head = commit_changes(world.repo, world.main, {"datasets/2.yaml": y(dataset(2, "do"))}, "x",
                          Identity("Do", "do@example.org"))
    result = ci(invoke, world, head, "--format", "json")
    assert result.exit_code == 4
    assert json.loads(result.stdout)["policy"]["violations"][0]["code"] == "SIGNATURE"


def test_unknown_base_is_an_error(world, invoke):
    result = invoke("ci", "check", str(world.path), "--base", "nope")
    assert result.exit_code == 1 and "base nope is not a commit" in result.output
