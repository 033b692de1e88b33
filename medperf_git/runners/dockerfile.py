"""What an image runs, read from where it is written: a Dockerfile's last stage, or an image's config.

MedPerf's configs often leave the command to the image (the metrics and model containers name it only in
their Dockerfile's ENTRYPOINT), so a runner without the image (sandbox, local) reads ENTRYPOINT, CMD,
WORKDIR and ENV from the Dockerfile, with Docker's rules: an ENTRYPOINT resets an inherited CMD, the
shell form runs under ``/bin/sh -c``, WORKDIR is relative to the previous one, and ``$VAR`` expands
from ARG and ENV. Settings inherited from a base image that is not built here are unknown, and said so.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medperf_git.errors import ContainerConfigInvalid

_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::[-+]([^}]*))?\}|(\w+))")
_DIRECTIVE = re.compile(r"^#\s*(\w+)\s*=\s*(\S+)\s*$")


@dataclass(frozen=True)
class ImageConfig:
    """The run settings of an image; ``None`` means "not set" (inherited, or the engine's default)."""

    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    workdir: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    base: str | None = None  # the FROM of the last stage, when it is not a stage of the same file
    source: str = "the image"  # where these settings were read, for messages

    def argv(self, entrypoint: list[str] | None, command: list[str] | None) -> list[str]:
        """Docker's rule: a given entrypoint drops the image's CMD; a given command replaces it."""
        entry = entrypoint if entrypoint is not None else (self.entrypoint or [])
        if command is not None:
            cmd = command
        elif entrypoint is not None:
            cmd = []
        else:
            cmd = self.cmd or []
        return [*entry, *cmd]

    @classmethod
    def from_image_config(cls, data: dict[str, Any], source: str) -> ImageConfig:
        """The ``config`` of an OCI or Docker image config JSON (Entrypoint, Cmd, WorkingDir, Env)."""
        conf = data.get("config") or {}
        env = {}
        for item in conf.get("Env") or []:
            key, _, value = str(item).partition("=")
            env[key] = value
        return cls(entrypoint=_strings(conf.get("Entrypoint")), cmd=_strings(conf.get("Cmd")),
                   workdir=conf.get("WorkingDir") or None, env=env, source=source)


def _strings(value: Any) -> list[str] | None:
    return None if value is None else [str(v) for v in value]


def _logical_lines(text: str, escape: str) -> list[tuple[int, str]]:
    """(first line number, instruction) with continuations joined and comments dropped."""
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction is dropped, as Docker does
        if not current:
            start = number
        body = raw.rstrip()
        if body.endswith(escape):
            current.append(body[:-1])
            continue
        current.append(body)
        out.append((start, " ".join(part.strip() for part in current)))
        current = []
    if current:
        out.append((start, " ".join(part.strip() for part in current)))
    return out


def _expand(value: str, variables: dict[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        return variables.get(name, match.group(2) or "")

    return _VARIABLE.sub(sub, value)


def _exec_or_shell(args: str) -> list[str]:
    """The JSON (exec) form as is; anything else is the shell form, run by ``/bin/sh -c``."""
    if args.startswith("["):
        try:
            parsed = json.loads(args)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            return parsed
    return ["/bin/sh", "-c", args]


def _pairs(args: str, legacy: bool) -> dict[str, str]:
    """``ENV a=1 b="x y"``, or the legacy ``ENV a some value`` (one key, the rest is its value)."""
    if legacy and "=" not in args.split(None, 1)[0]:
        key, _, value = args.partition(" ")
        return {key: value.strip()}
    out = {}
    for token in shlex.split(args, posix=True):
        key, _, value = token.partition("=")
        out[key] = value
    return out


def parse_dockerfile(path: str | Path) -> ImageConfig:
    """ENTRYPOINT, CMD, WORKDIR and ENV of a Dockerfile's last stage (stages it builds on included)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContainerConfigInvalid(f"{path}: cannot be read ({exc})",
                                     hint="give a local.entrypoint in the container config instead") from exc
    escape = "\\"
    for line in text.splitlines():
        found = _DIRECTIVE.match(line.strip())
        if not found:
            break
        if found.group(1).lower() == "escape":
            escape = found.group(2)
    global_args: dict[str, str] = {}
    stages: dict[str, ImageConfig] = {}
    stage: ImageConfig | None = None
    alias: str | None = None
    args: dict[str, str] = {}
    for number, line in _logical_lines(text, escape):
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            if not words:
                raise ContainerConfigInvalid(f"{path}:{number}: FROM names no image")
            image = _expand(words[0], global_args)
            alias = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
            inherited = stages.get(image.lower())
            stage = inherited if inherited else ImageConfig(base=image)
            args = {}
            if alias:
                stages[alias] = stage
            continue
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            target = global_args if stage is None else args
            target[name.strip()] = _expand(default.strip().strip('"'), {**global_args, **args})
            continue
        if stage is None:
            continue  # only ARG and parser directives may come before the first FROM
        variables = {**global_args, **args, **stage.env}
        if keyword == "ENV":
            pairs = {k: _expand(v, variables) for k, v in _pairs(rest, legacy=True).items()}
            stage = replace(stage, env={**stage.env, **pairs})
        elif keyword == "WORKDIR":
            target = _expand(rest.strip().strip('"'), variables)
            stage = replace(stage, workdir=posixpath.normpath(posixpath.join(stage.workdir or "/", target)))
        elif keyword == "ENTRYPOINT":
            stage = replace(stage, entrypoint=_exec_or_shell(rest), cmd=None)
        elif keyword == "CMD":
            stage = replace(stage, cmd=_exec_or_shell(rest))
        else:
            continue
        if alias:
            stages[alias] = stage  # later stages may build FROM this one
    if stage is None:
        raise ContainerConfigInvalid(f"{path}: has no FROM; it is not a Dockerfile",
                                     hint="give a local.entrypoint in the container config instead")
    return replace(stage, source=str(path))


def base_images(path: str | Path) -> list[tuple[str, bool]]:
    """Each FROM's image as written, and whether it comes from an ARG (so a build argument can replace it)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    stages: set[str] = set()
    out = []
    for _, line in _logical_lines(text, "\\"):
        keyword, _, rest = line.partition(" ")
        if keyword.upper() != "FROM":
            continue
        words = [w for w in rest.split() if not w.startswith("--")]
        if not words:
            continue
        if words[0].lower() not in stages:
            out.append((words[0], "$" in words[0]))
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2].lower())
    return out
