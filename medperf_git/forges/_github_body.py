"""Pull request bodies and bot comments, rendered from the jinja2 templates shipped as package data.

What the forge needs to read back (kind, author, base) rides in a hidden HTML comment, so the
visible text is free to change; a marker comment tells the forge's own comments from people's.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

BODY_MARK = "medperf-git:submission"
EVENT_MARK = "medperf-git:event"
BOT_MARK = "medperf-git:bot"
APPROVAL_MARK = "medperf-git:approval"
MAX_BODY = 60_000  # characters; GitHub refuses bodies over 65,536
_HIDDEN = re.compile(r"<!--\s*(medperf-git:[a-z]+)\s*(\{.*?\})?\s*-->", re.S)


def marker(mark: str, data: dict[str, Any] | None = None) -> str:
    payload = json.dumps(data, sort_keys=True).replace("--", "\\u002d\\u002d") if data else ""
    return f"<!-- {mark} {payload} -->".replace("  ", " ")


def read_marker(text: str | None, mark: str) -> dict[str, Any] | None:
    """The data of the first ``mark`` marker in ``text``; None when there is none."""
    for found in _HIDDEN.finditer(text or ""):
        if found.group(1) == mark:
            try:
                data = json.loads(found.group(2) or "{}")
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None


def render(template: str, **context: Any) -> str:
    import jinja2

    source = resources.files("medperf_git").joinpath("data", "github", "templates", template).read_text()
    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True, trim_blocks=False,
                             undefined=jinja2.StrictUndefined)
    return env.from_string(source).render(**context)


def pr_body(*, kind: str, author: str, base: str, head: str = "", number: int | None = None,
            records: list[tuple[str, str]] | None = None, findings: list | None = None,
            compat: list[str] | None = None, approvers: list[str] | None = None,
            contents: dict[str, str] | None = None) -> str:
    mark = marker(BODY_MARK, {"kind": kind, "author": author, "base": base, "head": head})
    return render("pr_body.md.j2", marker=mark, kind=kind, author=author, number=number, records=records or [],
                  findings=findings, compat=compat or [], approvers=approvers or [], contents=contents or {})


def event_comment(kind: str, by: str, text: str, **data: Any) -> str:
    return f"{marker(EVENT_MARK, {'type': kind, 'by': by, **data})}\n{text}\n"


def cut(text: str, link: str, limit: int = MAX_BODY) -> str:
    """``text`` kept under ``limit`` characters: whole lines, an open code block or details closed, then a
    line saying where the full text is. The hidden marker, on the first line, always stays."""
    if len(text) <= limit:
        return text
    tail = f"\n\n**Cut here: this text is longer than GitHub allows.** The full text: {link}\n"
    kept = text[:limit - len(tail) - 32].rsplit("\n", 1)[0]
    if kept.count("```") % 2:
        kept += "\n```"
    if kept.count("<details>") > kept.count("</details>"):
        kept += "\n\n</details>"
    return kept + tail
