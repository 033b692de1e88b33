"""The data owner's and committees' commands hand their options, one to one, to one flow call,
with MedPerf's underscore spellings as well as dashed ones."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from medperf_git.flows.dataset import PublishOutcome
from medperf_git.flows.execution import ModelOutcome, RunSummary

MERGED = PublishOutcome(4, True, {"id": 1, "benchmark": 1, "dataset": 1}, "datasets/1.yaml")


@pytest.mark.parametrize("spelling", [("--data_path", "--labels_path"), ("--data-path", "--labels-path")])
def test_dataset_create(invoke, tmp_path, spelling):
    done = mock.Mock(dataset=mock.Mock(uid="ab" * 32), reused=False, runner="sandbox", isolation="sandbox",
                     statistics={"num_cases": 3})
    with mock.patch("medperf_git.flows.dataset.create", autospec=True, return_value=done) as flow:
        result = invoke("dataset", "create", "--name", "n", "--description", "d", "--location", "l",
                        spelling[0], str(tmp_path / "images"), spelling[1], str(tmp_path / "labels"),
                        "--benchmark", "1", "--runner", "local", "--timeout", "60")
    assert result.exit_code == 0, result.output
    kwargs = flow.call_args.kwargs
    settings = kwargs.pop("settings")
    assert kwargs == {"benchmark": 1, "name": "n", "description": "d", "location": "l",
                      "data_path": tmp_path / "images", "labels_path": tmp_path / "labels"}
    assert settings.runner == "local" and settings.timeouts["prepare"] == 60
    assert "isolates nothing" in result.stderr  # the local runner warns
    assert f"Generated UID: {'ab' * 32}" in result.stdout
    assert "Next step: medperf-git dataset submit --data_uid" in result.stderr


@pytest.mark.parametrize("option", ["--data_uid", "--data-uid"])  # -d is MedPerf's --data_path here
def test_dataset_submit_and_check(invoke, option):
    with mock.patch("medperf_git.flows.dataset.submit", autospec=True, return_value=MERGED) as flow:
        result = invoke("dataset", "submit", option, "abcdef12", "-y")
    assert result.exit_code == 0, result.output
    assert flow.call_args.args[1] == "abcdef12" and callable(flow.call_args.args[2])
    assert "registered with id 1" in result.stderr
    assert "Next step: medperf-git dataset associate --benchmark_uid 1 --data_uid 1" in result.stderr


@pytest.mark.parametrize("bench", ["--benchmark_uid", "--benchmark-uid", "--benchmark", "-b"])
def test_dataset_associate(invoke, bench):
    pending = PublishOutcome(5, False, {"dataset": 1}, "associations/1/dataset-1.yaml", ["bo"])
    with mock.patch("medperf_git.flows.dataset.associate", autospec=True, return_value=pending) as flow:
        result = invoke("dataset", "associate", bench, "1", "--data_uid", "1", "-y")
    assert result.exit_code == 0, result.output
    assert flow.call_args.kwargs["benchmark"] == 1 and flow.call_args.kwargs["data_uid"] == "1"
    assert "waits for approval by bo" in result.stderr
    assert "Next step: medperf-git association ls" in result.stderr


def test_benchmark_run_options_and_summary(invoke, tmp_path):
    summary = RunSummary(1, 1, [ModelOutcome(2, "b1m2d1", cached=True), ModelOutcome(4, "b1m4d1")])
    models = tmp_path / "models.txt"
    models.write_text("4,2\n")
    with mock.patch("medperf_git.flows.execution.run_benchmark", autospec=True, return_value=summary) as flow:
        result = invoke("benchmark", "run", "--benchmark", "1", "--data_uid", "1", "-f", str(models),
                        "--no-cache", "--ignore-model-errors", "--jobs", "3")
    assert result.exit_code == 0, result.output
    kwargs = flow.call_args.kwargs
    kwargs.pop("settings")
    assert kwargs == {"benchmark": 1, "data_uid": "1", "models": [4, 2], "no_cache": True,
                      "rerun_finalized": False, "ignore_model_errors": True, "jobs": 3}
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["model", "local", "result", "UID", "partial", "result", "from", "cache", "error"]
    assert lines[2].split() == ["2", "b1m2d1", "False", "True"] and lines[3].split() == ["4", "b1m4d1", "False",
                                                                                         "False"]
    assert "Total number of models: 2" in result.stdout
    bad = invoke("benchmark", "run", "--benchmark", "1", "--data_uid", "1", "--models", "4,x")
    assert bad.exit_code == 2 and "comma-separated list of model ids" in bad.stderr


def test_benchmark_run_goes_on_past_a_failing_model_and_exits_0_as_medperf(invoke):
    summary = RunSummary(1, 1, [ModelOutcome(4, None, error="task 'infer' failed")])
    with mock.patch("medperf_git.flows.execution.run_benchmark", autospec=True, return_value=summary):
        result = invoke("benchmark", "run", "-b", "1", "-d", "1")
    assert result.exit_code == 0 and "1 of 1 models failed" in result.stderr
    assert "task 'infer' failed" in result.stdout


def test_result_submit_and_association_commands(invoke):
    with mock.patch("medperf_git.flows.result.submit", autospec=True,
                    return_value=PublishOutcome(6, True, {}, "results/1/b1m4d1.yaml")) as flow:
        result = invoke("result", "submit", "--result", "b1m4d1", "-y")
    assert result.exit_code == 0 and flow.call_args.args[1] == "b1m4d1"
    assert invoke("result", "submit", "-y").exit_code == 2  # --result or --all
    with mock.patch("medperf_git.flows.association.find_request", autospec=True, return_value=7) as find, \
            mock.patch("medperf_git.flows.review.reject", autospec=True) as reject:
        result = invoke("association", "reject", "--benchmark", "1", "--data_uid", "2", "--reason", "no")
    assert result.exit_code == 0, result.output
    assert find.call_args.kwargs == {"benchmark": 1, "component": "dataset", "cid": 2}
    assert reject.call_args.args[1:] == (7, "no")
    both = invoke("association", "reject", "-b", "1", "--data_uid", "2", "--model", "3", "--reason", "x")
    assert both.exit_code == 2 and "exactly one of --data_uid or --model" in both.stderr


def test_update_associations_policy_medperf_spellings(invoke, tmp_path):
    datasets, models = tmp_path / "allow.txt", tmp_path / "models.txt"
    datasets.write_text("testdo@example.org\n")
    models.write_text("testmo\n")
    with mock.patch("medperf_git.flows.benchmark.update_policy", autospec=True, return_value=MERGED) as flow:
        result = invoke("benchmark", "update_associations_policy", "-b", "1", "--dataset_auto_approve_mode",
                        "ALLOWLIST", "--dataset_auto_approve_file", str(datasets), "--model_auto_approve_mode",
                        "allowlist", "--model_auto_approve_file", str(models), "-y")
    assert result.exit_code == 0, result.output
    kwargs = flow.call_args.kwargs
    kwargs.pop("confirm")
    assert kwargs == {"benchmark": 1, "datasets": "allowlist", "models": "allowlist", "dataset_allowlist": datasets,
                      "model_allowlist": models}


def test_container_submit_options(invoke, tmp_path):
    config = tmp_path / "container_config.yaml"
    config.write_text("tasks: {infer: {}}\n")
    with mock.patch("medperf_git.flows.container.submit", autospec=True,
                    return_value=PublishOutcome(8, True, {"id": 5}, "containers/5.yaml")) as flow:
        result = invoke("container", "submit", "--name", "m", "--config", str(config), "--source",
                        "https://example.org/s.tar.gz", "--source-hash", "sha256:" + "a" * 64, "-y")
    assert result.exit_code == 0, result.output
    kwargs = flow.call_args.kwargs
    assert kwargs["name"] == "m" and kwargs["config_path"] == Path(config)
    assert kwargs["source"].location == "https://example.org/s.tar.gz"
    assert kwargs["source"].expected == "sha256:" + "a" * 64
    assert "has id 5" in result.stderr
