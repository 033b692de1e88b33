"""Options of every command that runs containers, and the terminal side of a running task."""

from __future__ import annotations

import click

from medperf_git.cli._output import out


def run_options(func):
    options = [
        click.option("--runner", type=click.Choice(["auto", "docker", "apptainer", "singularity", "sandbox", "local"]),
                     help="How to run containers (default: the profile's, else auto)."),
        click.option("--gpus", help="GPUs for the containers: all, a number, or device=0,1."),
        click.option("--python", "python", help="Interpreter for the sandbox and local runners."),
        click.option("--timeout", "timeout", type=int, help="Wall-clock limit per task, in seconds."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def settings_from(runner, gpus, python, timeout, quiet: bool = False):
    from medperf_git.flows._containers import RunSettings

    timeouts = {t: timeout for t in ("prepare", "sanity_check", "statistics", "infer", "evaluate")} if timeout else {}
    if runner == "local":
        out.warn("the local runner isolates nothing: the containers' code runs as you, with your network "
                 "and files. Use it only for code you trust.")
    return RunSettings(runner=runner, gpus=gpus, python=python, timeouts=timeouts,
                       on_output=None if quiet else _dim,
                       on_step=lambda text: out.info(f"> {text}..."))


def _dim(line: str) -> None:
    click.secho(f"  {line.rstrip()}", err=True, dim=True)
