"""Reliability diagram: accuracy against confidence per bin, one line per strategy."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from components.figures.style import (
    STRATEGY_LABEL_CHARS,
    NEEDS_LABELS,
    SMALL_SAMPLE,
    apply_layout,
    count_noun,
    esc,
    fit_axis_title,
    legend_below,
    message_figure,
    short_label,
    strategy_colour,
)
from prompting.evaluation.export import finite
from prompting.evaluation.results import StrategyResult


def _bins(result: StrategyResult) -> list[dict]:
    reliability = (result.metrics or {}).get("reliability") or []
    return [
        b for b in reliability
        if (b.get("count") or 0) > 0 and finite(b.get("confidence")) is not None
        and finite(b.get("accuracy")) is not None
    ]


def labelled_image_count(result: StrategyResult) -> int | None:
    """Labelled images behind a result's metrics: ``n_images``, else the reliability bins' total."""
    metrics = result.metrics or {}
    n = finite(metrics.get("n_images"))
    if n is not None:
        return int(n)
    counts = [b.get("count") or 0 for b in metrics.get("reliability") or []]
    return int(sum(counts)) if counts else None


def reliability_diagram(results: dict[str, StrategyResult]) -> go.Figure:
    """Accuracy vs confidence per bin for each strategy; marker area ~ images in the bin.

    The legend gives each strategy's ECE in percent, as the tables do; with fewer than
    ``SMALL_SAMPLE`` images the subtitle warns that the bins are noisy.
    """
    heading = "Calibration: when a strategy is X% sure, is it right X% of the time?"
    binned = {name: _bins(result) for name, result in results.items()}
    if not any(binned.values()):
        return message_figure(heading, NEEDS_LABELS.format(what="calibration"))
    largest = max(b["count"] for bins in binned.values() for b in bins)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
            line={"dash": "dash", "color": "#9a9a9a"}, hoverinfo="skip",
        )
    )
    for index, (name, result) in enumerate(results.items()):
        bins = binned[name]
        if not bins:
            continue
        ece = finite((result.metrics or {}).get("ece"))
        ece_text = "ECE n/a" if ece is None else f"ECE {ece:.1%}"
        hover = [
            f"<b>{esc(result.label)}</b><br>confidence {b['lower']:.0%}–{b['upper']:.0%}: "
            f"{b['count']} image(s)<br>average confidence: {b['confidence']:.1%}<br>"
            f"actually correct: {b['accuracy']:.1%}<br>"
            f"gap: {b['accuracy'] - b['confidence']:+.1%} (negative = overconfident)"
            for b in bins
        ]
        fig.add_trace(
            go.Scatter(
                x=[b["confidence"] for b in bins],
                y=[b["accuracy"] for b in bins],
                mode="lines+markers",
                cliponaxis=False,
                name=f"{short_label(result.label, STRATEGY_LABEL_CHARS)} ({ece_text})",
                marker={"size": [8 + 22 * np.sqrt(b["count"] / largest) for b in bins],
                        "color": strategy_colour(index), "line": {"width": 1, "color": "white"}},
                line={"color": strategy_colour(index), "width": 1.5},
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    subtitle = (
        "Below the dashed line = overconfident. Bigger dot = more images. "
        "ECE = average gap between confidence and accuracy (lower is better)."
    )
    counts = [n for name, result in results.items() if binned[name] and (n := labelled_image_count(result)) is not None]
    if counts and max(counts) < SMALL_SAMPLE:
        subtitle += f"<br>Only {count_noun(max(counts), 'image')}: bins are noisy, so read the shape loosely."
    if any(result.probability_kind == "sigmoid" for result in results.values()):
        subtitle += "<br>Sigmoid models score classes independently; their calibration uses the softmax over logits."
    axis = {"range": [-0.03, 1.05], "tickformat": ".0%", "zeroline": False}
    fig.update_layout(xaxis=axis, yaxis={**axis, "title": {"text": "accuracy (share actually correct)"}})
    apply_layout(fig, heading, subtitle, 600)
    fit_axis_title(fig, "xaxis", "confidence (probability given to the predicted class)")
    return legend_below(fig)
