"""MedPerf's command lines, as MedPerf's own scripts spell them, reach the flows one option to one argument.

Each new command's flow is patched with autospec, so a wrong keyword fails here; commands that have no
meaning here exit 2 with one line that says why and what to use.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from medperf_git.flows.dataset import PublishOutcome
from medperf_git.flows.execution import ModelOutcome

MERGED = PublishOutcome(3, True, {"id": 2, "benchmark": 1, "dataset": 1, "name": "b1m4d1"}, "x.yaml")


def _kwargs(flow, *drop: str) -> dict:
    kwargs = dict(flow.call_args.kwargs)
    for key in drop:
        kwargs.pop(key)
    return kwargs


def test_model_submit_as_medperf_spells_it(invoke, tmp_path):
    config, params = tmp_path / "container_config.yaml", tmp_path / "parameters.yaml"
    config.write_text("tasks: {infer: {}}\n")
    params.write_text("{}\n")
    with mock.patch("medperf_git.flows.container.submit", autospec=True, return_value=MERGED) as flow:
        result = invoke("model", "submit", "--name", "model1", "-m", config, "-p", params, "-a",
                        "https://example.org/w.tar.gz", "--additional-hash", "a" * 64, "--image-hash",
                        "sha256:" + "b" * 64, "--operational", "-y")
    assert result.exit_code == 0, result.output
    kwargs = _kwargs(flow, "confirm", "source", "additional_files")
    assert kwargs == {"name": "model1", "config_path": config, "parameters_path": params, "description": None,
                      "image": None, "image_hash": "sha256:" + "b" * 64, "required_tasks": ("infer",),
                      "private_weights": False}
    extra = flow.call_args.kwargs["additional_files"]
    assert (extra.location, extra.expected) == ("https://example.org/w.tar.gz", "a" * 64)
    assert "model 'model1' has id 2" in result.stderr
    assert "Next step: medperf-git model view 2" in result.stderr


@pytest.mark.parametrize("group", ["container", "mlcube"])
def test_container_submit_long_spellings_and_the_mlcube_alias(invoke, tmp_path, group):
    config = tmp_path / "container_config.yaml"
    config.write_text("tasks: {prepare: {}}\n")
    with mock.patch("medperf_git.flows.container.submit", autospec=True, return_value=MERGED) as flow:
        result = invoke(group, "submit", "--name", "prep", "--container-config-file", config, "--parameters-file",
                        config, "--additional-file", "w.tar.gz", "--operational", "-y")
    assert result.exit_code == 0, result.output
    assert flow.call_args.kwargs["config_path"] == config and flow.call_args.kwargs["parameters_path"] == config
    assert flow.call_args.kwargs["additional_files"].location == "w.tar.gz"
    assert flow.call_args.kwargs["required_tasks"] == ()


@pytest.mark.parametrize("args, words", [
    (["model", "submit", "-n", "m", "-m", "CONFIG", "--asset-path", "x"], "file-asset models"),
    (["container", "submit", "-n", "m", "-m", "CONFIG", "-d", "key"], "encrypted models"),
    (["benchmark", "submit", "-n", "b", "-d", "d", "-p", "1", "-m", "2", "-e", "3", "--skip-demo-data-preparation"],
     "always prepared"),
    (["training", "submit", "-n", "x"], "federated training"),
    (["aggregator", "start", "-t", "1"], "federated training"),
    (["certificate", "get_client_certificate"], "SSH key"),
    (["ca", "ls"], "certificates"),
    (["confidential", "setup_cc_operator", "-c", "x"], "confidential computing"),
    (["asset", "ls"], "file assets"),
    (["get_webui_properties"], "medperf-git ui"),
    (["dataset", "train", "-t", "1", "-d", "1"], "federated training"),
    (["model", "grant_access", "-m", "1", "-b", "1"], "private (encrypted) models"),
    (["mlcube", "create", "model"], "no container templates"),
    (["auth", "synapse_login", "-t", "x"], "synapse"),
    (["association", "ls", "-t", "-d"], "training experiments"),
])
def test_what_has_no_meaning_here_exits_2_with_one_line(invoke, tmp_path, args, words):
    config = tmp_path / "c.yaml"
    config.write_text("tasks: {infer: {}}\n")
    result = invoke(*[str(config) if a == "CONFIG" else a for a in args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0], result.stderr


def test_dataset_submit_in_medperf_order_registers_here(invoke, tmp_path):
    done = mock.Mock(existing=False, registered=None, dataset=mock.Mock(uid="c0ffee" * 10, registry_id=None,
                                                                        ready=False, info={"name": "dataset_a"}))
    with mock.patch("medperf_git.flows.dataset_prepare.register", autospec=True, return_value=done) as flow:
        result = invoke("dataset", "submit", "-p", "1", "-d", tmp_path / "a", "-l", tmp_path / "a",
                        "--name=dataset_a", "--description=mock dataset a", "--location=mock location a", "-y")
    assert result.exit_code == 0, result.output
    assert _kwargs(flow) == {"name": "dataset_a", "data_path": tmp_path / "a", "labels_path": tmp_path / "a",
                             "benchmark": None, "data_preparation": 1, "metadata_path": None,
                             "description": "mock dataset a", "location": "mock location a", "as_prepared": False}
    assert f"UID: {'c0ffee' * 10}" in result.stdout
    assert "Next step: medperf-git dataset prepare --data_uid c0ffeec0ffee" in result.stderr
    with mock.patch("medperf_git.flows.dataset_prepare.register", autospec=True, return_value=done) as flow:
        result = invoke("dataset", "submit", "--benchmark", "1", "--data_path", tmp_path / "a", "--labels_path",
                        tmp_path / "b", "--metadata_path", tmp_path / "m", "--name", "n", "--submit-as-prepared")
    assert result.exit_code == 0, result.output
    assert flow.call_args.kwargs["benchmark"] == 1 and flow.call_args.kwargs["as_prepared"]
    assert flow.call_args.kwargs["metadata_path"] == tmp_path / "m"
    mixed = invoke("dataset", "submit", "--data_uid", "abcdef", "-d", tmp_path / "a")
    assert mixed.exit_code == 2 and "give one or the other" in mixed.stderr


def test_dataset_prepare_and_set_operational(invoke):
    ds = mock.Mock(uid="ab" * 32, registry_id=None, ready=True, info={"generated_uid": "tree-v1:sha256:" + "cd" * 32})
    with mock.patch("medperf_git.flows.dataset_prepare.prepare", autospec=True,
                    return_value=mock.Mock(dataset=ds, already=False, runner="sandbox", isolation="sandbox")) as flow:
        result = invoke("dataset", "prepare", "-d", "abab12", "-y", "--runner", "sandbox")
    assert result.exit_code == 0, result.output
    assert flow.call_args.args[1] == "abab12" and flow.call_args.kwargs["settings"].runner == "sandbox"
    assert "Next step: medperf-git dataset set_operational --data_uid abababababab" in result.stderr
    with mock.patch("medperf_git.flows.dataset_prepare.set_operational", autospec=True,
                    return_value=PublishOutcome(4, True, {"id": 7, "benchmark": 1}, "datasets/7.yaml")) as flow:
        result = invoke("dataset", "set_operational", "--data_uid", "abab12", "-y")
    assert result.exit_code == 0, result.output
    assert flow.call_args.args[1] == "abab12" and callable(flow.call_args.args[2])
    assert "operational, registered with id 7" in result.stderr
    assert "Next step: medperf-git dataset associate --benchmark_uid 1 --data_uid 7" in result.stderr


def test_dataset_export_and_import(invoke, tmp_path):
    ds = mock.Mock(uid="ab" * 32, registry_id=3, ready=True, info={"benchmark": 1})
    exported = mock.Mock(dataset=ds, path=tmp_path / "3.tar", bytes=2**20, raw_included=False)
    with mock.patch("medperf_git.flows.dataset_transfer.export", autospec=True, return_value=exported) as flow:
        result = invoke("dataset", "export", "-d", "3", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert flow.call_args.args[1:3] == ("3", tmp_path) and flow.call_args.kwargs["raw"] is None
    assert str(tmp_path / "3.tar") in result.stdout
    with mock.patch("medperf_git.flows.dataset_transfer.import_", autospec=True,
                    return_value=mock.Mock(dataset=ds, raw_paths=None)) as flow:
        result = invoke("dataset", "import", "--data_uid", "3", "--input", tmp_path / "3.tar", "--raw_dataset_path",
                        tmp_path / "raw")
    assert result.exit_code == 0, result.output
    assert flow.call_args.args[1:3] == ("3", tmp_path / "3.tar")
    assert flow.call_args.kwargs["raw_dataset_path"] == tmp_path / "raw"
    assert "Next step: medperf-git benchmark run --benchmark 1 --data_uid 3" in result.stderr


def test_result_create_show_local_results_and_submit_by_model(invoke, tmp_path):
    with mock.patch("medperf_git.flows.execution.run_model", autospec=True,
                    return_value=ModelOutcome(4, "b1m4d1", partial=True)) as flow:
        result = invoke("result", "create", "-b", "1", "-d", "1", "-m", "4", "--ignore-model-errors", "--no-cache",
                        "--new-result")
    assert result.exit_code == 0, result.output
    assert _kwargs(flow, "settings") == {"benchmark": 1, "data_uid": "1", "model": 4, "no_cache": True,
                                         "new_result": True, "ignore_model_errors": True}
    assert result.stdout.strip() == "b1m4d1" and "(partial)" in result.stderr
    shown = mock.Mock(metrics={"AUC": 0.5}, state="local")
    with mock.patch("medperf_git.flows.result.show", autospec=True, return_value=shown) as flow:
        result = invoke("result", "show_local_results", "b1m4d1", "-f", "json", "-o", tmp_path / "r.json")
    assert result.exit_code == 0 and flow.call_args.args[1] == "b1m4d1"
    assert (tmp_path / "r.json").read_text().strip() == '{\n  "AUC": 0.5\n}'
    with mock.patch("medperf_git.flows.result.submit", autospec=True, return_value=MERGED) as flow:
        result = invoke("result", "submit", "-b", "1", "-d", "1", "-m", "4", "-y")
    assert result.exit_code == 0, result.output
    assert flow.call_args.args[1] is None
    assert _kwargs(flow) == {"benchmark": 1, "data_uid": "1", "model": 4}
    assert invoke("result", "submit", "-b", "1", "-m", "4").exit_code == 2  # -d is missing


def test_run_executes_and_submits(invoke):
    made = (ModelOutcome(4, "b1m4d1-2"), MERGED)
    with mock.patch("medperf_git.flows.result.run_and_submit", autospec=True, return_value=made) as flow:
        result = invoke("run", "-b", "1", "-d", "1", "-m", "4", "-y", "--ignore-model-errors", "--new-result")
    assert result.exit_code == 0, result.output
    assert _kwargs(flow, "settings", "confirm") == {"benchmark": 1, "data_uid": "1", "model": 4, "no_cache": False,
                                                    "new_result": True, "ignore_model_errors": True}
    assert "Submission 3 merged" in result.stderr


@pytest.mark.parametrize("args, component", [(["-bd"], "dataset"), (["-bm"], "model"), (["-b", "-d"], "dataset")])
def test_association_ls_bare_flags(invoke, args, component):
    with mock.patch("medperf_git.flows.association.list_associations", autospec=True, return_value=[]) as flow:
        result = invoke("association", "ls", *args, "--approval-status", "PENDING")
    assert result.exit_code == 0, result.output
    assert _kwargs(flow) == {"benchmark": None, "component": component, "status": "pending", "everyone": False}


def test_association_set_priority(invoke):
    with mock.patch("medperf_git.flows.association.set_priority", autospec=True, return_value=MERGED) as flow:
        result = invoke("association", "set_priority", "-b", "1", "-m", "2", "-p", "77", "-y")
    assert result.exit_code == 0, result.output
    assert _kwargs(flow, "confirm") == {"benchmark": 1, "model": 2, "priority": 77}


def test_benchmark_submit_as_medperf_spells_it(invoke):
    with mock.patch("medperf_git.flows.benchmark.submit", autospec=True, return_value=MERGED) as flow:
        result = invoke("benchmark", "submit", "--name", "bmk", "--description", "bmk", "--demo-url",
                        "https://example.org/demo.tar.gz", "--data-preparation-container", "1", "--reference-model",
                        "2", "--evaluator-container", "3", "--operational", "-y")
    assert result.exit_code == 0, result.output
    kwargs = _kwargs(flow, "confirm", "settings", "demo")
    assert kwargs == {"name": "bmk", "description": "bmk", "docs_url": None, "data_preparation": 1,
                      "reference_model": 2, "metrics": 3, "owners": None, "min_isolation": None,
                      "skip_compatibility_tests": False, "result_visibility": "public"}
    assert flow.call_args.kwargs["demo"].location == "https://example.org/demo.tar.gz"


def test_auth_login_logout_status(invoke):
    login = mock.Mock(handle="testdo", already=False, registered=None)
    with mock.patch("medperf_git.flows.person.login", autospec=True, return_value=login) as flow:
        result = invoke("auth", "login", "-e", "testdo@example.com")
    assert result.exit_code == 0, result.output
    assert flow.call_args.kwargs["email"] == "testdo@example.com"
    assert "Logged in as 'testdo'" in result.stderr
    with mock.patch("medperf_git.flows.person.status", autospec=True, return_value=("testdo", "testdo@x.org")):
        result = invoke("auth", "status")
    assert result.stdout.strip() == "Logged in user email address: testdo@x.org"
    with mock.patch("medperf_git.flows.person.logout", autospec=True, return_value="testdo") as flow:
        result = invoke("auth", "logout")
    assert result.exit_code == 0 and flow.call_count == 1 and "was 'testdo'" in result.stderr
    with mock.patch("medperf_git.flows.person.status", autospec=True, return_value=(None, None)):
        assert invoke("auth", "status").stdout.strip() == "You are not logged in"


def test_storage_commands(invoke, tmp_path):
    moved = mock.Mock(old=tmp_path / "a", new=tmp_path / "b", bytes=0, profiles=["default"])
    with mock.patch("medperf_git.flows.storage.move", autospec=True, return_value=moved) as flow:
        result = invoke("storage", "move", "-t", tmp_path / "b", "-y")
    assert result.exit_code == 0, result.output
    assert flow.call_args.args[1] == tmp_path / "b"
    with mock.patch("medperf_git.flows.storage.cleanup", autospec=True, return_value=[tmp_path]) as flow:
        assert invoke("storage", "cleanup").exit_code == 0 and flow.call_count == 1
    assert "data" in invoke("storage", "ls").stdout
    declined = invoke("storage", "move", "-t", tmp_path / "c", input="n\n")
    assert declined.exit_code == 1 and "Cancelled: nothing was moved." in declined.stderr
    assert "Error" not in declined.stderr


def test_profile_create_n_and_medperf_settings(invoke, isolated_home):
    assert invoke("profile", "create", "-n", "testdata", "--platform", "singularity",
                  "--infer_timeout", "60").exit_code == 0
    view = invoke("--profile", "testdata", "profile", "view", "--json")
    assert '"runner": "singularity"' in view.stdout and '"infer": 60' in view.stdout
    assert invoke("profile", "create").exit_code == 2


def test_global_options_override_the_profile_for_one_command(invoke):
    from medperf_git.cli._context import AppContext

    seen = {}

    def capture(ws):
        seen.update(runner=ws.profile.runner, gpus=ws.profile.gpus, timeouts=dict(ws.profile.timeouts))
        return []

    with mock.patch("medperf_git.flows.storage.folders", autospec=True, side_effect=capture):
        result = invoke("--platform", "docker", "--gpus", "all", "--infer_timeout", "30", "--loglevel", "debug",
                        "storage", "ls")
    assert result.exit_code == 0, result.output
    assert seen == {"runner": "docker", "gpus": "all", "timeouts": {"infer": 30}}
    assert '"runner": "auto"' in invoke("profile", "view", "--json").stdout  # not saved
    refused = invoke("--platform", "docker", "profile", "set", "--gpus", "1")
    assert refused.exit_code == 2 and "profile set --platform" in refused.stderr
    assert AppContext().overrides == {}


def test_view_format_and_output(invoke, tmp_path):
    from medperf_git.flows.catalog import View

    record = mock.Mock(data={"id": 1, "name": "bmk"})
    with mock.patch("medperf_git.flows.catalog.view", autospec=True, return_value=View(record, "c0")):
        result = invoke("benchmark", "view", "1", "-f", "json", "-o", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    assert Path(tmp_path / "b.json").read_text().startswith('{\n  "id": 1')


def test_web_ui_run_is_the_local_web_app(invoke):
    with mock.patch("medperf_git.cli.ui.ui.callback") as ui:
        result = invoke("web-ui", "run", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert ui.call_args.kwargs["port"] == 8123
