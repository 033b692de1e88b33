"""The sandbox runs a source in a virtual environment made from its pinned requirements.txt, as the registry pins it.

Slow the first time only: pip installs the example's pins (numpy, PyYAML, pillow) from the package
index into a cache kept across test sessions (``$MEDPERF_GIT_CI_CACHE``); later runs reuse it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from runner_helpers import ALL_RUNNERS

from medperf_git.runners import RunOptions, load_config, resolve_container, run_task

METRICS = Path(__file__).resolve().parents[2] / "examples" / "chestxray" / "metrics" / "container_config.yaml"


@pytest.mark.slow
@pytest.mark.parametrize("engine", ALL_RUNNERS[:2])
def test_metrics_on_hand_made_predictions_in_the_pinned_environment(engine, tmp_path, shared_cache):
    np = pytest.importorskip("numpy")
    if not METRICS.is_file():
        pytest.skip("the example metrics container is not there")
    labels, predictions = tmp_path / "labels", tmp_path / "predictions"
    labels.mkdir()
    predictions.mkdir()
    for case, index in (("a", 0), ("b", 1)):
        np.save(labels / f"{case}.npy", np.eye(14, dtype=np.float32)[index])
    scores = {"a": [0.9, 0.1] + [0.0] * 12, "b": [0.2, 0.8] + [0.0] * 12}
    (predictions / "predictions.json").write_text(json.dumps(scores))
    config = load_config(METRICS)
    container = resolve_container(config, cache_dir=shared_cache, parameters={"threshold": 0.5})
    result = run_task(container, "evaluate", {"predictions": predictions, "labels": labels,
                                              "output_path": tmp_path / "results.yaml"},
                      RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work", runner=engine,
                                 cache_dir=shared_cache, timeout=600))
    metrics = yaml.safe_load((tmp_path / "results.yaml").read_text())
    assert metrics["Accuracy"] == pytest.approx(1.0)
    assert metrics["AUC"] == pytest.approx(2 / 14)  # two labels have both classes, each with AUC 1
    # Provenance: the environment made from the pins, not the host's packages.
    assert result.packages["numpy"] == "1.26.4"
    assert result.packages["PyYAML"] == "6.0.2"
    assert "click" not in {name.lower() for name in result.packages}
