"""What every command shares: the workspace, loaded once and only when a command needs it."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import click

from medperf_git.workspace import Workspace


@dataclass
class AppContext:
    profile_name: str | None = None
    offline: bool = False
    _workspace: Workspace | None = field(default=None, repr=False)

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            self._workspace = Workspace.load(self.profile_name, offline=self.offline)
        return self._workspace


def pass_workspace(func):
    """Give a command the workspace as its first argument."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        app = ctx.find_object(AppContext) or AppContext()
        return func(app.workspace, *args, **kwargs)

    return wrapper
