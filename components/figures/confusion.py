"""Confusion matrix of one strategy: where images of each true class end up."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from components.figures.heatmaps import CLASS_LIMIT
from components.figures.style import (
    COUNT_CELL_PX,
    NEEDS_LABELS,
    apply_layout,
    category_axis,
    esc,
    fit_cell_text,
    grid_height,
    message_figure,
    wrap,
)
from prompting.evaluation.metrics import dense_confusion
from prompting.evaluation.results import StrategyResult


def confusion_classes(counts: np.ndarray, limit: int = CLASS_LIMIT) -> tuple[list[int], str | None]:
    """Classes to draw in a C x C confusion matrix, and a note saying what was left out.

    Up to ``limit`` classes: all of them. Beyond: those that occur as a true or predicted class;
    if still too many, the ``limit`` classes involved in the most mistakes (then most images).
    """
    c = counts.shape[0]
    if c <= limit:
        return list(range(c)), None
    involved = counts.sum(axis=0) + counts.sum(axis=1)
    occurring = np.flatnonzero(involved > 0).tolist()
    if len(occurring) <= limit:
        return occurring, f"Showing the {len(occurring)} classes that occur as a true or predicted class, of {c}."
    mistakes = involved - 2 * np.diag(counts)
    order = sorted(occurring, key=lambda j: (-mistakes[j], -involved[j], j))
    return sorted(order[:limit]), (
        f"Showing the {limit} classes involved in the most mistakes, of {c} ({len(occurring)} occur in this data)."
    )


def confusion_matrix_figure(result: StrategyResult, class_names: Sequence[str]) -> go.Figure:
    """True (rows) x predicted (columns): colour = share of the true class, text = image counts.

    With more than ``CLASS_LIMIT`` classes only those chosen by ``confusion_classes`` are drawn;
    predictions of classes left out are summed in an "other classes" column, so rows still
    add up to 100%.
    """
    heading = f"{esc(result.label)}: where do images of each true class end up?"
    confusion = (result.metrics or {}).get("confusion")
    if confusion is None:
        return message_figure(heading, NEEDS_LABELS.format(what="the confusion matrix"))
    full = dense_confusion(confusion).astype(float)
    c = len(class_names)
    if full.shape != (c, c):
        raise ValueError(f"confusion is {full.shape} but there are {c} class names.")
    shown, note = confusion_classes(full)
    kept = np.asarray(shown, dtype=int)
    hidden = np.setdiff1d(np.arange(c), kept)
    counts = full[np.ix_(kept, kept)]
    columns = [class_names[j] for j in shown]
    other = full[np.ix_(kept, hidden)].sum(axis=1) if hidden.size else np.zeros(len(shown))
    if other.any():
        counts = np.column_stack([counts, other])
        columns.append(f"other classes ({hidden.size})")
    rows = [class_names[t] for t in shown]
    totals = full[shown].sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    m = len(columns)
    text = [[("" if m > 10 and v == 0 else str(int(v))) for v in row] for row in counts]
    hover = [
        [
            f"true: <b>{wrap(rows[t])}</b><br>predicted: <b>{wrap(columns[p])}</b><br>"
            f"{int(counts[t, p])} of {int(totals[t, 0])} image(s) = {share[t, p]:.0%}"
            + (" (correct)" if p < len(shown) and shown[p] == shown[t] else "")
            for p in range(m)
        ]
        for t in range(len(rows))
    ]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=list(range(m)),
            y=list(range(len(rows))),
            text=text,
            texttemplate="%{text}" if m <= 25 else None,
            textfont={"size": 11},
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            colorscale="Blues",
            zmin=0.0,
            zmax=1.0,
            xgap=1,
            ygap=1,
            colorbar={"title": {"text": "share of<br>true class"}, "tickformat": ".0%", "thickness": 14},
        )
    )
    fig.update_layout(
        xaxis=category_axis(columns, "predicted class"),
        yaxis={**category_axis(rows, "true class"), "autorange": "reversed"},
    )
    subtitle = "Numbers = image counts; colour = share of each true class (rows sum to 100%); diagonal = correct."
    if note:
        subtitle += f"<br>{note}"
    return fit_cell_text(apply_layout(fig, heading, subtitle, grid_height(len(rows), extra=260)), COUNT_CELL_PX)
