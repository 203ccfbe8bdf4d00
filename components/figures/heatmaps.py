"""Images x classes heatmaps of one strategy, with the prompts behind each cell on hover."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import plotly.graph_objects as go

from components.figures.prompts import prompt_cosines
from components.figures.style import (
    LABEL_COLOUR,
    NUMBER_CELL_PX,
    apply_layout,
    category_axis,
    cell_outline,
    check_names,
    esc,
    fit_cell_text,
    grid_height,
    message_figure,
    probability_label,
    wrap,
)
from prompting.evaluation.export import top1_indices
from prompting.evaluation.results import Comparison, StrategyResult

TOP_PROMPTS = 3
MAX_TEXT_CELLS = 300
CLASS_LIMIT = 30  # images x classes heatmaps and confusion matrices show at most this many classes
TOP_K_SHOWN = 5  # beyond CLASS_LIMIT, the heatmap keeps each image's top-k classes


def _top_prompts(result: StrategyResult, class_index: int, image_index: int) -> list[tuple[str, float]]:
    sims = prompt_cosines(result, class_index)
    if sims is None:
        return []
    row = sims[image_index]
    order = np.argsort(-row, kind="stable")[:TOP_PROMPTS]
    return [(result.prompts[class_index][p], float(row[p])) for p in order]


def _cell_hover(
    result: StrategyResult,
    i: int,
    j: int,
    image_names: Sequence[str],
    class_names: Sequence[str],
    labels: Sequence[int | None] | None,
) -> str:
    lines = [
        f"<b>{wrap(image_names[i])}</b>",
        f"class: <b>{wrap(class_names[j])}</b>",
        f"cosine similarity: {result.similarities[i, j]:.4f}",
        f"logit: {result.logits[i, j]:.3f}",
        f"{probability_label(result.probability_kind)}: {result.probabilities[i, j]:.3f}",
    ]
    label = None if labels is None else labels[i]
    if label is not None:
        mark = " (this cell)" if label == j else ""
        lines.append(f"true class: {esc(class_names[label])}{mark}")
    top = _top_prompts(result, j, i)
    if top:
        lines.append("best-matching prompts (cosine):")
        lines += [f"  {cosine:.4f}  {wrap(prompt)}" for prompt, cosine in top]
    return "<br>".join(lines)


def heatmap_classes(
    result: StrategyResult,
    labels: Sequence[int | None] | None = None,
    limit: int = CLASS_LIMIT,
    k: int = TOP_K_SHOWN,
) -> tuple[list[int], str | None]:
    """The class columns worth drawing for one strategy, and a note saying what was left out.

    Up to ``limit`` classes: all of them, no note. Beyond that: the union of every image's top-k
    classes plus the true classes, with k lowered from ``k`` until the union fits; if even each
    image's first choice plus the true classes is too many, the ``limit`` classes with the most
    true images, then the most (rank-weighted) top-k appearances. Indices come back sorted.
    """
    c = result.probabilities.shape[1]
    if c <= limit:
        return list(range(c)), None
    true_labels = [int(label) for label in labels or [] if label is not None]
    true = sorted(set(true_labels))
    top = result.predictions(min(k, c))
    for depth in range(min(k, c), 0, -1):
        union = set(top[:, :depth].ravel().tolist()) | set(true)
        if len(union) <= limit:
            rank = f"rank in some image's top {depth}" if depth > 1 else "are some image's top choice"
            also = " or are a true class" if true else ""
            return sorted(union), f"Showing the {len(union)} classes that {rank}{also}, of {c}."
    score = np.zeros(c)
    for depth in range(top.shape[1]):
        np.add.at(score, top[:, depth], top.shape[1] - depth)
    truth_counts = np.bincount(true_labels, minlength=c) if true_labels else np.zeros(c, dtype=int)
    order = sorted(range(c), key=lambda j: (-truth_counts[j], -score[j], j))
    shown = sorted(order[:limit])
    if true and len(true) > limit:
        why = "the most common true classes"
    elif true:
        why = "every true class and the classes ranked near the top most often"
    else:
        why = "the classes ranked near the top most often"
    return shown, f"Showing {limit} of {c} classes: {why}."


def similarity_heatmap(
    result: StrategyResult,
    image_names: Sequence[str],
    class_names: Sequence[str],
    value: Literal["probabilities", "similarities"] = "probabilities",
    labels: Sequence[int | None] | None = None,
) -> go.Figure:
    """Images (rows) x classes (columns) coloured by probability or cosine; true classes outlined.

    With more than ``CLASS_LIMIT`` classes only the columns chosen by ``heatmap_classes`` are
    drawn, and the subtitle says which.
    """
    n, c = result.probabilities.shape
    check_names(image_names, n, "image_names")
    check_names(class_names, c, "class_names")
    if labels is not None:
        check_names(labels, n, "labels")
    heading = f"{esc(result.label)}: how well each image matches each class"
    if n == 0 or c == 0:
        return message_figure(heading, "No images were scored.")
    if value == "probabilities":
        z = np.asarray(result.probabilities, dtype=float)
        colours = {"colorscale": "Blues", "zmin": 0.0, "zmax": 1.0}
        bar_title, cell_format = "probability", "%{z:.2f}"
        rows_rule = (
            "each row sums to 1 because the classes compete."
            if result.probability_kind == "softmax"
            else "each class is scored on its own, so a row need not sum to 1."
        )
        subtitle = f"Colour = {probability_label(result.probability_kind)}; {rows_rule}"
    elif value == "similarities":
        z = np.asarray(result.similarities, dtype=float)
        colours = {"colorscale": "Viridis"}
        bar_title, cell_format = "cosine", "%{z:.3f}"
        subtitle = "Colour = cosine similarity of image and class text; higher = closer match (compare within a row)."
    else:
        raise ValueError(f"value must be 'probabilities' or 'similarities', not {value!r}.")
    shown, note = heatmap_classes(result, labels)
    column = {j: position for position, j in enumerate(shown)}
    row_names = list(image_names)
    shapes = []
    if labels is not None and any(label is not None for label in labels):
        predicted = top1_indices(result)
        for i, label in enumerate(labels):
            if label is not None:
                if label in column:
                    shapes.append(cell_outline(column[label], i, LABEL_COLOUR))
                row_names[i] = f"{'✓' if predicted[i] == label else '✗'} {row_names[i]}"
        subtitle += "<br>Orange outline = true class; ✓/✗ = top prediction right/wrong."
    if note:
        over_all = f" Probabilities are over all {c} classes." if value == "probabilities" else ""
        subtitle += f"<br>{note}{over_all}"
    hover = [[_cell_hover(result, i, j, image_names, class_names, labels) for j in shown] for i in range(n)]
    m = len(shown)
    fig = go.Figure(
        go.Heatmap(
            z=z[:, shown],
            x=list(range(m)),
            y=list(range(n)),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            texttemplate=cell_format if n * m <= MAX_TEXT_CELLS and m <= 15 else None,
            textfont={"size": 11},
            xgap=1,
            ygap=1,
            colorbar={"title": {"text": bar_title}, "thickness": 14},
            **colours,
        )
    )
    fig.update_layout(
        xaxis=category_axis([class_names[j] for j in shown], "class"),
        yaxis={**category_axis(row_names, "image"), "autorange": "reversed"},
        shapes=shapes,
    )
    return fit_cell_text(apply_layout(fig, heading, subtitle, grid_height(n)), NUMBER_CELL_PX)


def comparison_heatmap(
    comparison: Comparison, key: str, value: Literal["probabilities", "similarities"] = "probabilities"
) -> go.Figure:
    """``similarity_heatmap`` of one result of a comparison, true classes outlined when known."""
    labels = [image.label for image in comparison.images]
    return similarity_heatmap(
        comparison.strategies[key], [image.name for image in comparison.images],
        [cls.display for cls in comparison.classes], value=value,
        labels=labels if any(label is not None for label in labels) else None,
    )
