"""Shared look and text helpers for the plotly figures (never imports gradio).

Plotly renders titles, tick labels and hover text as a small HTML subset, so every piece of
user- or LLM-provided text goes through ``esc``/``short_label``/``wrap`` before it reaches a
figure: it then shows literally (``<b>`` stays ``<b>``) and cannot inject markup. Only ``<``,
``>`` and ``&`` are escaped: plotly does not decode ``&quot;``, so escaping quotes would show
the entity instead of the quote.

Titles and subtitles are wrapped at word boundaries (``wrap_markup``) to fit a half-page chart,
and the top margin grows with their line count, so long explanations are never cut off. A chart
drawn narrower (a phone) has them wrapped again to its width in the browser: ``layout.meta.fit``
carries the unwrapped text for ``assets/fit_charts.js``, which the page and the report both run.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative

FIT_CHARTS_FILE = Path(__file__).resolve().parents[2] / "assets" / "fit_charts.js"
TEMPLATE = "plotly_white"
BASE_FONT = 12  # the template's own font size: ticks, legends, hover
LABEL_CHARS = 24
STRATEGY_LABEL_CHARS = 48  # a strategy's label with its model's name ("80-template ensemble · siglip-base-patch16-224")
PROMPT_LABEL_CHARS = 42
HOVER_WRAP = 70
TITLE_CHARS = 68  # a 17 px title line that fits a half-page (~650 px) chart
SUBTITLE_CHARS = 80  # a 12 px subtitle line that fits the same width
TITLE_FONT = 17
SUBTITLE_FONT = 12
AXIS_TITLE_FONT = 14
AXIS_TITLE_CHARS = 80
# The top margin: the title's padding, each title line, the subtitle's lines after a gap, then room
# above the plot. Plotly sets a large title's first line higher, so the padding grows with the font;
# it also lifts a title of several lines by ``TITLE_LIFT`` font sizes per extra line, which the
# padding gives back.
UNDER_TITLES, SUBTITLE_GAP, LINE_HEIGHT, TITLE_LIFT = 14, 8, 1.3, 0.37
STRATEGY_COLOURS = qualitative.T10
SUBTITLE_COLOUR = "#5f6b7a"
LABEL_COLOUR = "#f58518"
FLAG_COLOUR = "#111111"
SMALL_SAMPLE = 30
LEGEND_ROW = 20  # px per legend row
NUMBER_CELL_PX = 32  # heatmap cells narrower than this hide their numbers ("0.45", "0.123")
COUNT_CELL_PX = 18  # ... their counts ("3", "12")
AXIS_ROOM = 78  # px under the plot for the x-axis tick labels and title
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


@dataclass(frozen=True)
class TitleStyle:
    """Title and subtitle font sizes and the widths (characters) they are wrapped to; a line is
    1.3 font sizes tall."""

    title_font: int = TITLE_FONT
    subtitle_font: int = SUBTITLE_FONT
    title_chars: int = TITLE_CHARS
    subtitle_chars: int = SUBTITLE_CHARS

    @property
    def pad(self) -> int:
        return self.title_font - 3

    def pad_for(self, lines: int) -> int:
        """The title's top padding for a title of ``lines`` lines (see ``TITLE_LIFT``)."""
        return self.pad + max(lines - 1, 0) * self.lift

    @property
    def lift(self) -> int:
        return round(TITLE_LIFT * self.title_font)

    @property
    def title_line(self) -> int:
        return round(self.title_font * LINE_HEIGHT)

    @property
    def subtitle_line(self) -> int:
        return round(self.subtitle_font * LINE_HEIGHT)


HALF_PAGE = TitleStyle()
PRESENTATION = TitleStyle(title_font=30, subtitle_font=17, title_chars=70, subtitle_chars=120)
PRESENTATION_FONT = 17  # everything else on a slide: ticks, legends, axis titles


def title(text: str, subtitle: str | None = None, style: TitleStyle = HALF_PAGE) -> dict[str, Any]:
    """A left-aligned layout title with an optional explanatory subtitle (both already escaped).

    Both are wrapped to ``style``'s widths (by default a half-page chart) and pinned to the top
    of the figure, so the subtitle grows downwards into the room ``top_margin`` makes for it.
    """
    wrapped = wrap_markup(text, style.title_chars)
    spec: dict[str, Any] = {
        "text": wrapped,
        "x": 0.01,
        "xanchor": "left",
        "yref": "container",
        "y": 1.0,
        "yanchor": "top",
        "pad": {"t": style.pad_for(line_count(wrapped))},
        "font": {"size": style.title_font},
    }
    if subtitle:
        spec["subtitle"] = {
            "text": wrap_markup(subtitle, style.subtitle_chars),
            "font": {"size": style.subtitle_font, "color": SUBTITLE_COLOUR},
        }
    return spec


def top_margin(subtitle: str | None, heading: str | None = None, style: TitleStyle = HALF_PAGE) -> int:
    """Room above the plot for the (wrapped) title and each (wrapped) subtitle line."""
    title_lines = max(line_count(wrap_markup(heading, style.title_chars)) if heading else 1, 1)
    subtitle_lines = line_count(wrap_markup(subtitle, style.subtitle_chars)) if subtitle else 0
    gap = SUBTITLE_GAP + style.subtitle_line * subtitle_lines if subtitle_lines else 0
    return UNDER_TITLES + style.pad + style.title_line * title_lines + gap


def fit_charts_script() -> str:
    """The browser function (``() => {...}``) that re-wraps titles for narrow charts (page and report)."""
    return FIT_CHARTS_FILE.read_text(encoding="utf-8")


def fit_meta(heading: str, subtitle: str | None = None, style: TitleStyle = HALF_PAGE) -> dict[str, Any]:
    """``layout.meta`` for re-wrapping the title and subtitle to a narrower chart in the browser:
    each text unwrapped with the width (characters) and font size it was wrapped for here, the
    parts of the top margin (``top_margin``), and the large (presentation) and compact (phone)
    type the chart can be switched to."""
    texts = {"title.text": {"text": heading, "chars": style.title_chars, "size": style.title_font}}
    if subtitle:
        texts["title.subtitle.text"] = {"text": subtitle, "chars": style.subtitle_chars, "size": style.subtitle_font}
    return {"fit": {"texts": texts, "margin": _margin_parts(style), "large": _type(PRESENTATION, PRESENTATION_FONT),
                    "compact": _type(HALF_PAGE, BASE_FONT)}}


def _type(style: TitleStyle, font: int) -> dict[str, Any]:
    """A type style the browser can switch a chart to (assets/fit_charts.js): the title block's
    margins, the chart's font, the title and subtitle sizes, and the axes' tick and title sizes."""
    axes = {f"{axis}.{part}": size for axis in ("xaxis", "yaxis")
            for part, size in (("tickfont.size", font - 1), ("title.font.size", font + 1))}
    return {"margin": _margin_parts(style), "font": font, "axes": axes,
            "sizes": {"title.text": style.title_font, "title.subtitle.text": style.subtitle_font}}


def _margin_parts(style: TitleStyle) -> dict[str, int]:
    """``top_margin``'s parts for the browser (assets/fit_charts.js)."""
    return {"base": UNDER_TITLES + style.pad, "title": style.title_line, "gap": SUBTITLE_GAP,
            "subtitle": style.subtitle_line, "pad": style.pad, "lift": style.lift}


def reserve_top(fig: go.Figure, px: int) -> go.Figure:
    """``px`` more room between the titles and the plot (for tick labels drawn on top), kept when
    the titles are re-wrapped or restyled. Call after ``apply_layout``."""
    meta = fig.layout.meta or fit_meta("")
    meta["fit"]["reserve_top"] = px
    fig.update_layout(margin={"t": (fig.layout.margin.t or 0) + px}, meta=meta)
    return fig


def restyle_title(fig: go.Figure, style: TitleStyle) -> go.Figure:
    """Set a figure's title and subtitle (as built by ``apply_layout``) in another style: new fonts,
    wrapping and top margin, and the browser's re-wrapping data to match."""
    fit = (fig.layout.meta or {}).get("fit", {})
    texts = fit.get("texts", {})
    heading = texts.get("title.text", {}).get("text", "")
    subtitle = texts.get("title.subtitle.text", {}).get("text")
    fresh = fit_meta(heading, subtitle, style)["fit"]
    top = top_margin(subtitle, heading, style) + fit.get("reserve_top", 0)
    fig.update_layout(title=title(heading, subtitle, style), margin={"t": top},
                      meta={"fit": {**fit, "margin": fresh["margin"], "texts": {**texts, **fresh["texts"]}}})
    return fig


def legend_below(fig: go.Figure, axis_room: int = AXIS_ROOM) -> go.Figure:
    """A horizontal legend under the x axis that never covers the axis title: pinned to the
    figure's bottom edge, with a bottom margin holding the axis and, at first, one legend entry
    per row; in the browser ``assets/fit_charts.js`` measures the drawn legend and sets the
    margin to fit it. Call after ``apply_layout``."""
    entries = sum(1 for trace in fig.data if trace.showlegend is not False)
    fig.update_layout(
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 0, "yanchor": "bottom", "yref": "container"},
        margin={"b": axis_room + LEGEND_ROW * entries},
    )
    meta = fig.layout.meta or fit_meta("")
    meta["fit"]["legend_below"] = axis_room
    fig.update_layout(meta=meta)
    return fig


def fit_cell_text(fig: go.Figure, min_width: int, narrow_text: list[list[str]] | None = None) -> go.Figure:
    """Let the browser hide a heatmap's cell text, or show ``narrow_text`` instead (shorter, same
    shape), while its cells are narrower than ``min_width`` px (a phone), and show it again when
    wider; hover keeps the full text. Call after ``apply_layout``."""
    template = fig.data[0].texttemplate
    if template:
        meta = fig.layout.meta or fit_meta("")
        meta["fit"]["cell_text"] = {"template": template, "min_width": min_width}
        if narrow_text is not None:
            meta["fit"]["cell_text"].update(text=[list(row) for row in fig.data[0].text], narrow_text=narrow_text)
        fig.update_layout(meta=meta)
    return fig


def fit_axis_title(fig: go.Figure, axis: str, text: str) -> go.Figure:
    """Give ``axis`` ("xaxis", "yaxis") the title ``text`` (escaped markup), re-wrapped like the
    chart title when the chart is drawn narrow. Call after ``apply_layout``."""
    fig.update_layout({axis: {"title": {"text": text}}})
    meta = fig.layout.meta or fit_meta("")
    path = f"{axis}.title.text"
    meta["fit"]["texts"][path] = {"text": text, "chars": AXIS_TITLE_CHARS, "size": AXIS_TITLE_FONT}
    meta["fit"]["large"]["sizes"][path] = PRESENTATION_FONT
    fig.update_layout(meta=meta)
    return fig


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
        meta=fit_meta(heading),
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
        meta=fit_meta(heading, subtitle),
        height=height,
        margin={"t": top_margin(subtitle, heading), "l": 20, "r": 20, "b": 40},
        hoverlabel={"align": "left"},
    )
    return fig


def count_noun(n: int, noun: str) -> str:
    """"1 image", "3 images"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")
