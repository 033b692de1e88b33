"""registry/, the tutorial registry's template: lint-clean, machine values only as placeholders, the
examples' configs, and the helper that the set-up reads it with."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.registry_template.filled import TEMPLATE, records_in
from tests.support.tutorial_registry import EXAMPLES, build_assets
from tutorials_scripts import registry_template as tpl

HASH = re.compile(r"(tree-v1:)?sha256:[0-9a-f]{64}")


def _leaves(value: Any, where: tuple = ()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*where, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*where, i))
    else:
        yield where, value


def test_the_template_is_lint_clean(invoke):
    result = invoke("registry", "lint", str(TEMPLATE))
    assert result.exit_code == 0, result.output
    assert "registry is valid: 11 records" in result.output


def test_the_template_holds_what_the_tutorial_registry_holds_before_the_data_owner_starts():
    assert sorted(records_in(TEMPLATE)) == [
        "associations/1/model-4.yaml", "benchmarks/1.yaml", "containers/1.yaml", "containers/2.yaml",
        "containers/3.yaml", "containers/4.yaml", "people/testadmin.yaml", "people/testbo.yaml",
        "people/testdo.yaml", "people/testmo.yaml", "registry.yaml"]


def test_every_value_that_depends_on_the_machine_is_a_placeholder(tmp_path):
    built = set(build_assets(tmp_path)) | {"demo_data.tar.gz"}
    placeholders = 0
    for path, record in records_in(TEMPLATE).items():
        for where, value in _leaves(record):
            at = f"{path}: {'.'.join(map(str, where))}"
            if not isinstance(value, str):
                continue
            if value.startswith("file:"):
                assert tpl.ASSET_URL.fullmatch(value) and tpl.asset_name(value) in built, at
            if HASH.fullmatch(value):
                assert value in (tpl.ZERO_SHA256, tpl.ZERO_TREE), at
            if value.startswith("ssh-"):
                assert value == tpl.ZERO_KEY, at
            placeholders += tpl.is_placeholder(value)
        test = record.get("compatibility_test")
        assert test is None or (test["provenance"] == {} and set(test["results"].values()) == {0}), path
    assert records_in(TEMPLATE)["registry.yaml"]["medperf_git"] == f"medperf-git=={tpl.VERSION_TOKEN}"
    # 4 keys, the version, 6 archive pins of 3 values, the demo dataset's url, hash and uid
    assert placeholders == 4 + 1 + 6 * 3 + 3


def test_each_container_has_the_config_and_parameters_of_the_example_its_archive_is_built_from():
    containers = {p: r for p, r in records_in(TEMPLATE).items() if p.startswith("containers/")}
    assert len(containers) == 4
    for path, record in containers.items():
        folder = EXAMPLES / tpl.asset_name(record["source"]["url"]).removesuffix(".tar.gz")
        assert record["config"] == yaml.safe_load((folder / "container_config.yaml").read_text()), path
        assert record["parameters"] == yaml.safe_load((folder / "parameters.yaml").read_text()), path
        extra = record.get("additional_files")
        assert (extra is not None) == (folder / "additional_files").is_dir(), path
        if extra is not None:
            assert tpl.asset_name(extra["url"]) == f"{folder.name}_additional_files.tar.gz", path


def _helper(capsys, *args: str) -> tuple[int, str, str]:
    code = tpl.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_helper_lists_records_in_the_order_the_set_up_publishes_them(capsys):
    assert _helper(capsys, "ids", "people") == (0, "testadmin\ntestbo\ntestdo\ntestmo\n", "")
    assert _helper(capsys, "ids", "containers") == (0, "1\n2\n3\n4\n", "")
    assert _helper(capsys, "ids", "benchmarks") == (0, "1\n", "")
    assert _helper(capsys, "ids", "model-associations") == (0, "1/4\n", "")


def test_the_helper_reads_fields(capsys):
    assert _helper(capsys, "get", "benchmarks/1.yaml", "owners") == (0, "testbo\n", "")
    assert _helper(capsys, "get", "benchmarks/1.yaml", "owners.0") == (0, "testbo\n", "")
    assert _helper(capsys, "get", "registry.yaml", "allow_file_urls") == (0, "true\n", "")
    assert _helper(capsys, "get", "benchmarks/1.yaml", "association_policy.models.mode") == (0, "never\n", "")
    assert _helper(capsys, "get", "benchmarks/1.yaml", "min_isolation", "--default", "") == (0, "", "")
    code, _, err = _helper(capsys, "get", "benchmarks/1.yaml", "min_isolation")
    assert code == 1 and "benchmarks/1.yaml: no field min_isolation" in err


def test_the_helper_names_the_archives_and_writes_the_container_files(tmp_path, capsys):
    tutorial = tmp_path / "medperf_tutorial"
    code, _, err = _helper(capsys, "--tutorial", str(tutorial), "archive", "containers/2.yaml", "source")
    assert code == 1 and "model_reference.tar.gz, which the set-up did not build" in err
    build_assets(tutorial / "assets")
    assert _helper(capsys, "--tutorial", str(tutorial), "archive", "containers/2.yaml", "additional_files") == (
        0, f"{tutorial / 'assets' / 'model_reference_additional_files.tar.gz'}\n", "")
    assert _helper(capsys, "--tutorial", str(tutorial), "archive", "containers/1.yaml", "additional_files") == (
        0, "", "")
    assert _helper(capsys, "container-files", "containers/1.yaml", str(tmp_path / "c1"))[0] == 0
    record = records_in(TEMPLATE)["containers/1.yaml"]
    assert yaml.safe_load((tmp_path / "c1" / "container_config.yaml").read_text()) == record["config"]
    assert yaml.safe_load((tmp_path / "c1" / "parameters.yaml").read_text()) == record["parameters"]


@pytest.mark.parametrize("kind, change, message", [
    ("containers", lambda t: (t / "containers" / "2.yaml").unlink(), "ids must run from 1 without gaps"),
    ("model-associations", lambda t: (t / "associations" / "1" / "dataset-1.yaml").write_text("{}"),
     "only model associations"),
    ("people", lambda t: (t / "people" / "testadmin.yaml").unlink(), "admins without a people record: testadmin"),
])
def test_the_helper_refuses_a_template_the_set_up_cannot_publish(tmp_path, capsys, kind, change, message):
    template = tmp_path / "registry"
    shutil.copytree(TEMPLATE, template)
    change(template)
    code, _, err = _helper(capsys, "--template", str(template), "ids", kind)
    assert code == 1 and message in err, err


def test_a_url_that_names_no_archive_of_the_set_up_is_refused():
    with pytest.raises(tpl.TemplateError, match="not file:///@MEDPERF_TUTORIAL@/assets/NAME"):
        tpl.asset_name("file:///tmp/medperf_tutorial/assets/metrics.tar.gz")
    assert tpl.asset_name(f"file:///{tpl.TUTORIAL_TOKEN}/assets/metrics.tar.gz") == "metrics.tar.gz"
    assert Path(tpl.TEMPLATE) == TEMPLATE
