"""Speed of the chest X-ray example tools and tasks, run directly (no runner), on mock data.

    python benchmarks/bench_chestxray_examples.py [--count 1000] [--repeat 3]

Generates ``--count`` mock images, then times prepare, sanity_check, statistics, both models' infer and
evaluate as subprocesses with MP_VOL_* variables (what every runner ends up running), plus the demo
tarball and the source archives. Reports the best of ``--repeat`` runs of each step, in seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "chestxray"
TOOLS = EXAMPLE / "tools"


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _env(**volumes: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    env.update({f"MP_VOL_{label.upper()}": str(path) for label, path in volumes.items()})
    return env


def bench(count: int, repeat: int, root: Path) -> dict[str, float]:
    py = sys.executable
    best: dict[str, float] = {}

    def record(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, seconds), seconds)

    for n in range(repeat):
        run = root / f"run{n}"
        record("make_mock_data", _timed([py, str(TOOLS / "make_mock_data.py"), "--out", str(run / "raw"),
                                         "--count", str(count)]))
        for folder in ("data", "labels", "pred_model_reference", "pred_model_second"):
            (run / folder).mkdir()
        prep_params = EXAMPLE / "data_preparator/parameters.yaml"
        record("prepare", _timed([py, str(EXAMPLE / "data_preparator/project/main.py"), "prepare"], _env(
            data_path=run / "raw/images", labels_path=run / "raw/labels", output_path=run / "data",
            output_labels_path=run / "labels", parameters_file=prep_params)))
        prepared = {"data_path": run / "data", "labels_path": run / "labels", "parameters_file": prep_params}
        record("sanity_check", _timed([py, str(EXAMPLE / "data_preparator/project/main.py"), "sanity_check"],
                                      _env(**prepared)))
        (run / "statistics.yaml").touch()
        record("statistics", _timed([py, str(EXAMPLE / "data_preparator/project/main.py"), "statistics"],
                                    _env(**prepared, output_path=run / "statistics.yaml")))
        for model in ("model_reference", "model_second"):
            record(f"infer ({model})", _timed([py, str(EXAMPLE / model / "project/infer.py")], _env(
                data_path=run / "data", output_path=run / f"pred_{model}",
                additional_files=EXAMPLE / model / "additional_files",
                parameters_file=EXAMPLE / model / "parameters.yaml")))
        (run / "results.yaml").touch()
        record("evaluate", _timed([py, str(EXAMPLE / "metrics/project/metrics.py")], _env(
            predictions=run / "pred_model_reference", labels=run / "labels", output_path=run / "results.yaml",
            parameters_file=EXAMPLE / "metrics/parameters.yaml")))
        record("make_demo_tarball (10 images)", _timed([py, str(TOOLS / "make_demo_tarball.py"),
                                                        "--out", str(run / "demo.tar.gz")]))
        record("make_source_archives (6 archives)", _timed([py, str(TOOLS / "make_source_archives.py"),
                                                            "--out", str(run / "archives")]))
        shutil.rmtree(run)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        best = bench(args.count, args.repeat, Path(tmp))
    print(f"{args.count} cases, best of {args.repeat}:")
    for name, seconds in best.items():
        print(f"  {name:<36} {seconds:7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
