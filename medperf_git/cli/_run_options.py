"""Options of every command that runs containers, and the terminal side of a running task."""

from __future__ import annotations

import click

from medperf_git.cli._options import RUNNER_CHOICES, with_options
from medperf_git.cli._output import out

SHM_SIZE = "medperf_git.shm_size"  # where --shm-size waits in the context for settings_from


def _keep_shm_size(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """Kept aside, so that every command taking these options need not name it in its signature."""
    if value is not None:
        ctx.meta[SHM_SIZE] = value


def run_options(func):
    return with_options(func, [
        click.option("--runner", type=click.Choice(RUNNER_CHOICES),
                     help="How to run containers (default: the profile's, else auto)."),
        click.option("--gpus", help="GPUs for the containers: all, a number, or device=0,1."),
        click.option("--python", "python", help="Interpreter for the sandbox and local runners."),
        click.option("--timeout", "timeout", type=int, help="Wall-clock limit per task, in seconds."),
        click.option("--shm-size", "--shm_size", metavar="SIZE", expose_value=False, callback=_keep_shm_size,
                     help="Shared memory for docker containers, e.g. 2g (default: the profile's, else docker's)."),
    ])


def jobs_option(func):
    """``--jobs N``: models side by side, for the commands that run several (benchmark run)."""
    return click.option("--jobs", "-j", "jobs", type=click.IntRange(min=1), default=1, show_default=True,
                        help="Run up to N models at once (processes here; jobs with --runner slurm).")(func)


def settings_from(runner, gpus, python, timeout, quiet: bool = False):
    from medperf_git.flows._containers import RunSettings

    timeouts = {t: timeout for t in ("prepare", "sanity_check", "statistics", "infer", "evaluate")} if timeout else {}
    if runner == "local":
        out.warn("the local runner isolates nothing: the containers' code runs as you, with your network "
                 "and files. Use it only for code you trust; each task will say so again.")
    from medperf_git.cli._output import Heartbeat

    ctx = click.get_current_context(silent=True)
    shm_size = ctx.meta.get(SHM_SIZE) if ctx is not None else None
    return Heartbeat().attach(RunSettings(runner=runner, gpus=gpus, python=python, shm_size=shm_size, timeouts=timeouts,
                                          on_output=None if quiet else task_line,
                                          on_step=lambda text: out.info(f"> {text}...")))


def task_line(line: str) -> None:
    """A line of a running task, dimmed; the runner's own warnings (e.g. nothing is isolated) as warnings.

    The runners say them in the task's output stream, so that every task, whichever flow runs it, says them.
    """
    from medperf_git.runners._process import WARNING

    if line.startswith(WARNING):
        out.warn(line[len(WARNING):])
    else:
        click.secho(f"  {line.rstrip()}", err=True, dim=True)
