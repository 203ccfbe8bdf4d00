"""Which templates matter: ZPE's template weights, or AutoCLIP's for one image (or averaged over
the images), as horizontal bars with the equal-weight level marked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from components.figures.style import (
    LABEL_COLOUR,
    PROMPT_LABEL_CHARS,
    apply_layout,
    esc,
    grid_height,
    message_figure,
    short_label,
    wrap,
)
from prompting.evaluation.results import StrategyResult

TOP_TEMPLATES = 25
BAR_COLOUR = "#4c78a8"
NO_WEIGHTS = (
    "Tick ZPE or AutoCLIP under <i>Strategies</i> and press Run:<br>their learnt template weights show here."
)


def weights_figure(result: StrategyResult | None, image_index: int | None = None,
                   image_names: Sequence[str] = (), top: int = TOP_TEMPLATES) -> go.Figure:
    """The ``top`` heaviest templates of a weighted strategy. AutoCLIP's weights are per image:
    ``image_index`` picks one, None averages them (hover shows each template's range)."""
    if result is None or result.prompt_weights is None:
        return message_figure("Template weights", NO_WEIGHTS)
    weights = np.asarray(result.prompt_weights, dtype=float)
    templates = list(result.weight_templates)
    count = len(templates)
    per_image = weights.ndim == 2
    spread = None
    if per_image and image_index is None:
        spread = (weights.min(axis=0), weights.max(axis=0))
        shown = weights.mean(axis=0)
        scope = f"averaged over {len(weights)} images"
    elif per_image:
        shown = weights[image_index]
        name = image_names[image_index] if image_index < len(image_names) else f"image {image_index + 1}"
        scope = f"for {esc(name)}"
    else:
        shown = weights
        scope = "one weight per template, learnt from all the run's images"
    order = np.argsort(-shown, kind="stable")[:top]
    uniform = 1.0 / count
    hover = []
    for index in order:
        lines = [wrap(templates[index]), f"weight {shown[index]:.4f} ({shown[index] / uniform:.2f}× equal)"]
        if spread is not None:
            lines.append(f"per image: {spread[0][index]:.4f} to {spread[1][index]:.4f}")
        hover.append("<br>".join(lines))
    figure = go.Figure(go.Bar(
        x=shown[order], y=list(range(len(order))), orientation="h", marker_color=BAR_COLOUR,
        hovertext=hover, hoverinfo="text", name="weight",
    ))
    figure.add_vline(x=uniform, line_dash="dash", line_color=LABEL_COLOUR,
                     annotation_text="equal weights", annotation_position="top right")
    heading = f"{esc(result.label)}: which templates matter"
    subtitle = (f"The {len(order)} heaviest of {count} templates, {scope}. Bars right of the dashed line count more "
                "than in a plain average.")
    figure.update_yaxes(
        tickmode="array", tickvals=list(range(len(order))),
        ticktext=[short_label(templates[index], PROMPT_LABEL_CHARS) for index in order],
        autorange="reversed", automargin=True,
    )
    figure.update_xaxes(title_text="weight", rangemode="tozero")
    return apply_layout(figure, heading, subtitle, grid_height(len(order)))
