"""Shared look and text helpers for the plotly figures (never imports gradio).

Plotly renders titles, tick labels and hover text as a small HTML subset, so every piece of
user- or LLM-provided text goes through ``esc``/``short_label``/``wrap`` before it reaches a
figure: it then shows literally (``<b>`` stays ``<b>``) and cannot inject markup. Only ``<``,
``>`` and ``&`` are escaped: plotly does not decode ``&quot;``, so escaping quotes would show
the entity instead of the quote.

Titles and subtitles are wrapped at word boundaries (``wrap_markup``) to fit a half-page chart,
and the top margin grows with their line count, so long explanations are never cut off.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative

TEMPLATE = "plotly_white"
LABEL_CHARS = 24
PROMPT_LABEL_CHARS = 42
HOVER_WRAP = 70
TITLE_CHARS = 68  # a 17 px title line that fits a half-page (~650 px) chart
SUBTITLE_CHARS = 80  # a 12 px subtitle line that fits the same width
TITLE_FONT = 17
SUBTITLE_FONT = 12
STRATEGY_COLOURS = qualitative.T10
SUBTITLE_COLOUR = "#5f6b7a"
LABEL_COLOUR = "#f58518"
FLAG_COLOUR = "#111111"
SMALL_SAMPLE = 30
BOTTOM_LEGEND = {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.14, "yanchor": "top"}
NEEDS_LABELS = (
    "Needs labels: tell the app each image's true class<br>"
    "(for example, put the images in folders named after the classes) to see {what}."
)


def esc(text: object) -> str:
    """Text made safe for plotly's HTML-like labels: ``<``, ``>`` and ``&`` escaped, quotes kept."""
    return html.escape(str(text), quote=False)


def short_label(text: object, limit: int = LABEL_CHARS) -> str:
    """Escaped text cut to ``limit`` characters with an ellipsis (full text belongs in hover)."""
    raw = str(text)
    if len(raw) > limit:
        raw = raw[: max(limit - 1, 1)].rstrip() + "…"
    return esc(raw)


def wrap(text: object, width: int = HOVER_WRAP) -> str:
    """Escaped text wrapped onto several hover lines."""
    lines = textwrap.wrap(str(text), width) or [""]
    return "<br>".join(esc(line) for line in lines)


def probability_label(kind: str) -> str:
    """Honest name of a probability: softmax ones compete, sigmoid ones are per class."""
    if kind == "sigmoid":
        return "sigmoid probability (independent per class)"
    return "softmax probability"


def strategy_colour(index: int) -> str:
    """Colour of the ``index``-th strategy, consistent across figures."""
    return STRATEGY_COLOURS[index % len(STRATEGY_COLOURS)]


_TAG = re.compile(r"<[^>]*>")
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def visible_length(markup: str) -> int:
    """Characters a reader sees in plotly markup: tags count 0, an entity such as ``&lt;`` 1."""
    return len(_ENTITY.sub("x", _TAG.sub("", markup)))


def wrap_markup(markup: str, width: int) -> str:
    """Plotly markup re-wrapped at spaces into ``<br>``-separated lines of at most ``width`` visible
    characters (a longer single word keeps its own line); existing ``<br>`` breaks are kept.

    Breaks fall only at spaces, never inside a tag or an entity.
    """
    lines: list[str] = []
    for paragraph in _BREAK.split(markup):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and visible_length(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return "<br>".join(lines)


def line_count(markup: str | None) -> int:
    """Lines of an already wrapped piece of markup (0 for none)."""
    return 0 if not markup else len(_BREAK.split(markup))


def title(text: str, subtitle: str | None = None) -> dict[str, Any]:
    """A left-aligned layout title with an optional explanatory subtitle (both already escaped).

    Both are wrapped to fit a half-page chart and pinned to the top of the figure, so the
    subtitle grows downwards into the room ``top_margin`` makes for it.
    """
    spec: dict[str, Any] = {
        "text": wrap_markup(text, TITLE_CHARS),
        "x": 0.01,
        "xanchor": "left",
        "yref": "container",
        "y": 1.0,
        "yanchor": "top",
        "pad": {"t": 14},
        "font": {"size": TITLE_FONT},
    }
    if subtitle:
        spec["subtitle"] = {
            "text": wrap_markup(subtitle, SUBTITLE_CHARS),
            "font": {"size": SUBTITLE_FONT, "color": SUBTITLE_COLOUR},
        }
    return spec


def top_margin(subtitle: str | None, heading: str | None = None) -> int:
    """Room above the plot for the (wrapped) title and each (wrapped) subtitle line."""
    title_lines = max(line_count(wrap_markup(heading, TITLE_CHARS)) if heading else 1, 1)
    subtitle_lines = line_count(wrap_markup(subtitle, SUBTITLE_CHARS)) if subtitle else 0
    return 28 + 22 * title_lines + (8 + 16 * subtitle_lines if subtitle_lines else 0)


def category_axis(labels: Sequence[object], axis_title: str, limit: int = LABEL_CHARS) -> dict[str, Any]:
    """A numeric axis labelled with truncated names, so duplicate or long names never merge."""
    return {
        "title": {"text": axis_title},
        "tickmode": "array",
        "tickvals": list(range(len(labels))),
        "ticktext": [short_label(label, limit) for label in labels],
        "showgrid": False,
        "zeroline": False,
        "automargin": True,
    }


def grid_height(rows: int, extra: int = 220) -> int:
    """Figure height for ``rows`` rows of cells or bars: roomy for few, compact for many."""
    per_row = 40 if rows <= 8 else 28 if rows <= 20 else 20
    return int(min(max(extra + per_row * rows, 340), 1500))


def message_figure(heading: str, message: str) -> go.Figure:
    """An empty figure that explains why there is nothing to plot."""
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 15, "color": SUBTITLE_COLOUR},
    )
    fig.update_layout(
        template=TEMPLATE,
        title=title(heading),
        height=320,
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return fig


def cell_outline(col: int, row: int, colour: str, width: float = 2.5) -> dict[str, Any]:
    """A rectangle shape around one heatmap cell on numeric axes."""
    return {
        "type": "rect",
        "xref": "x",
        "yref": "y",
        "x0": col - 0.5,
        "x1": col + 0.5,
        "y0": row - 0.5,
        "y1": row + 0.5,
        "line": {"color": colour, "width": width},
        "fillcolor": "rgba(0,0,0,0)",
    }


def check_names(names: Sequence[object], expected: int, what: str) -> None:
    """ValueError unless ``names`` has one entry per row or column of the results."""
    if len(names) != expected:
        raise ValueError(f"{what} has {len(names)} entries but the results have {expected}.")


def apply_layout(fig: go.Figure, heading: str, subtitle: str | None, height: int) -> go.Figure:
    """The shared template, wrapped title and subtitle, margins and height."""
    fig.update_layout(
        template=TEMPLATE,
        title=title(heading, subtitle),
        height=height,
        margin={"t": top_margin(subtitle, heading), "l": 20, "r": 20, "b": 40},
        hoverlabel={"align": "left"},
    )
    return fig


def count_noun(n: int, noun: str) -> str:
    """"1 image", "3 images"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")
