"""The ``medperf-git`` command: a lazily loaded tree of click commands, and the one catch point.

Commands are listed here by import path and imported only when run, so ``--help`` stays fast.
A command whose module is not installed is simply not offered.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from medperf_git import __version__

# name -> "module:attribute" for a command, or (help, {...}) for a group. A group's commands live in
# medperf_git.cli.<group>, a top-level command in medperf_git.cli.<name> (tests/cli/test_layout.py).
COMMANDS: dict[str, object] = {
    "profile": ("Create, choose and change profiles (registry, identity, runner, data folder).", {
        "create": "medperf_git.cli.profile:create",
        "activate": "medperf_git.cli.profile:activate",
        "ls": "medperf_git.cli.profile:ls",
        "view": "medperf_git.cli.profile:view",
        "set": "medperf_git.cli.profile:set_",
        "delete": "medperf_git.cli.profile:delete",
        "trust": "medperf_git.cli.profile:trust",
    }),
    "registry": ("Create, check, audit and recover a registry repository.", {
        "init": "medperf_git.cli.registry:init",
        "lint": "medperf_git.cli.registry:lint",
        "audit": "medperf_git.cli.registry:audit",
        "recover": "medperf_git.cli.registry:recover",
    }),
    "benchmark": ("List, view, run and submit benchmarks.", {
        "ls": "medperf_git.cli.benchmark:ls",
        "view": "medperf_git.cli.benchmark:view",
        "run": "medperf_git.cli.benchmark:run",
        "submit": "medperf_git.cli.benchmark:submit",
        "update-associations-policy": "medperf_git.cli.benchmark:update_policy",
        "update-result-visibility": "medperf_git.cli.benchmark:update_visibility",
    }),
    "container": ("List, view, run and submit containers.", {
        "ls": "medperf_git.cli.container:ls",
        "view": "medperf_git.cli.container:view",
        "run": "medperf_git.cli.container:run",
        "runners": "medperf_git.cli.container:runners",
        "submit": "medperf_git.cli.container:submit",
        "grant-access": "medperf_git.cli.container:grant_access",
    }),
    "model": ("List and view models (containers with an infer task) and associate them.", {
        "ls": "medperf_git.cli.model:ls",
        "view": "medperf_git.cli.model:view",
        "associate": "medperf_git.cli.model:associate",
        "submit": "medperf_git.cli.model:submit",
    }),
    "dataset": ("Prepare, list, submit, associate, check, export and import datasets.", {
        "ls": "medperf_git.cli.dataset:ls",
        "view": "medperf_git.cli.dataset:view",
        "create": "medperf_git.cli.dataset:create",
        "submit": "medperf_git.cli.dataset:submit",
        "associate": "medperf_git.cli.dataset:associate",
        "check": "medperf_git.cli.dataset:check",
        "prepare": "medperf_git.cli.dataset:prepare",
        "set-operational": "medperf_git.cli.dataset:set_operational",
        "export": "medperf_git.cli.dataset:export",
        "import": "medperf_git.cli.dataset:import_",
    }),
    "association": ("List, approve, reject and revoke benchmark associations.", {
        "ls": "medperf_git.cli.association:ls",
        "approve": "medperf_git.cli.association:approve",
        "reject": "medperf_git.cli.association:reject",
        "set-priority": "medperf_git.cli.association:set_priority",
        "revoke": "medperf_git.cli.association:revoke",
    }),
    "result": ("Run one model (create), list, view and submit results.", {
        "ls": "medperf_git.cli.result:ls",
        "view": "medperf_git.cli.result:view",
        "submit": "medperf_git.cli.result:submit",
        "create": "medperf_git.cli.result:create",
        "show-local-results": "medperf_git.cli.result:show_local_results",
        "reencrypt": "medperf_git.cli.result:reencrypt",
    }),
    "person": ("Register yourself in a registry.", {
        "register": "medperf_git.cli.person:register",
    }),
    "submission": ("Your submissions (pull requests to the registry).", {
        "ls": "medperf_git.cli.submission:ls",
        "show": "medperf_git.cli.submission:show",
        "withdraw": "medperf_git.cli.submission:withdraw",
        "renumber": "medperf_git.cli.submission:renumber",
    }),
    "review": ("Submissions that await your approval.", {
        "ls": "medperf_git.cli.review:ls",
        "show": "medperf_git.cli.review:show",
        "approve": "medperf_git.cli.review:approve",
        "reject": "medperf_git.cli.review:reject",
    }),
    "test": ("Compatibility tests.", {
        "run": "medperf_git.cli.test:run",
        "ls": "medperf_git.cli.test:ls",
        "view": "medperf_git.cli.test:view",
    }),
    "ci": ("Entry points for a registry's CI.", {
        "check": "medperf_git.cli.ci:check",
        "bot": "medperf_git.cli.ci:bot",
        "settings": "medperf_git.cli.ci:settings",
    }),
    "auth": ("Sign in as a registered person (MedPerf's auth), or register.", {
        "login": "medperf_git.cli.auth:login",
        "logout": "medperf_git.cli.auth:logout",
        "status": "medperf_git.cli.auth:status",
    }),
    "storage": ("Where this machine keeps data: list, move to another disk, clean up.", {
        "ls": "medperf_git.cli.storage:ls",
        "move": "medperf_git.cli.storage:move",
        "cleanup": "medperf_git.cli.storage:cleanup",
    }),
    "hash": "medperf_git.cli.hash:hash_command",
    "site": ("Build the registry's static web site: leaderboards, records, charts.", {
        "build": "medperf_git.cli.site:build",
    }),
    "ui": "medperf_git.cli.ui:ui",
    "run": "medperf_git.cli.run:run",
}

# MedPerf's names for groups that are spelled differently here. A command spelled with underscores
# (MedPerf's `set_priority`) is also found under its dashed name (`set-priority`).
ALIASES = {"mlcube": "container"}
# MedPerf's groups whose commands are top-level commands here: `web-ui run` is `ui`.
REGROUPED = {"web-ui": {"run": "ui"}}

_TRAINING = ("federated training has no meaning in medperf-git, which benchmarks models where the data is; "
             "use `medperf-git benchmark run`")
_PRIVATE = ("private (encrypted) models work differently here: register one with `medperf-git model submit "
            "--private-weights`, and release its key to an associated data owner with `medperf-git container "
            "grant-access`")
_PKI = ("medperf-git needs no certificates: every submission is a commit signed with your SSH key "
        "(`medperf-git auth login`, `medperf-git person register`)")
_UI = "the web UI's properties have no meaning here; run the local web app with `medperf-git ui`"
# MedPerf commands with no meaning here: each exits 2 with one line that says why and what to use.
UNSUPPORTED: dict[str, object] = {
    "training": _TRAINING,
    "aggregator": "aggregators serve federated training; " + _TRAINING.split("; ", 1)[1],
    "ca": _PKI,
    "certificate": _PKI,
    "confidential": ("confidential computing has no meaning here: data and models run on the data owner's own "
                     "machine; use `medperf-git benchmark run`"),
    "asset": ("file assets have no meaning here: a model is a container "
              "(`medperf-git model submit -m container_config.yaml`)"),
    "get_webui_properties": _UI,
    "dataset": {"train": _TRAINING},
    "auth": {"synapse_login": "synapse: resources have no meaning here; pin archives by their https:// URL"},
    "container": {name: _PRIVATE for name in ("auto_grant_access", "check_access", "revoke_user_access",
                                              "delete_keys")}
    | {"create": "there are no container templates; start from a container of the medperf-git repository's "
                 "examples/chestxray (a container_config.yaml, a Dockerfile and a project folder)"},
    "model": {name: _PRIVATE for name in ("grant_access", "auto_grant_access", "check_access",
                                          "revoke_user_access", "delete_keys")},
}


def _available(target: str) -> bool:
    module = target.split(":", 1)[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _entry_available(entry: object) -> bool:
    if isinstance(entry, tuple):
        return any(_entry_available(e) for e in entry[1].values())
    return _available(str(entry))


def _unsupported(name: str, why: str) -> click.Command:
    """A MedPerf command with no meaning here: whatever it is given, one line and exit 2."""

    def refuse() -> None:
        from medperf_git.errors import UsageError

        raise UsageError(f"`{name}`: {why}")

    return click.Command(name, callback=refuse, hidden=True, add_help_option=False, help=why,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def __init__(self, *args, lazy: dict[str, object] | None = None, unsupported: dict | None = None,
                 aliases: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}
        self.unsupported = unsupported or {}
        self.aliases = aliases or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(n for n, e in self.lazy.items() if _entry_available(e))
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        name = self.aliases.get(name, name)
        if name in self.commands:
            return self.commands[name]
        if name in REGROUPED and self.aliases:  # the root only
            group = click.Group(name, hidden=True, help=f"MedPerf's {name}: see the commands it names.")
            for child, target in REGROUPED[name].items():
                group.add_command(self.get_command(ctx, target), child)
            return group
        entry = self.lazy.get(name)
        why = self.unsupported.get(name)
        if entry is None and isinstance(why, str):
            return _unsupported(f"{ctx.command_path} {name}", why)
        if entry is None and "_" in name:
            return self.get_command(ctx, name.replace("_", "-"))
        if entry is None or not _entry_available(entry):
            return None
        if isinstance(entry, tuple):
            help_text, children = entry
            command: click.Command = LazyGroup(name=name, help=help_text, lazy=children,
                                               short_help=help_text.split(".")[0],
                                               unsupported=why if isinstance(why, dict) else None)
        else:
            module_name, attr = str(entry).split(":", 1)
            command = getattr(importlib.import_module(module_name), attr)
        self.commands[name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table for groups, so listing needs no imports at all.
        rows = []
        for name in self.list_commands(ctx):
            entry = self.lazy.get(name)
            if isinstance(entry, tuple):
                rows.append((name, entry[0].split(".")[0]))
            else:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit=70)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


PLATFORMS = ["docker", "singularity", "apptainer", "sandbox", "local", "auto"]
SAVES_PROFILES = ("profile", "auth", "person", "registry")
TIMEOUT = click.IntRange(min=1)


@click.group(cls=LazyGroup, lazy=COMMANDS, unsupported=UNSUPPORTED, aliases=ALIASES, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="medperf-git")
@click.option("--profile", "profile_name", metavar="NAME", envvar="MEDPERF_GIT_PROFILE",
              help="Use this profile for this command only.")
@click.option("--offline", is_flag=True, help="Use the local copy of the registry; do not fetch.")
@click.option("--platform", type=click.Choice(PLATFORMS),
              help="How containers run for this command (MedPerf's platform: docker or singularity; also sandbox, "
                   "local, auto).")
@click.option("--gpus", help="GPUs for containers for this command: all, a number, or device=0,1.")
@click.option("--shm-size", "--shm_size", "shm_size", metavar="SIZE", help="Shared memory for docker containers.")
@click.option("--prepare_timeout", "--prepare-timeout", type=TIMEOUT, help="Seconds the prepare task may run.")
@click.option("--sanity_check_timeout", "--sanity-check-timeout", type=TIMEOUT,
              help="Seconds the sanity_check task may run.")
@click.option("--statistics_timeout", "--statistics-timeout", type=TIMEOUT, help="Seconds the statistics task may run.")
@click.option("--infer_timeout", "--infer-timeout", type=TIMEOUT, help="Seconds the infer task may run.")
@click.option("--evaluate_timeout", "--evaluate-timeout", type=TIMEOUT, help="Seconds the evaluate task may run.")
@click.option("--loglevel", "--container-loglevel", "--container_loglevel", "loglevel", hidden=True,
              help="Accepted for MedPerf's scripts; medperf-git keeps every task's full log anyway.")
@click.option("--cleanup/--no-cleanup", default=True, hidden=True,
              help="Accepted for MedPerf's scripts; scratch folders are always removed.")
@click.pass_context
def cli(ctx: click.Context, profile_name: str | None, offline: bool, platform: str | None, gpus: str | None,
        shm_size: str | None, loglevel: str | None, cleanup: bool, **timeouts: int | None) -> None:
    """medperf-git: benchmark medical AI models on private data, with a Git registry.

    Data owners prepare data locally, publish only hashes, statistics and metrics, and never
    share the data itself. Start with `medperf-git benchmark ls`. The options after --offline
    override the profile for this command only, as MedPerf's do.
    """
    from medperf_git.cli._context import AppContext

    overrides = {"runner": platform, "gpus": gpus, "shm_size": shm_size,
                 "timeouts": {k.removesuffix("_timeout"): v for k, v in timeouts.items() if v}}
    overrides = {k: v for k, v in overrides.items() if v}
    if overrides and ctx.invoked_subcommand in SAVES_PROFILES:  # they would be saved with the profile
        raise click.UsageError(f"--platform, --gpus, --shm-size and the timeouts change how this command runs "
                               f"containers, and `{ctx.invoked_subcommand}` runs none; to change the profile, use "
                               "`profile set --platform ...`")
    ctx.obj = AppContext(profile_name=profile_name, offline=offline, overrides=overrides)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; the single place where errors become messages and exit codes."""
    from medperf_git.cli._errors import run_cli

    sys.exit(run_cli(cli, argv, prog_name=os.environ.get("MEDPERF_GIT_PROG", "medperf-git")))
