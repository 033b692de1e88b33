"""The local workspace under ``$MEDPERF_GIT_HOME``: profiles, clones, prepared data, executions."""

from medperf_git.workspace.atomic import atomic_write as atomic_write
from medperf_git.workspace.atomic import staged_dir as staged_dir
from medperf_git.workspace.config import Config as Config
from medperf_git.workspace.config import Profile as Profile
from medperf_git.workspace.workspace import Workspace as Workspace
from medperf_git.workspace.workspace import home_dir as home_dir
