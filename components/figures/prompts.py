"""Per-prompt views of one strategy: which prompts match which images, and why an image
got its class (best-matching prompts as bars)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from components.figures.style import (
    LABEL_COLOUR,
    NUMBER_CELL_PX,
    PROMPT_LABEL_CHARS,
    STRATEGY_LABEL_CHARS,
    apply_layout,
    category_axis,
    check_names,
    esc,
    fit_axis_title,
    fit_cell_text,
    grid_height,
    message_figure,
    probability_label,
    short_label,
    wrap,
)
from prompting.evaluation.export import top1_indices
from prompting.evaluation.results import StrategyResult

MIN_COSINE_SPAN = 0.05  # the narrowest cosine colour range of a prompt heatmap
PROMPT_MAX_HEIGHT = 1200
PROMPT_EXTRA = 230  # title, image axis and margins of a prompt heatmap, in px
MAX_PROMPT_TEXT_CELLS = 150
MAX_PROMPT_TEXT_COLUMNS = 8  # a half-page chart fits about 8 columns of "0.123"
MIN_TEXT_ROW_PX = 18


def prompt_cosines(result: StrategyResult, class_index: int) -> np.ndarray | None:
    """N x P per-prompt cosines for one class, or None when missing or misaligned."""
    if not 0 <= class_index < min(len(result.prompts), len(result.prompt_similarities)):
        return None
    sims = np.asarray(result.prompt_similarities[class_index], dtype=float)
    n = result.probabilities.shape[0]
    if sims.ndim != 2 or sims.shape != (n, len(result.prompts[class_index])):
        return None
    return sims


def _padded_range(low: float, high: float, min_span: float) -> tuple[float, float]:
    """``(low, high)``, widened about its centre to at least ``min_span``."""
    if high - low >= min_span:
        return low, high
    centre = (low + high) / 2
    return centre - min_span / 2, centre + min_span / 2


def shared_cosine_range(
    results: Iterable[StrategyResult] | Mapping[str, StrategyResult],
    class_index: int,
    min_span: float = MIN_COSINE_SPAN,
) -> tuple[float, float] | None:
    """One colour range for the prompt heatmaps of several strategies on the same class.

    The lowest and highest per-prompt cosine over all of them, widened about its centre to at
    least ``min_span`` so near-identical scores are not stretched over the whole colour scale.
    None when no strategy has per-prompt scores for the class.
    """
    values = results.values() if isinstance(results, Mapping) else results
    finite_values = [
        sims[np.isfinite(sims)] for result in values
        if (sims := prompt_cosines(result, class_index)) is not None
    ]
    finite_values = [array for array in finite_values if array.size]
    if not finite_values:
        return None
    low = min(float(array.min()) for array in finite_values)
    high = max(float(array.max()) for array in finite_values)
    return _padded_range(low, high, min_span)


def _prompt_rows(rows: int) -> tuple[int, int, int, int]:
    """(figure height, row height, tick font size, label every k-th prompt) for ``rows`` prompts."""
    row_px: float
    if rows <= 40:
        height = grid_height(rows)
        row_px = 40 if rows <= 8 else 28 if rows <= 20 else 20
    else:
        row_px = max((PROMPT_MAX_HEIGHT - PROMPT_EXTRA) / rows, 1.0)
        height = PROMPT_MAX_HEIGHT
    font = 12 if row_px >= 20 else 10 if row_px >= 13 else 9
    step = max(int(np.ceil(10 / row_px)), 1)
    return height, int(row_px), font, step


def prompt_heatmap(
    result: StrategyResult,
    class_index: int,
    image_names: Sequence[str],
    class_name: str | None = None,
    zrange: tuple[float, float] | None = None,
) -> go.Figure:
    """Prompts (rows, best average first) x images: which templates/descriptors match the images.

    ``zrange`` fixes the colour scale (pass ``shared_cosine_range`` of the strategies shown side
    by side so their colours compare); without it the figure's own cosines set it, widened to at
    least ``MIN_COSINE_SPAN``. Tall heatmaps are capped at ``PROMPT_MAX_HEIGHT`` with smaller
    labels (every k-th prompt labelled when rows get very thin) and cell numbers only where
    cells are big enough to hold them.
    """
    n = result.probabilities.shape[0]
    check_names(image_names, n, "image_names")
    name = class_name if class_name is not None else f"class {class_index + 1}"
    strategy = short_label(result.label, STRATEGY_LABEL_CHARS)
    heading = f"{strategy}: which prompts for “{short_label(name, 40)}” match each image?"
    sims = prompt_cosines(result, class_index)
    if sims is None or sims.size == 0:
        return message_figure(heading, "No per-prompt scores for this class and strategy.")
    prompts = result.prompts[class_index]
    means = sims.mean(axis=0)
    order = np.argsort(-means, kind="stable")
    z = sims[:, order].T
    image_means = sims.mean(axis=1)
    hover = [
        [
            f"<b>prompt {rank + 1} of {len(prompts)}</b> (average cosine {means[p]:.4f})<br>"
            f"{wrap(prompts[p])}<br>image: {esc(image_names[i])}<br>cosine: {z[rank, i]:.4f} "
            f"({z[rank, i] - image_means[i]:+.4f} vs this image's average over prompts)"
            for i in range(n)
        ]
        for rank, p in enumerate(order)
    ]
    rows = len(order)
    height, row_px, font, step = _prompt_rows(rows)
    subtitle = "Colour = cosine similarity of each prompt with each image (higher = closer); hover for full prompts."
    if zrange is not None:
        low, high = float(zrange[0]), float(zrange[1])
        subtitle += f"<br>Colour scale shared with the strategy beside it: cosine {low:.3f} to {high:.3f}."
    else:
        finite_z = z[np.isfinite(z)]
        own_low, own_high = (float(finite_z.min()), float(finite_z.max())) if finite_z.size else (0.0, 1.0)
        low, high = _padded_range(own_low, own_high, MIN_COSINE_SPAN)
        if own_high - own_low < MIN_COSINE_SPAN:
            subtitle += (
                f"<br>All cosines lie within {own_high - own_low:.3f} of each other; the colour scale spans "
                f"{MIN_COSINE_SPAN:.2f} so tiny differences do not look large."
            )
    fits_text = z.size <= MAX_PROMPT_TEXT_CELLS and n <= MAX_PROMPT_TEXT_COLUMNS and row_px >= MIN_TEXT_ROW_PX
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(n)),
            y=list(range(rows)),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            texttemplate="%{z:.3f}" if fits_text else None,
            textfont={"size": 10},
            xgap=1,
            ygap=1 if row_px >= 6 else 0,
            colorscale="Viridis",
            zmin=low,
            zmax=high,
            colorbar={"title": {"text": "cosine"}, "thickness": 14},
        )
    )
    labelled = list(range(0, rows, step))
    prompt_axis = category_axis([prompts[order[r]] for r in labelled], "prompt (best average at top)",
                                PROMPT_LABEL_CHARS)
    fig.update_layout(
        xaxis=category_axis(image_names, "image"),
        yaxis={
            **prompt_axis,
            "tickvals": labelled,
            "autorange": "reversed",
            "tickfont": {"size": font},
        },
    )
    if step > 1:
        subtitle += f"<br>{rows} prompts: every {_ordinal(step)} one is labelled; hover any row for its text."
    return fit_cell_text(apply_layout(fig, heading, subtitle, height), NUMBER_CELL_PX)


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def descriptor_bars(
    result: StrategyResult,
    image_index: int,
    class_index: int,
    top: int = 10,
    image_name: str | None = None,
    class_name: str | None = None,
) -> go.Figure:
    """The prompts/descriptors of one class that best match one image, as sorted bars."""
    image = image_name if image_name is not None else f"image {image_index + 1}"
    name = class_name if class_name is not None else f"class {class_index + 1}"
    predicted = int(top1_indices(result)[image_index]) == class_index
    strategy = short_label(result.label, STRATEGY_LABEL_CHARS)
    image, name = short_label(image, 40), short_label(name, 40)
    if predicted:
        heading = f"{strategy}: why “{image}” was classified as “{name}”"
    else:
        heading = f"{strategy}: how “{image}” matches “{name}” (not its top class)"
    sims = prompt_cosines(result, class_index)
    if sims is None or sims.shape[1] == 0:
        return message_figure(heading, "No per-prompt scores for this class and strategy.")
    prompts = result.prompts[class_index]
    row = sims[image_index]
    order = np.argsort(-row, kind="stable")[: max(top, 1)]
    values = row[order]
    score = float(result.similarities[image_index, class_index])
    probability = float(result.probabilities[image_index, class_index])
    hover = [
        f"<b>prompt {rank + 1} of {len(prompts)}</b><br>{wrap(prompts[p])}<br>cosine: {row[p]:.4f}"
        for rank, p in enumerate(order)
    ]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=list(range(len(order))),
            orientation="h",
            marker_color="#4c78a8",
            text=[f"{v:.3f}" for v in values],
            textposition="outside",
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    fig.add_vline(
        x=score,
        line={"dash": "dash", "color": LABEL_COLOUR},
        annotation_text=f"class score {score:.3f}",
        annotation_position="top",
    )
    low, high = min(0.0, float(values.min()), score), max(0.0, float(values.max()), score)
    fig.update_layout(
        # room for the value labels drawn outside both ends of the bars
        xaxis={"range": [low - (0.18 if low < 0 else 0.05) * (high - low or 1), high + 0.18 * (high - low or 1)]},
        yaxis={**category_axis([prompts[p] for p in order], "", PROMPT_LABEL_CHARS), "autorange": "reversed"},
        showlegend=False,
    )
    shown = f"top {len(order)} of {len(prompts)}" if len(order) < len(prompts) else f"all {len(prompts)}"
    subtitle = (
        f"Best-matching prompts ({shown}); dashed line = the class's overall score. "
        f"{probability_label(result.probability_kind).capitalize()} of this class: {probability:.2f}."
    )
    apply_layout(fig, heading, subtitle, grid_height(len(order), extra=160))
    return fit_axis_title(fig, "xaxis", "cosine similarity with the image (higher = closer match)")
