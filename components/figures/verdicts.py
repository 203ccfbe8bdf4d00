"""Which images each strategy got right: one row per image (with its thumbnail), one column per
strategy, green ✓ / red ✗ with the predicted class; without true classes, the answers only."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from components.figures.style import (
    apply_layout,
    category_axis,
    count_noun,
    esc,
    fit_cell_text,
    reserve_top,
)
from components.thumbnails import PAGE_SIZE, thumbnails
from prompting.evaluation.export import top1_indices
from prompting.evaluation.results import Comparison

RIGHT, WRONG, UNKNOWN = "#15803d", "#b91c1c", "#4b5563"  # white text on each passes WCAG AA
ROW_HEIGHT = 64
IMAGE_LIMIT = 12  # rows: one screen of a projector
PICTURE_COLUMN = -0.8  # the x position of the thumbnails, left of the first strategy (at 0)
PICTURE_WIDTH = 0.5  # in strategy columns
TOP_TICKS_PX = 30  # the strategies' names above the columns
CELL_FONT = 14  # 16 on a slide (components/presentation.py), which the cell width allows for
GLYPH_WIDTH, CELL_PADDING = 0.6, 8  # a cell narrower than its longest answer shows only ✓ / ✗


def verdict_grid(comparison: Comparison, limit: int = IMAGE_LIMIT) -> go.Figure:
    """Images x strategies: each cell the predicted class, green when right, red when wrong, grey
    without a true class; the first ``limit`` images, each with its thumbnail."""
    images = comparison.images[:limit]
    results = list(comparison.strategies.values())
    names = [cls.display for cls in comparison.classes]
    labelled = any(image.label is not None for image in images)
    predicted = np.stack([top1_indices(result)[: len(images)] for result in results], axis=1)
    state = np.array([[0.5 if image.label is None else float(k == image.label) for k in row]
                      for image, row in zip(images, predicted)])
    marks = [["" if image.label is None else "✓" if k == image.label else "✗" for k in row]
             for image, row in zip(images, predicted)]
    text = [[(mark + " " if mark else "") + esc(names[k]) for mark, k in zip(mark_row, row)]
            for mark_row, row in zip(marks, predicted)]
    fig = go.Figure(go.Heatmap(
        z=state, x=list(range(len(results))), y=list(range(len(images))), text=text, texttemplate="%{text}",
        customdata=text,
        textfont={"size": CELL_FONT, "color": "white"},
        colorscale=[[0, WRONG], [0.5, UNKNOWN], [1, RIGHT]], zmin=0, zmax=1, showscale=False, xgap=3, ygap=3,
        hovertemplate="%{customdata}<extra></extra>",
    ))
    pictures = thumbnails([image.path for image in images], PAGE_SIZE * 2)
    fig.update_layout(images=[
        {"source": uri, "xref": "x", "yref": "y", "x": PICTURE_COLUMN, "y": row, "sizex": PICTURE_WIDTH,
         "sizey": 0.9,
         "xanchor": "center", "yanchor": "middle", "layer": "above"}
        for row, uri in enumerate(pictures) if uri
    ])
    x_axis = category_axis([""] + [result.label for result in results], "", limit=28)
    x_axis.update(tickvals=[PICTURE_COLUMN, *range(len(results))], side="top",
                  range=[PICTURE_COLUMN - PICTURE_WIDTH / 2 - 0.05, len(results) - 0.5])
    rows = category_axis([image.name for image in images], "")
    if labelled:
        rows["ticktext"] = [f"{name}<br>is {esc(names[image.label])}" if image.label is not None else name
                            for name, image in zip(rows["ticktext"], images)]
    fig.update_layout(xaxis=x_axis, yaxis={**rows, "autorange": "reversed"})
    right = int((state == 1).sum())
    heading = "Which images each approach got right" if labelled else "What each approach answered"
    subtitle = (f"Green ✓ = right, red ✗ = wrong: {right} of {state.size} answers right." if labelled
                else "No true classes were given, so the answers cannot be marked right or wrong.")
    if len(comparison.images) > len(images):
        subtitle += f" The first {len(images)} of {count_noun(len(comparison.images), 'image')}."
    apply_layout(fig, heading, subtitle, 180 + ROW_HEIGHT * len(images))
    widest = max((len(names[k]) + 2 for row in predicted for k in row), default=0)
    fit_cell_text(fig, round(widest * (CELL_FONT + 2) * GLYPH_WIDTH) + CELL_PADDING, narrow_text=marks)
    return reserve_top(fig, TOP_TICKS_PX)
