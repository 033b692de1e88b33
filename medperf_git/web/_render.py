"""One jinja2 environment for the site and the app, over the templates and assets shipped as package data."""

from __future__ import annotations

import datetime
import functools
import hashlib
import math
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup, escape

from medperf_git import __version__

PACKAGE = "medperf_git.web"


def number(value: Any) -> str:
    """A metric as people read it: four significant digits, integers as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.4e}"


def when(value: Any) -> str:
    """A UNIX time or an ISO timestamp as a short UTC date and time."""
    if isinstance(value, int | float):
        stamp = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
        return stamp.strftime("%Y-%m-%d %H:%M UTC")
    return str(value or "")


def link(ref: dict[str, Any] | None, root: str) -> Markup:
    """A link to another page of the site, or just its label when that record is not on main."""
    if not ref:
        return Markup("")
    label = escape(ref.get("label", ""))
    return Markup(f'<a href="{root}{escape(ref["key"])}.html">{label}</a>') if ref.get("key") else label


def commit_link(pub: dict[str, Any] | None, root: str) -> Markup:
    """The commit that published a record, linked to its page."""
    if not pub:
        return Markup('<span class="muted">not on main</span>')
    return Markup(f'<a href="{root}commits/{escape(pub["sha"])}.html" title="{escape(pub.get("subject", ""))}">'
                  f'{escape(pub["sha"][:12])}</a>')


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(jinja2.Environment):
    """``a.b`` on a mapping looks the key up first when ``b`` is no method of dict: what jinja2 answers
    too, without the AttributeError it raises and catches on every lookup (pages make 75 each)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


@functools.cache
def environment() -> jinja2.Environment:
    """Compiled once per process: templates are read from the package, never from the network."""
    env = _Environment(loader=jinja2.PackageLoader(PACKAGE, "templates"),
                             autoescape=jinja2.select_autoescape(("html", "svg"), default_for_string=True),
                             trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters.update(num=number, when=when, short=lambda sha: str(sha or "")[:12], link=link, commit=commit_link)
    env.globals["version"] = __version__
    return env


def static_files() -> dict[str, bytes]:
    """The vendored CSS and JavaScript, by file name."""
    folder = resources.files(PACKAGE) / "static"
    return {item.name: item.read_bytes() for item in folder.iterdir() if item.is_file()}


@functools.cache
def design_digest(folder: str) -> str:
    """What every page of ``folder`` also depends on: the tool's version, its templates, the layout and assets."""
    digest = hashlib.sha256(__version__.encode())
    root = resources.files(PACKAGE) / "templates"
    items = [root / "layout.html", *sorted((p for p in (root / folder).iterdir() if p.is_file()), key=lambda p: p.name)]
    for item in items:
        digest.update(item.name.encode() + b"\0" + item.read_bytes())
    for name, data in sorted(static_files().items()):
        digest.update(name.encode() + b"\0" + data)
    return digest.hexdigest()
