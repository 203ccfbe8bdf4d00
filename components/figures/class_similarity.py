"""Class x class text-embedding similarity: which class names look alike to the model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from components.figures.style import (
    FLAG_COLOUR,
    apply_layout,
    category_axis,
    cell_outline,
    esc,
    grid_height,
    message_figure,
    short_label,
    wrap,
)

SIMILARITY_CLASS_LIMIT = 40  # class x class similarity heatmap


def _similarity_classes(
    sims: np.ndarray, flagged_pairs: Sequence[tuple[int, int, float]], limit: int
) -> list[int]:
    """Up to ``limit`` classes: those of the flagged pairs first, then of the most alike other pairs."""
    c = sims.shape[0]
    upper = np.triu_indices(c, k=1)
    order = np.argsort(-sims[upper], kind="stable")
    pairs = [(i, j) for i, j, _ in sorted(flagged_pairs, key=lambda pair: -pair[2])]
    pairs += [(int(upper[0][k]), int(upper[1][k])) for k in order]
    chosen: list[int] = []
    for i, j in pairs:
        for index in (i, j):
            if index not in chosen and len(chosen) < limit:
                chosen.append(index)
        if len(chosen) >= limit:
            break
    return sorted(chosen)


def class_similarity_heatmap(
    matrix: np.ndarray,
    class_names: Sequence[str],
    flagged_pairs: Sequence[tuple[int, int, float]],
    total_classes: int | None = None,
    strategy: str | None = None,
) -> go.Figure:
    """Class x class text-embedding cosine; the most confusable pairs outlined and annotated. The
    title names ``strategy``, the strategy whose prompts gave the class embeddings, when given.

    With more than ``SIMILARITY_CLASS_LIMIT`` classes only the classes of the flagged and then
    the most alike pairs are drawn. ``total_classes`` is the size of the full class list when the
    caller has already cut ``matrix`` down; either way the subtitle says how many are shown.
    """
    heading = "Which class names look alike to the model?"
    if strategy:
        heading = f"{esc(strategy)}: which class names look alike to the model?"
    c = len(class_names)
    sims = np.asarray(matrix, dtype=float)
    if sims.shape != (c, c):
        raise ValueError(f"matrix is {sims.shape} but there are {c} class names.")
    if c < 2:
        return message_figure(heading, "Needs at least two classes to compare.")
    for i, j, _ in flagged_pairs:
        if not (0 <= i < c and 0 <= j < c):
            raise ValueError(f"flagged pair ({i}, {j}) is outside the {c} classes.")
    total = max(total_classes or c, c)
    if c > SIMILARITY_CLASS_LIMIT:
        shown = _similarity_classes(sims, flagged_pairs, SIMILARITY_CLASS_LIMIT)
        position = {index: k for k, index in enumerate(shown)}
        flagged_pairs = [(position[i], position[j], cosine) for i, j, cosine in flagged_pairs
                         if i in position and j in position]
        sims = sims[np.ix_(shown, shown)]
        class_names = [class_names[index] for index in shown]
        c = len(shown)
    flagged = {(i, j) for i, j, _ in flagged_pairs} | {(j, i) for i, j, _ in flagged_pairs}
    z = sims.copy()
    np.fill_diagonal(z, np.nan)
    hover = [
        [
            "same class" if a == b else
            f"<b>{wrap(class_names[a])}</b> vs <b>{wrap(class_names[b])}</b><br>text cosine: {sims[a, b]:.3f}"
            + ("<br><b>flagged: easily confused</b>" if (a, b) in flagged else "")
            for b in range(c)
        ]
        for a in range(c)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(c)),
            y=list(range(c)),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            hoverongaps=False,
            colorscale="YlOrRd",
            xgap=1,
            ygap=1,
            colorbar={"title": {"text": "cosine"}, "thickness": 14},
        )
    )
    low, high = np.nanmin(z), np.nanmax(z)
    for i, j in sorted(flagged):
        dark = high > low and (sims[i, j] - low) / (high - low) > 0.6
        fig.add_shape(cell_outline(j, i, FLAG_COLOUR, width=2))
        fig.add_annotation(x=j, y=i, text=f"{sims[i, j]:.2f}", showarrow=False,
                           font={"size": 10, "color": "white" if dark else FLAG_COLOUR})
    fig.update_layout(
        xaxis=category_axis(class_names, ""),
        yaxis={**category_axis(class_names, ""), "autorange": "reversed"},
    )
    listed = sorted(flagged_pairs, key=lambda pair: -pair[2])[:3]
    subtitle = "Cosine similarity of the class names' text embeddings: high = the model may confuse them."
    if listed:
        subtitle += "<br>Outlined, most alike: " + "; ".join(
            f"{short_label(class_names[i])} ↔ {short_label(class_names[j])} ({cosine:.2f})"
            for i, j, cosine in listed
        )
    if total > c:
        subtitle += f"<br>Showing the {c} classes of the most alike pairs, of {total}."
    return apply_layout(fig, heading, subtitle, grid_height(c, extra=260))
