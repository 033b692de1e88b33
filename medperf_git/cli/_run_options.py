"""Options of every command that runs containers, and the terminal side of a running task."""

from __future__ import annotations

import click

from medperf_git.cli._options import RUNNER_CHOICES, with_options
from medperf_git.cli._output import out


def run_options(func):
    return with_options(func, [
        click.option("--runner", type=click.Choice(RUNNER_CHOICES),
                     help="How to run containers (default: the profile's, else auto)."),
        click.option("--gpus", help="GPUs for the containers: all, a number, or device=0,1."),
        click.option("--python", "python", help="Interpreter for the sandbox and local runners."),
        click.option("--timeout", "timeout", type=int, help="Wall-clock limit per task, in seconds."),
    ])


def settings_from(runner, gpus, python, timeout, quiet: bool = False):
    from medperf_git.flows._containers import RunSettings

    timeouts = {t: timeout for t in ("prepare", "sanity_check", "statistics", "infer", "evaluate")} if timeout else {}
    if runner == "local":
        out.warn("the local runner isolates nothing: the containers' code runs as you, with your network "
                 "and files. Use it only for code you trust; each task will say so again.")
    from medperf_git.cli._output import Heartbeat

    return Heartbeat().attach(RunSettings(runner=runner, gpus=gpus, python=python, timeouts=timeouts,
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
