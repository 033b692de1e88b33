"""A command is found by its name: `medperf-git G C` lives in `medperf_git/cli/G.py`."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from medperf_git.cli.main import COMMANDS

CLI = Path(__file__).resolve().parents[2] / "medperf_git" / "cli"


def targets() -> list[tuple[str, str, str]]:
    """(group or top-level command, command, "module:attribute") for every command in the root map."""
    found = []
    for name, entry in COMMANDS.items():
        children = entry[1] if isinstance(entry, tuple) else {name: entry}
        found += [(name, command, str(target)) for command, target in children.items()]
    return found


def test_every_command_lives_in_the_file_named_after_its_group():
    misplaced = [f"{name} {command}: {target}" for name, command, target in targets()
                 if target.split(":")[0] != f"medperf_git.cli.{name}"]
    assert not misplaced


def test_every_entry_is_the_command_of_that_name():
    for _, command, target in targets():
        module, attribute = target.split(":")
        found = getattr(importlib.import_module(module), attribute)
        assert isinstance(found, click.Command) and found.name == command, target


def test_every_public_module_is_a_group_or_a_command():
    public = {p.stem for p in CLI.glob("*.py") if not p.stem.startswith("_")} - {"main"}
    assert public == set(COMMANDS)
