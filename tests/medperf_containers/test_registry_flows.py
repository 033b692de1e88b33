"""MedPerf's tutorial containers registered in a test registry and run by the data owner's flows.

Container 1 is MedPerf's data preparator, 2 its CNN model (the benchmark's reference model), 3 its
metrics: configs and parameters as MedPerf publishes them, the source pinned as an archive of MedPerf's
folder, and (for docker) the image the config names, pinned by what the engine reports. `dataset create`
prepares with container 1, and `benchmark run` infers with 2 and evaluates with 3; every byte must be
what running their Python directly gives.
"""

from __future__ import annotations

import pytest
import yaml
from conftest import engine_param
from medperf_tutorial import PYTHON, TUTORIAL, ensure_image, python_of, tree_bytes

from medperf_git.flows import dataset as dataset_flow
from medperf_git.flows._containers import RunSettings
from medperf_git.flows.execution import run_benchmark
from medperf_git.flows.session import RegistrySession
from tests.support.actors import seed_registry
from tests.support.tutorial_registry import _archive_pin, commit_records

CONTAINERS = {1: ("medperf-chestxray-prep", "data_preparator"), 2: ("medperf-chestxray-cnn", "model_custom_cnn"),
              3: ("medperf-chestxray-metrics", "metrics")}


def _record(cid: int, assets, weights, engine: str) -> dict:
    from medperf_git.runners.archives import make_archive

    name, folder = CONTAINERS[cid]
    source = assets / f"{folder}.tar.gz"
    make_archive(TUTORIAL / folder, source)
    record = {"schema_version": 1, "kind": "container", "id": cid, "name": name, "owner": "testbo",
              "config": yaml.safe_load((TUTORIAL / folder / "container_config.yaml").read_text()),
              "parameters": yaml.safe_load((TUTORIAL / folder / "workspace" / "parameters.yaml").read_text()),
              "source": _archive_pin(source)}
    if folder == "model_custom_cnn":
        extra = assets / "cnn_weights.tar.gz"
        make_archive(weights, extra)
        record["additional_files"] = _archive_pin(extra)
    if engine == "docker":
        from medperf_git.runners.docker import check_image_pin

        record["image"] = check_image_pin(ensure_image(folder), None).pin
    return record


@pytest.mark.parametrize("engine", [engine_param("docker"), engine_param("sandbox")])
def test_dataset_create_and_benchmark_run_give_the_bytes_of_a_direct_run(engine, raw, weights, direct, tmp_path):
    for folder in ("data_preparator", "model_custom_cnn", "metrics"):
        python_of(folder)  # skip, saying how, when this machine lacks their packages
    registry, actors = seed_registry(tmp_path, ["testadmin", "testbo", "testdo"], ["testadmin"])
    assets = tmp_path / "assets"
    assets.mkdir()
    records = {f"containers/{cid}.yaml": _record(cid, assets, weights, engine) for cid in CONTAINERS}
    records["benchmarks/1.yaml"] = {
        "schema_version": 1, "kind": "benchmark", "id": 1, "name": "medperf-chestxray",
        "description": "MedPerf's chest X-ray tutorial containers", "owners": ["testbo"],
        "data_preparation": 1, "reference_model": 2, "metrics": 3,
        "association_policy": {"datasets": {"mode": "never"}, "models": {"mode": "never"}},
        "approvals_required": 1}
    commit_records(registry, actors["testadmin"], records, "MedPerf's tutorial containers and benchmark")
    # One interpreter serves all three under the sandbox: Debian's python3 with their packages.
    settings = RunSettings(runner=engine, python=PYTHON if engine == "sandbox" else None)
    with actors["testdo"].active():
        ds = dataset_flow.create(RegistrySession.load(), benchmark=1, name="medperf-data", data_path=raw / "images",
                                 labels_path=raw / "labels", settings=settings).dataset
        commit_records(registry, actors["testadmin"], {
            "datasets/1.yaml": dataset_flow.dataset_record(ds, 1, "testdo"),
            "associations/1/dataset-1.yaml": {"schema_version": 1, "kind": "association", "benchmark": 1,
                                              "dataset": 1, "initiated_by": "testdo"}}, "Dataset 1, associated")
        summary = run_benchmark(RegistrySession.load(), benchmark=1, data_uid="1", settings=settings)
        assert [(o.model, o.name, o.error) for o in summary.outcomes] == [(2, "b1m2d1", None)]
        execution = RegistrySession.load().executions.root / "b1m2d1"
    assert tree_bytes(ds.data_dir) == tree_bytes(direct / "data")
    assert tree_bytes(ds.labels_dir) == tree_bytes(direct / "labels")
    assert (ds.path / "statistics.yaml").read_bytes() == (direct / "statistics.yaml").read_bytes()
    assert tree_bytes(execution / "predictions") == tree_bytes(direct / "predictions")
    assert (execution / "results.yaml").read_bytes() == (direct / "results.yaml").read_bytes()
