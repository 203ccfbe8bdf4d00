"""The presentation view: the headline and one large chart at a time, for a projector or a
stakeholder's screen (the page's Present tab and the report's Present mode; never imports gradio).

Slides follow the story a demo tells: how often each approach was right, on which images,
whether its confidence means anything, and how sure the best one was, image by image. Without
true classes only the answers can be shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

from components.figures.accuracy import accuracy_bars
from components.figures.calibration import reliability_diagram
from components.figures.heatmaps import comparison_heatmap
from components.figures.style import PRESENTATION, PRESENTATION_FONT, restyle_title
from components.figures.verdicts import verdict_grid
from prompting.evaluation.export import correct_counts
from prompting.evaluation.results import Comparison

SLIDE_MIN_HEIGHT = 640
HEATMAP = "heatmap:"


@dataclass(frozen=True)
class Slide:
    """One chart of the presentation: ``key`` names the figure, ``title`` is its menu entry."""

    key: str
    title: str


def best_strategy(comparison: Comparison) -> str:
    """The result that got the most labelled images right (the first one without true classes)."""
    labelled = [i for i, image in enumerate(comparison.images) if image.label is not None]
    if not labelled:
        return next(iter(comparison.strategies))
    return correct_counts(comparison, labelled)[1][0]


def slides(comparison: Comparison) -> list[Slide]:
    """The run's slides, in the order a demo tells them."""
    if not comparison.strategies or not comparison.images:
        return []
    labelled = any(result.metrics for result in comparison.strategies.values())
    best = best_strategy(comparison)
    shown = [Slide("images", "Which images each approach got right" if labelled else "What each approach answered")]
    if labelled:
        shown = [Slide("accuracy", "How often each approach was right"), *shown,
                 Slide("calibration", "Can its confidence be trusted?")]
    label = comparison.strategies[best].label
    return [*shown, Slide(HEATMAP + best, f"How sure “{label}” was, image by image")]


def slide_figure(comparison: Comparison, key: str) -> go.Figure:
    """The figure of slide ``key`` in large type."""
    if key == "accuracy":
        figure = accuracy_bars(comparison.strategies)
    elif key == "calibration":
        figure = reliability_diagram(comparison.strategies)
    elif key == "images":
        figure = verdict_grid(comparison)
    elif key.startswith(HEATMAP) and key[len(HEATMAP):] in comparison.strategies:
        figure = comparison_heatmap(comparison, key[len(HEATMAP):])
    else:
        raise ValueError(f"No slide '{key}' in this run.")
    return enlarge(figure)


def enlarge(figure: go.Figure) -> go.Figure:
    """A figure restyled for a projector: larger type everywhere, a title wrapped for the full
    width, and at least ``SLIDE_MIN_HEIGHT`` px tall."""
    restyle_title(figure, PRESENTATION)
    figure.update_layout(
        font={"size": PRESENTATION_FONT}, legend={"font": {"size": PRESENTATION_FONT}},
        hoverlabel={"font": {"size": PRESENTATION_FONT}},
        height=max(figure.layout.height or 0, SLIDE_MIN_HEIGHT),
    )
    figure.update_traces(textfont={"size": PRESENTATION_FONT - 1}, selector=lambda trace: "textfont" in trace)
    figure.update_xaxes(tickfont={"size": PRESENTATION_FONT - 1}, title_font={"size": PRESENTATION_FONT + 1})
    figure.update_yaxes(tickfont={"size": PRESENTATION_FONT - 1}, title_font={"size": PRESENTATION_FONT + 1})
    return figure
