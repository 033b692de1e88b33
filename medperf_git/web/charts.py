"""Bar charts of a benchmark's metrics, drawn as SVG when the site is built (no script, no library).

Bars take their colours from CSS classes and text uses ``currentColor``, so the page's stylesheet
makes one drawing readable in light and dark and in print; every bar also carries its value as
text, so nothing depends on telling colours apart.
"""

from __future__ import annotations

import math
import re
from html import escape
from typing import Any

from markupsafe import Markup

from medperf_git.web._render import number

ROW, GROUP, LABEL, PLOT, VALUE, TOP, AXIS = 18, 22, 230, 380, 70, 8, 26
MAX_BARS = 200
PALETTE_SIZE = 8
_RERUN = re.compile(r"-(\d+)$")


def _rerun(name: str) -> int:
    found = _RERUN.search(name or "")
    return int(found.group(1)) if found else 1


def latest(leaderboard: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest run of each model on each dataset, in the leaderboard's order."""
    best: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in leaderboard:
        pair = (row["model"]["id"], row["dataset"]["id"])
        if pair not in best or _rerun(row["result"]) > _rerun(best[pair]["result"]):
            best[pair] = row
    return list(best.values())


def _axis(low: float, high: float) -> tuple[float, float, float]:
    """A range widened to round numbers, and a round step for about five ticks."""
    span = (high - low) or 1.0
    magnitude = 10 ** math.floor(math.log10(span / 5))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if span / (m * magnitude) <= 6)
    return math.floor(low / step) * step, math.ceil(high / step) * step or step, step


def _ticks(low: float, high: float, step: float) -> list[float]:
    count = round((high - low) / step)
    return [round(low + i * step, 12) for i in range(count + 1)]


def _clip(text: str, width: int = 34) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def bar_chart(metric: str, column: int, rows: list[dict[str, Any]], chart_id: str) -> Markup | None:
    """One metric by model (groups) and dataset (bars); None when no result has a value for it."""
    bars = [(r, r["values"][column]) for r in rows if not r["encrypted"] and r["values"][column] is not None]
    if not bars:
        return None
    left_out = max(0, len(bars) - MAX_BARS)
    bars = bars[:MAX_BARS]
    low, high, step = _axis(min(0.0, *(v for _, v in bars)), max(0.0, *(v for _, v in bars)))
    scale = PLOT / (high - low)
    zero = LABEL + (0 - low) * scale
    groups: dict[Any, list[tuple[dict[str, Any], float]]] = {}
    for row, value in bars:
        groups.setdefault(row["model"]["id"], []).append((row, value))
    colours: dict[Any, int] = {}
    parts: list[str] = []
    y = TOP
    for rows_of_model in groups.values():
        model = rows_of_model[0][0]["model"]["label"]
        parts.append(f'<text class="group" x="4" y="{y + 14}">model {escape(_clip(model, 60))}</text>')
        y += GROUP
        for row, value in rows_of_model:
            dataset = row["dataset"]
            colour = colours.setdefault(dataset["id"], len(colours) % PALETTE_SIZE)
            x0, x1 = sorted((zero, LABEL + (value - low) * scale))
            shown = number(value)
            label = f"dataset {dataset['label']}"
            title = f"{metric} of model {model} on {label}: {shown} (result {row['result']})"
            parts.append(
                f'<g><title>{escape(title)}'
                f'</title><text class="label" x="{LABEL - 6}" y="{y + 13}" text-anchor="end">'
                f'{escape(_clip(label))}</text><rect class="bar c{colour}" x="{x0:.1f}" y="{y + 3}" '
                f'width="{max(x1 - x0, 1):.1f}" height="{ROW - 5}"/><text class="value" x="{max(x1, zero) + 4:.1f}" '
                f'y="{y + 13}">{escape(shown)}</text></g>')
            y += ROW
    ticks = "".join(
        f'<line class="tick" x1="{LABEL + (t - low) * scale:.1f}" x2="{LABEL + (t - low) * scale:.1f}" y1="{TOP}" '
        f'y2="{y + 4}"/><text class="axis" x="{LABEL + (t - low) * scale:.1f}" y="{y + 18}" text-anchor="middle">'
        f'{escape(number(t))}</text>' for t in _ticks(low, high, step))
    height = y + AXIS
    best_row, best_value = max(bars, key=lambda item: item[1])
    desc = (f"{len(bars)} result{'s' if len(bars) != 1 else ''}; the highest, {number(best_value)}, is model "
            f"{best_row['model']['label']} on dataset {best_row['dataset']['label']}."
            + (f" {left_out} more are in the table only." if left_out else ""))
    width = LABEL + PLOT + VALUE
    svg = (f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">'
           f'<title id="{chart_id}-t">{escape(metric)} by model and dataset</title>'
           f'<desc id="{chart_id}-d">{escape(desc)}</desc>{ticks}'
           f'<line class="zero" x1="{zero:.1f}" x2="{zero:.1f}" y1="{TOP}" y2="{y + 4}"/>{"".join(parts)}</svg>')
    return Markup(svg)  # noqa: S704 - every text in it went through escape() above


def charts(context: dict[str, Any]) -> list[dict[str, Any]]:
    """A chart per metric column of a benchmark page's leaderboard."""
    rows = latest(context["leaderboard"])
    found = []
    for column, metric in enumerate(context["metrics"]):
        svg = bar_chart(metric, column, rows, f"chart-{column}")
        if svg is not None:
            found.append({"metric": metric, "svg": svg})
    return found
