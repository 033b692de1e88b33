"""Runner overhead: what each runner adds to the container's own run time, per task.

The container's own run time is the same command run directly on the host as a plain subprocess
(``python3 task.py`` with the task's environment). The overhead of a runner is the median, over
runs, of the wall time of ``run_task`` (checks, outputs, parameters file, engine, log, output
checks) minus the direct run taken right after it, so that load from other work weighs on both.
Targets: sandbox at most 100 ms per task (issue 3), docker at most 0.5 s per task (issue 13).

For docker, the engine's own cost is measured in the same rounds: ``podman run --rm`` of the same image
with the same mounts, user and network settings (``--engine-cli``), so each round runs the runner, the
engine's CLI and the script directly, in turn, and both overheads are medians of paired differences.

    eval "$(sh scripts/setup_engines.sh)"      # for the docker runner (podman's API socket)
    .venv/bin/python benchmarks/bench_runners.py [--repeat 10] [--work-ms 200] [--engine-cli podman]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

TARGETS = {"sandbox": 0.100, "docker": 0.5}

CONFIG = """\
container_type: DockerImage
image: localhost/medperf-git-bench-absent:0
tasks:
  infer:
    input_volumes:
      data_path: {mount_path: /mlcommons/volumes/data, type: directory}
      parameters_file: {mount_path: /mlcommons/volumes/parameters/parameters_file.yaml, type: file}
    output_volumes:
      output_path: {mount_path: /mlcommons/volumes/predictions, type: directory}
local:
  binds: {project: /project}
  entrypoint: [python3, /project/task.py]
"""

TASK = """\
import json, os, time
deadline = time.monotonic() + %(work)f
names = sorted(os.listdir(os.environ.get("MP_VOL_DATA_PATH", "/mlcommons/volumes/data")))
while time.monotonic() < deadline:
    pass
out = os.environ.get("MP_VOL_OUTPUT_PATH", "/mlcommons/volumes/predictions")
with open(os.path.join(out, "predictions.json"), "w") as f:
    json.dump({n: [0.5] * 14 for n in names}, f)
"""

DOCKERFILE = """\
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
COPY project /project
ENTRYPOINT ["python3", "/project/task.py"]
"""


def generate_container(root: Path, work_seconds: float, cases: int = 20) -> Iterator[Path]:
    """Write a tiny model container and its input data; yields the config path."""
    (root / "container" / "project").mkdir(parents=True)
    (root / "container" / "container_config.yaml").write_text(CONFIG)
    (root / "container" / "project" / "task.py").write_text(TASK % {"work": work_seconds})
    (root / "container" / "Dockerfile").write_text(DOCKERFILE)
    (root / "data").mkdir()
    for i in range(cases):
        (root / "data" / f"case{i:03d}.npy").write_bytes(os.urandom(3136))
    yield root / "container" / "container_config.yaml"


def direct_run(root: Path, out: Path) -> float:
    """The task's own run time: the script run directly as a plain subprocess, with no checks at all."""
    script = root / "container" / "project" / "task.py"
    env = {"PATH": os.environ["PATH"], "MP_VOL_DATA_PATH": str(root / "data"), "MP_VOL_OUTPUT_PATH": str(out),
           "PYTHONUNBUFFERED": "1"}
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, str(script)], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def engine_cli_run(cli: str, image: str, root: Path, out: Path) -> float:
    """The engine's own ``run --rm`` of the image, with the runner's mounts, user and isolation settings."""
    out.mkdir(parents=True, exist_ok=True)
    params = root / "parameters.yaml"
    params.write_text("{}\n")
    argv = [cli, "run", "--rm", "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--user", f"{os.getuid()}:{os.getgid()}",
            "-v", f"{root / 'data'}:/mlcommons/volumes/data:ro",
            "-v", f"{params}:/mlcommons/volumes/parameters/parameters_file.yaml:ro",
            "-v", f"{out}:/mlcommons/volumes/predictions", image]
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(runner: str, config_path: Path, root: Path, repeat: int,
            engine_cli: str | None = None) -> list[tuple[float, float, float | None]] | str:
    """(runner time, direct time, engine CLI time) per round, taken in turn so that load weighs on all alike."""
    from medperf_git.errors import MedperfGitError
    from medperf_git.runners import RunOptions, load_config, resolve_container, run_task, select_runner

    try:
        select_runner(runner)
    except MedperfGitError as exc:
        return str(exc)
    container = resolve_container(load_config(config_path), cache_dir=root / "cache", parameters={})
    rounds = []
    for i in range(repeat + 1):  # the first run builds the image or environment: not counted
        options = RunOptions(logs_dir=root / "logs" / runner, work_dir=root / "work" / runner, runner=runner,
                             python=sys.executable, cache_dir=root / "cache", timeout=300)
        start = time.perf_counter()
        result = run_task(container, "infer", {"data_path": root / "data",
                                               "output_path": root / "out" / runner / str(i)}, options)
        elapsed = time.perf_counter() - start
        if i:
            cli = None
            if runner == "docker" and engine_cli and result.image:
                cli = engine_cli_run(engine_cli, result.image["image_id"], root, root / "cli" / str(i))
            rounds.append((elapsed, direct_run(root, root / "direct" / runner / str(i)), cli))
    return rounds


def _median_ms(values) -> str:
    return f"{statistics.median(values) * 1000:6.0f}ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--work-ms", type=float, default=200.0, help="the task's own busy time")
    parser.add_argument("--runners", default="local,sandbox,docker")
    parser.add_argument("--engine-cli", default="podman",
                        help="the engine's CLI to pair with the docker runner ('' for none)")
    args = parser.parse_args(argv)
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-runners-") as tmp:
        root = Path(tmp)
        config_path = next(generate_container(root, args.work_ms / 1000))
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
              f"task busy time {args.work_ms:g} ms; {args.repeat} runs per runner")
        print(f"{'runner':<8} {'run':>8} {'direct':>8} {'overhead':>9} {'p90':>7}  target")
        for runner in args.runners.split(","):
            rounds = measure(runner, config_path, root, args.repeat, args.engine_cli or None)
            if isinstance(rounds, str):
                print(f"{runner:<8} skipped: {rounds}")
                continue
            diffs = sorted(r - d for r, d, _ in rounds)
            overhead = statistics.median(diffs)
            p90 = diffs[max(0, int(len(diffs) * 0.9) - 1)]
            target = TARGETS.get(runner)
            verdict = "" if target is None else ("ok" if overhead <= target else "TOO SLOW") + f" (<= {target:g} s)"
            failed |= target is not None and overhead > target
            print(f"{runner:<8} {_median_ms(r for r, _, _ in rounds)} {_median_ms(d for _, d, _ in rounds)} "
                  f"{overhead * 1000:7.0f}ms {p90 * 1000:5.0f}ms  {verdict}")
            clis = [(c, d, r) for r, d, c in rounds if c is not None]
            if clis:
                own = statistics.median(c - d for c, d, _ in clis)
                print(f"{args.engine_cli + ' run --rm':<8} {_median_ms(c for c, _, _ in clis)} "
                      f"{_median_ms(d for _, d, _ in clis)} {own * 1000:7.0f}ms          (the engine's own; "
                      f"runner minus it, paired: {statistics.median(r - c for c, _, r in clis) * 1000:.0f} ms)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
