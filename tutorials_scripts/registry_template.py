#!/usr/bin/env python3
"""Read the tutorial registry's template (the repository's registry/ folder) for setup_data_tutorial.sh.

The set-up publishes every record of the template with the real commands; this script only tells it
what each record says: which ids and people there are, a field's value, which archive a placeholder
URL names, and a container's config and parameters as files for ``container submit``. It never
fills placeholders in: the commands produce those values (see registry/README.md for the scheme).
Needs PyYAML.

    python3 registry_template.py [--template DIR] [--tutorial DIR] ids containers
    python3 registry_template.py get benchmarks/1.yaml association_policy.models.mode --default never
    python3 registry_template.py --tutorial medperf_tutorial archive containers/2.yaml additional_files
    python3 registry_template.py container-files containers/1.yaml OUT_DIR
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "registry"

# The placeholders: valid values (the template passes lint as it is) that the set-up's commands replace.
TUTORIAL_TOKEN = "@MEDPERF_TUTORIAL@"  # with the slash before it: the tutorial folder's absolute path
VERSION_TOKEN = "@MEDPERF_GIT_VERSION@"  # the installed medperf-git's version
ZERO_SHA256 = "sha256:" + "0" * 64
ZERO_TREE = "tree-v1:" + ZERO_SHA256
ZERO_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"  # 32 zero bytes
ASSET_URL = re.compile(r"file:///" + TUTORIAL_TOKEN + r"/assets/(?P<name>[A-Za-z0-9_.-]+)")
ID_FOLDERS = ("containers", "benchmarks")


class TemplateError(Exception):
    """The template does not say what the set-up needs; the message names the file and field."""


def asset_name(url: str) -> str:
    """The archive that a placeholder URL names, ``file:///@MEDPERF_TUTORIAL@/assets/NAME`` -> NAME."""
    match = ASSET_URL.fullmatch(url)
    if match is None:
        raise TemplateError(f"{url!r} is not file:///{TUTORIAL_TOKEN}/assets/NAME, an archive the set-up builds")
    return match["name"]


def is_placeholder(value: Any) -> bool:
    """A zero hash or key, or text holding a token (compatibility-test values are placeholders by place)."""
    if value in (ZERO_SHA256, ZERO_TREE, ZERO_KEY):
        return True
    return isinstance(value, str) and (TUTORIAL_TOKEN in value or VERSION_TOKEN in value)


def load(template: Path, record: str) -> dict[str, Any]:
    path = template / record
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{path} does not hold a record")
    return data


_MISSING = object()


def field(data: dict[str, Any], dotted: str, default: Any = _MISSING, where: str = "") -> Any:
    """``a.b.0.c``: keys of maps and indexes of lists."""
    value: Any = data
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif default is not _MISSING:
            return default
        else:
            raise TemplateError(f"{where}: no field {dotted}")
    return value


def ids(template: Path, kind: str) -> list[str]:
    """Records in the order the set-up publishes them (model associations as ``BENCHMARK/MODEL``)."""
    if kind in ID_FOLDERS:
        found = sorted(int(p.stem) for p in (template / kind).glob("*.yaml") if p.stem.isdigit())
        if found != list(range(1, len(found) + 1)):
            raise TemplateError(f"{template / kind}: ids must run from 1 without gaps (the registry numbers them "
                                f"in the order they are published), not {found}")
        return [str(i) for i in found]
    if kind == "people":
        admins = field(load(template, "registry.yaml"), "admins", where="registry.yaml")
        handles = sorted(p.stem for p in (template / "people").glob("*.yaml"))
        missing = [h for h in admins if h not in handles]
        if missing:
            raise TemplateError(f"admins without a people record: {', '.join(missing)}")
        return list(admins) + [h for h in handles if h not in admins]
    if kind == "model-associations":
        out = []
        for path in sorted((template / "associations").glob("*/*.yaml")):
            match = re.fullmatch(r"model-(\d+)", path.stem)
            if match is None:
                raise TemplateError(f"{path}: the set-up publishes only model associations")
            out.append(f"{path.parent.name}/{match[1]}")
        return out
    raise TemplateError(f"unknown kind {kind!r}: containers, benchmarks, people or model-associations")


def show(value: Any) -> str:
    """A scalar as the shell wants it; a list one item a line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "\n".join(show(v) for v in value)
    if isinstance(value, dict):
        raise TemplateError("the field is a map; name a field inside it")
    return "" if value is None else str(value)


def archive(template: Path, tutorial: Path, record: str, name: str) -> str:
    """The local archive that the pin ``name`` of ``record`` stands for, or '' when it has none."""
    pin = field(load(template, record), name, None, record)
    if pin is None:
        return ""
    path = tutorial / "assets" / asset_name(field(pin, "url", where=f"{record}: {name}"))
    if not path.is_file():
        raise TemplateError(f"{record}: {name} names {path}, which the set-up did not build")
    return str(path)


def container_files(template: Path, record: str, out: Path) -> None:
    """container_config.yaml, and parameters.yaml when the record has parameters, as the record holds them."""
    data = load(template, record)
    out.mkdir(parents=True, exist_ok=True)
    (out / "container_config.yaml").write_text(yaml.safe_dump(field(data, "config", where=record), sort_keys=False),
                                               encoding="utf-8")
    (out / "parameters.yaml").unlink(missing_ok=True)
    if "parameters" in data:
        (out / "parameters.yaml").write_text(yaml.safe_dump(data["parameters"], sort_keys=False), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="the template folder (default: registry/)")
    parser.add_argument("--tutorial", type=Path, default=Path("medperf_tutorial"), help="the tutorial's folder")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ids").add_argument("kind")
    get = sub.add_parser("get")
    get.add_argument("record")
    get.add_argument("field")
    get.add_argument("--default")
    pin = sub.add_parser("archive")
    pin.add_argument("record")
    pin.add_argument("field")
    files = sub.add_parser("container-files")
    files.add_argument("record")
    files.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "ids":
            text = "\n".join(ids(args.template, args.kind))
        elif args.command == "get":
            default = _MISSING if args.default is None else args.default
            text = show(field(load(args.template, args.record), args.field, default, args.record))
        elif args.command == "archive":
            text = archive(args.template, args.tutorial.absolute(), args.record, args.field)
        else:
            container_files(args.template, args.record, args.out)
            return 0
    except (TemplateError, OSError) as exc:
        print(f"registry_template.py: {exc}", file=sys.stderr)
        return 1
    if text:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
