"""What every command shares: the workspace and its registry session, made once and only when needed."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from medperf_git.workspace import Workspace


@dataclass
class AppContext:
    profile_name: str | None = None
    offline: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)  # the root's --platform, --gpus, timeouts
    _workspace: Workspace | None = field(default=None, repr=False)
    _session: object | None = field(default=None, repr=False)

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            from medperf_git.workspace import Workspace

            self._workspace = Workspace.load(self.profile_name, offline=self.offline)
            _override(self._workspace.profile, self.overrides)
        return self._workspace

    @property
    def session(self):
        """The command's one registry session (flows.session.RegistrySession); nothing is opened until used."""
        if self._session is None:
            from medperf_git.flows.session import RegistrySession

            self._session = RegistrySession(self.workspace)
            click.get_current_context().call_on_close(self._session.close)
        return self._session


def _override(profile, overrides: dict[str, Any]) -> None:
    """MedPerf's root options change the profile for this command only (never saved)."""
    for key, value in overrides.items():
        if key == "timeouts":
            profile.timeouts = {**profile.timeouts, **value}
        elif hasattr(profile, key):  # a setting this version's profiles know (shm_size may not be one)
            setattr(profile, key, value)


def pass_workspace(func):
    """Give a command the workspace as its first argument."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        app = ctx.find_object(AppContext) or AppContext()
        return func(app.workspace, *args, **kwargs)

    return wrapper


def pass_session(func):
    """Give a command the registry session as its first argument (one clone, one fetch per command)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        app = ctx.find_object(AppContext) or AppContext()
        return func(app.session, *args, **kwargs)

    return wrapper
