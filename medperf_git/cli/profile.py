"""`medperf-git profile create|activate|ls|view|set|delete|trust`: named settings for a registry, an
identity and this machine, and the registry's root commit and admin keys a profile has pinned."""

from __future__ import annotations

import click

from medperf_git.cli._context import pass_session, pass_workspace
from medperf_git.cli._options import RUNNER_CHOICES, json_option, with_options
from medperf_git.cli._output import out
from medperf_git.workspace.config import TASKS


def _setting_options(func):
    return with_options(func, [
        click.option("--registry", "--server", "registry",
                     help="The registry remote: a path (stored absolute) or a URL (MedPerf's --server)."),
        click.option("--forge", type=click.Choice(["git", "github"]), help="How submissions are hosted."),
        click.option("--handle", help="Your handle in the registry."),
        click.option("--signing-key", help="Your SSH private key for signing commits."),
        click.option("--runner", "--platform", "runner", type=click.Choice(RUNNER_CHOICES),
                     help="How containers run on this machine (MedPerf's --platform)."),
        click.option("--gpus", help="GPUs for containers: all, a number, or device=0,1."),
        click.option("--python", help="Interpreter for the sandbox and local runners."),
        click.option("--data-dir", "--data_dir", "data_dir", help="Where large data goes (prepared data, caches)."),
        click.option("--slurm", "slurm", multiple=True, metavar="KEY=VALUE",
                     help="A slurm runner setting (repeatable; KEY= removes it): partition, account, cpus, mem, "
                          "sbatch_options, task_runner (sandbox or apptainer), shared_paths (comma-separated)."),
        click.option("--timeout", "timeouts", multiple=True, metavar="TASK=SECONDS",
                     help="Wall-clock limit for a task, e.g. infer=3600 (repeatable)."),
        *(click.option(f"--{task}_timeout", f"--{task.replace('_', '-')}-timeout", f"{task}_timeout",
                       type=click.IntRange(min=1), metavar="SECONDS", help=f"Wall-clock limit of the {task} task.")
          for task in TASKS),
    ])


def _split(settings: dict) -> tuple[dict, dict[str, int]]:
    timeouts = {task: settings.pop(f"{task}_timeout") for task in TASKS if settings.get(f"{task}_timeout")}
    for task in TASKS:
        settings.pop(f"{task}_timeout", None)
    for item in settings.pop("timeouts", ()) or ():
        task, sep, seconds = item.partition("=")
        if not sep or not seconds.isdigit() or int(seconds) <= 0:
            raise click.BadParameter(f"'{item}' is not TASK=SECONDS", param_hint="--timeout")
        timeouts[task] = int(seconds)
    return settings, timeouts


@click.command()
@click.argument("name", required=False)
@click.option("--name", "-n", "name_option", metavar="NAME", help="The new profile's name (MedPerf's spelling).")
@_setting_options
@pass_workspace
def create(ws, name, name_option, **settings):
    """Create profile NAME as a copy of the active profile, with the settings given."""
    from medperf_git.flows import profile as flow

    if (name is None) == (name_option is None):
        raise click.UsageError("give the profile's name once: `profile create NAME` or `profile create -n NAME`")
    profile = flow.create(ws, name or name_option, *_split(settings))
    out.success(f"Created profile '{profile.name}'")
    out.next_step(f"medperf-git profile activate {profile.name}")


@click.command()
@click.argument("name")
@pass_workspace
def activate(ws, name):
    """Make NAME the active profile."""
    from medperf_git.flows import profile as flow

    flow.activate(ws, name)
    out.success(f"Profile '{name}' is active")
    out.next_step("medperf-git benchmark ls")


@click.command()
@json_option
@pass_workspace
def ls(ws, as_json):
    """List profiles; the active one is marked with *."""
    names = sorted(ws.config.profiles)
    if as_json:
        out.json({"active": ws.config.active, "profiles": names})
        return
    for name in names:
        out.echo(f"* {name}" if name == ws.config.active else f"  {name}")


@click.command()
@click.argument("name", required=False)
@json_option
@pass_workspace
def view(ws, name, as_json):
    """Show a profile (the active one by default), without secrets."""
    from medperf_git.flows import profile as flow

    data = flow.describe(ws.config.get(name or ws.profile.name))
    out.json(data) if as_json else out.yaml(data)


@click.command("set")
@_setting_options
@pass_workspace
def set_(ws, **settings):
    """Change settings of the active profile (or of --profile NAME)."""
    from medperf_git.flows import profile as flow

    changed = flow.set_settings(ws, *_split(settings))
    out.success(f"Profile '{ws.profile.name}': set {', '.join(changed)}")
    if "registry" in changed:
        out.next_step("medperf-git benchmark ls")


@click.command()
@click.argument("name")
@pass_workspace
def delete(ws, name):
    """Delete profile NAME (not the active one)."""
    from medperf_git.flows import profile as flow

    flow.delete(ws, name)
    out.success(f"Deleted profile '{name}'")


@click.command()
@click.option("--reset", is_flag=True, help="Forget the pinned anchor and what was verified, then re-audit "
                                            "from the root (after a history rewrite the admins announced).")
@click.option("--root-commit", "--root_commit", "root_commit", metavar="SHA",
              help="Pin the registry's root commit, learnt out of band (implies --reset).")
@json_option
@pass_session
def trust(s, reset, root_commit, as_json):
    """Show or reset the trust anchor of the active profile's registry."""
    from medperf_git.flows.profile import reset_trust, trust_state

    if reset or root_commit:
        state = reset_trust(s, root_commit)
        out.success("Trust anchor reset" + (f" to root commit {root_commit[:12]}" if root_commit else ""))
    else:
        state = trust_state(s.ws)
    if as_json:
        out.json(state)
        return
    root = state.get("root_commit")
    if not root:
        out.echo("No trust anchor yet: it is pinned at the first fetch of the registry.")
    else:
        out.echo(f"root commit:   {root}")
        for key in state.get("admin_keys") or []:
            out.echo(f"admin key:     {key}")
        out.echo(f"verified main: {state['verified_main'] or '-'}")
    out.next_step("medperf-git registry audit", "audit the whole history")
