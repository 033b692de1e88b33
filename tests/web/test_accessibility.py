"""Accessibility basics that need no browser: contrast of every colour pair the stylesheet uses, in light, dark
and print, a label for every form field of every template, and nothing loaded from another site."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "medperf_git" / "web"
CSS = (WEB / "static" / "style.css").read_text()


def _variables(block: str) -> dict[str, str]:
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", block))


def schemes() -> dict[str, dict[str, str]]:
    light = _variables(CSS.split("@media")[0])
    dark = {**light, **_variables(CSS.split("@media (prefers-color-scheme: dark)")[1].split("}\n}")[0])}
    printed = {**light, **_variables(CSS.split("@media print")[1].split("}\n  ")[0])}
    return {"light": light, "dark": dark, "print": printed}


def luminance(colour: str) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark", "print"])
def test_text_and_marks_have_enough_contrast(scheme):
    v = schemes()[scheme]
    for background in ("bg", "head", "code"):
        assert contrast(v["fg"], v[background]) >= 7, (scheme, background)
        for text in ("muted", "link", "ok", "warn", "bad"):
            assert contrast(v[text], v[background]) >= 4.5, (scheme, text, background)
    assert contrast(v["bg"], v["link"]) >= 4.5, scheme  # a button's label on its colour
    assert contrast(v["focus"], v["bg"]) >= 3, scheme
    if scheme != "print":  # printed bars are told apart by their black outline and their value
        for i in range(8):
            assert contrast(v[f"c{i}"], v["bg"]) >= 3, (scheme, f"c{i}")


def test_every_form_field_has_a_label():
    for path in sorted((WEB / "templates").rglob("*.html")):
        text = path.read_text()
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", text):
            if 'type="hidden"' in tag:
                continue
            field = re.search(r'id="([^"]+)"', tag)
            assert field, f"{path.name}: {tag} has no id for a label"
            ident = field.group(1)
            assert f'for="{ident}"' in text or "{{ id }}" in ident, f"{path.name}: no label for {ident}"


def test_nothing_is_loaded_from_another_site():
    for path in [*(WEB / "templates").rglob("*.html"), *(WEB / "static").iterdir()]:
        text = path.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path.name
        assert "@import" not in text and "url(http" not in text, path.name
