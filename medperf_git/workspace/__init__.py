"""The local workspace under ``$MEDPERF_GIT_HOME``: profiles, clones, prepared data, executions."""

from medperf_git.workspace.atomic import atomic_write as atomic_write, staged_dir as staged_dir
from medperf_git.workspace.config import Config as Config, Profile as Profile
from medperf_git.workspace.workspace import Workspace as Workspace, home_dir as home_dir
