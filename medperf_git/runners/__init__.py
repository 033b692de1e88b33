"""Runners: one contract, five ways to run a MedPerf container (docker, apptainer, sandbox, local, slurm).

Runner modules import their engines lazily, so importing this package stays cheap.
"""

from medperf_git.runners.base import (
    ISOLATION as ISOLATION,
    ResolvedContainer as ResolvedContainer,
    RunOptions as RunOptions,
    RunResult as RunResult,
    run_task as run_task,
    select_runner as select_runner,
)
from medperf_git.runners.config import (
    ContainerConfig as ContainerConfig,
    load_config as load_config,
    parse_config as parse_config,
)
from medperf_git.runners.resolve import resolve_container as resolve_container

RUNNERS = ("docker", "apptainer", "sandbox", "local", "slurm")
