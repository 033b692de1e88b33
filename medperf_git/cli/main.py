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
    }),
    "container": ("List, view, run and submit containers.", {
        "ls": "medperf_git.cli.container:ls",
        "view": "medperf_git.cli.container:view",
        "run": "medperf_git.cli.container:run",
        "runners": "medperf_git.cli.container:runners",
        "submit": "medperf_git.cli.container:submit",
    }),
    "model": ("List and view models (containers with an infer task) and associate them.", {
        "ls": "medperf_git.cli.model:ls",
        "view": "medperf_git.cli.model:view",
        "associate": "medperf_git.cli.model:associate",
    }),
    "dataset": ("Prepare, list, submit, associate and check datasets.", {
        "ls": "medperf_git.cli.dataset:ls",
        "view": "medperf_git.cli.dataset:view",
        "create": "medperf_git.cli.dataset:create",
        "submit": "medperf_git.cli.dataset:submit",
        "associate": "medperf_git.cli.dataset:associate",
        "check": "medperf_git.cli.dataset:check",
    }),
    "association": ("List, approve, reject and revoke benchmark associations.", {
        "ls": "medperf_git.cli.association:ls",
        "approve": "medperf_git.cli.association:approve",
        "reject": "medperf_git.cli.association:reject",
        "set-priority": "medperf_git.cli.association:set_priority",
        "revoke": "medperf_git.cli.association:revoke",
    }),
    "result": ("List, view and submit results.", {
        "ls": "medperf_git.cli.result:ls",
        "view": "medperf_git.cli.result:view",
        "submit": "medperf_git.cli.result:submit",
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
    "hash": "medperf_git.cli.hash:hash_command",
    "site": ("Build the registry's static web site: leaderboards, records, charts.", {
        "build": "medperf_git.cli.site:build",
    }),
    "ui": "medperf_git.cli.ui:ui",
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


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def __init__(self, *args, lazy: dict[str, object] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(n for n, e in self.lazy.items() if _entry_available(e))
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        entry = self.lazy.get(name)
        if entry is None or not _entry_available(entry):
            return None
        if isinstance(entry, tuple):
            help_text, children = entry
            command: click.Command = LazyGroup(name=name, help=help_text, lazy=children,
                                               short_help=help_text.split(".")[0])
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


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="medperf-git")
@click.option("--profile", "profile_name", metavar="NAME", envvar="MEDPERF_GIT_PROFILE",
              help="Use this profile for this command only.")
@click.option("--offline", is_flag=True, help="Use the local copy of the registry; do not fetch.")
@click.pass_context
def cli(ctx: click.Context, profile_name: str | None, offline: bool) -> None:
    """medperf-git: benchmark medical AI models on private data, with a Git registry.

    Data owners prepare data locally, publish only hashes, statistics and metrics, and never
    share the data itself. Start with `medperf-git benchmark ls`.
    """
    from medperf_git.cli._context import AppContext

    ctx.obj = AppContext(profile_name=profile_name, offline=offline)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; the single place where errors become messages and exit codes."""
    from medperf_git.cli._errors import run_cli

    sys.exit(run_cli(cli, argv, prog_name=os.environ.get("MEDPERF_GIT_PROG", "medperf-git")))
