"""Plotly figures built from plain comparison results (never imports gradio).

Every function returns a ``go.Figure``; when the data needed is missing (no labels, no
per-prompt scores, a single class) it returns a figure that says so instead of raising.
Names passed in are shown truncated on axes, in full (escaped) in hover text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go

from components.figure_style import (
    NEEDS_LABELS,
    PROMPT_LABEL_CHARS,
    TEMPLATE,
    category_axis,
    cell_outline,
    esc,
    grid_height,
    message_figure,
    probability_label,
    short_label,
    strategy_colour,
    title,
    top_margin,
    wrap,
)
from prompting.export import finite, seed_spread, top1_indices
from prompting.results import StrategyResult

TOP_PROMPTS = 3
MAX_TEXT_CELLS = 300
CLASS_LIMIT = 30  # images x classes heatmaps and confusion matrices show at most this many classes
TOP_K_SHOWN = 5  # beyond CLASS_LIMIT, the heatmap keeps each image's top-k classes
SIMILARITY_CLASS_LIMIT = 40  # class x class similarity heatmap
MIN_COSINE_SPAN = 0.05  # the narrowest cosine colour range of a prompt heatmap
PROMPT_MAX_HEIGHT = 1200
PROMPT_EXTRA = 230  # title, image axis and margins of a prompt heatmap, in px
MAX_PROMPT_TEXT_CELLS = 150
MAX_PROMPT_TEXT_COLUMNS = 8  # a half-page chart fits about 8 columns of "0.123"
MIN_TEXT_ROW_PX = 18
SMALL_SAMPLE = 30
LABEL_COLOUR = "#f58518"
FLAG_COLOUR = "#111111"
GROUP_WIDTH = 0.8  # the share of a category slot filled by its group of bars
INSIDE_LABEL_FROM = 0.15  # bars this tall carry their label inside, shorter ones above
ZERO_STUB = 0.006  # height of the stub that keeps a 0% bar visible
CHANCE_HALF_WIDTH = 0.45
SEED_COLOUR = "#222222"
BOTTOM_LEGEND = {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.14, "yanchor": "top"}
ACCURACY_METRICS = (
    ("top1", "Top-1 accuracy"),
    ("top5", "Top-5 accuracy"),
    ("mean_per_class_recall", "Mean per-class recall"),
)


def _check_names(names: Sequence[object], expected: int, what: str) -> None:
    if len(names) != expected:
        raise ValueError(f"{what} has {len(names)} entries but the results have {expected}.")


def _layout(fig: go.Figure, heading: str, subtitle: str | None, height: int) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title=title(heading, subtitle),
        height=height,
        margin={"t": top_margin(subtitle, heading), "l": 20, "r": 20, "b": 40},
        hoverlabel={"align": "left"},
    )
    return fig


def prompt_cosines(result: StrategyResult, class_index: int) -> np.ndarray | None:
    """N x P per-prompt cosines for one class, or None when missing or misaligned."""
    if not 0 <= class_index < min(len(result.prompts), len(result.prompt_similarities)):
        return None
    sims = np.asarray(result.prompt_similarities[class_index], dtype=float)
    n = result.probabilities.shape[0]
    if sims.ndim != 2 or sims.shape != (n, len(result.prompts[class_index])):
        return None
    return sims


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
    _check_names(image_names, n, "image_names")
    _check_names(class_names, c, "class_names")
    if labels is not None:
        _check_names(labels, n, "labels")
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
    return _layout(fig, heading, subtitle, grid_height(n))


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
    _check_names(image_names, n, "image_names")
    name = class_name if class_name is not None else f"class {class_index + 1}"
    heading = f"Which prompts for “{short_label(name, 40)}” match each image?"
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
    return _layout(fig, heading, subtitle, height)


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
    if predicted:
        heading = f"Why “{short_label(image, 40)}” was classified as “{short_label(name, 40)}”"
    else:
        heading = f"How “{short_label(image, 40)}” matches “{short_label(name, 40)}” (not its top class)"
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
        xaxis={"title": {"text": "cosine similarity with the image (higher = closer match)"},
               # room for the value labels drawn outside both ends of the bars
               "range": [low - (0.18 if low < 0 else 0.05) * (high - low or 1), high + 0.18 * (high - low or 1)]},
        yaxis={**category_axis([prompts[p] for p in order], "", PROMPT_LABEL_CHARS), "autorange": "reversed"},
        showlegend=False,
    )
    shown = f"top {len(order)} of {len(prompts)}" if len(order) < len(prompts) else f"all {len(prompts)}"
    subtitle = (
        f"Best-matching prompts ({shown}); dashed line = the class's overall score. "
        f"{probability_label(result.probability_kind).capitalize()} of this class: {probability:.2f}."
    )
    return _layout(fig, heading, subtitle, grid_height(len(order), extra=160))


def _bins(result: StrategyResult) -> list[dict]:
    reliability = (result.metrics or {}).get("reliability") or []
    return [
        b for b in reliability
        if (b.get("count") or 0) > 0 and finite(b.get("confidence")) is not None
        and finite(b.get("accuracy")) is not None
    ]


def _image_count(result: StrategyResult) -> int | None:
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
                name=f"{short_label(result.label, 32)} ({ece_text})",
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
    counts = [n for name, result in results.items() if binned[name] and (n := _image_count(result)) is not None]
    if counts and max(counts) < SMALL_SAMPLE:
        subtitle += f"<br>Only {_count(max(counts), 'image')}: bins are noisy, so read the shape loosely."
    if any(result.probability_kind == "sigmoid" for result in results.values()):
        subtitle += "<br>Sigmoid models score classes independently; their calibration uses the softmax over logits."
    axis = {"range": [-0.03, 1.05], "tickformat": ".0%", "zeroline": False}
    fig.update_layout(
        xaxis={**axis, "title": {"text": "confidence (probability given to the predicted class)"}},
        yaxis={**axis, "title": {"text": "accuracy (share actually correct)"}},
        legend=BOTTOM_LEGEND,
    )
    return _layout(fig, heading, subtitle, 580)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


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
    full = np.asarray(confusion, dtype=float)
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
    return _layout(fig, heading, subtitle, grid_height(len(rows), extra=260))


def _bar_geometry(slots: int) -> tuple[float, list[float]]:
    """(bar width, centre offsets) of ``slots`` bars side by side in a group of width 0.8."""
    slot = GROUP_WIDTH / slots
    return slot * 0.9, [-GROUP_WIDTH / 2 + (i + 0.5) * slot for i in range(slots)]


def _seed_line(result: StrategyResult, key: str) -> tuple[float, float, str] | None:
    """(per-seed mean, std, hover line) of a metric over several seeds, else None."""
    spread = seed_spread(result, key)
    if spread is None:
        return None
    mean, std, low, high, seeds = spread
    return mean, std, f"per-seed mean ± std: {mean:.1%} ± {std:.1%} over {seeds} seeds (range {low:.0%}–{high:.0%})"


def _value_hover(result: StrategyResult, key: str, name: str, value: float | None, seeded: bool) -> str:
    metrics = result.metrics or {}
    lines = [f"<b>{esc(result.label)}</b>"]
    if value is None:
        return "<br>".join(lines + [f"{name}: not available"])
    text = f"{name}: {value:.1%}"
    n = finite(metrics.get("n_images"))
    correct = finite(metrics.get("top1_correct"))
    if key == "top1" and n is not None and correct is not None:
        text += f" ({int(correct)} of {int(n)} images)"
    lines.append(text)
    interval = metrics.get("top1_interval")
    if key == "top1" and isinstance(interval, (list, tuple)) and len(interval) == 2:
        low, high = finite(interval[0]), finite(interval[1])
        if low is not None and high is not None:
            lines.append(f"95% interval: {low:.0%}–{high:.0%}")
    if seeded:
        lines.append("bar = all seeds' prompts pooled (the number in the table)")
    return "<br>".join(lines)


def accuracy_bars(results: dict[str, StrategyResult]) -> go.Figure:
    """Top-1, top-5 and mean per-class recall, one bar per strategy, with random-guessing lines.

    Bars are the same numbers as the tables (``metrics``; for WaffleCLIP all seeds' prompts
    pooled). Strategies with several seeds get a diamond with whiskers on their bar: the
    per-seed mean ± standard deviation. Labels are horizontal; a 0% bar shows a stub and "0%".
    """
    heading = "Accuracy by strategy (higher is better)"
    rows = [(index, result) for index, result in enumerate(results.values()) if result.metrics]
    if not rows:
        return message_figure(heading, NEEDS_LABELS.format(what="accuracy"))
    metrics = [
        (key, name) for key, name in ACCURACY_METRICS
        if any(finite((result.metrics or {}).get(key)) is not None for _, result in rows)
    ]
    width, offsets = _bar_geometry(len(rows))
    fig = go.Figure()
    shapes: list[dict[str, Any]] = []
    seed_traces: list[go.Scatter] = []
    for slot, (index, result) in enumerate(rows):
        colour = strategy_colour(index)
        values = [finite((result.metrics or {}).get(key)) for key, _ in metrics]
        seeds = [_seed_line(result, key) for key, _ in metrics]
        seeded = any(seed is not None for seed in seeds)
        hover = [
            _value_hover(result, key, name, value, seeded)
            + (f"<br>{seed[2]}" if seed is not None else "")
            for (key, name), value, seed in zip(metrics, values, seeds)
        ]
        fig.add_trace(
            go.Bar(
                x=list(range(len(metrics))),
                y=values,
                width=width,
                offset=offsets[slot] - width / 2,
                name=short_label(result.label, 32),
                marker_color=colour,
                text=["–" if v is None else f"{v:.0%}" for v in values],
                textposition=["inside" if v is not None and v >= INSIDE_LABEL_FROM else "outside" for v in values],
                # a seeded bar carries its label at the foot, clear of the per-seed diamond near the top
                insidetextanchor="start" if seeded else "end",
                textangle=0,
                textfont={"size": 12},
                cliponaxis=False,
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
        for position, value in enumerate(values):
            if value is not None and value == 0:
                centre = position + offsets[slot]
                shapes.append({
                    "type": "rect", "xref": "x", "yref": "y", "x0": centre - width / 2, "x1": centre + width / 2,
                    "y0": 0, "y1": ZERO_STUB, "fillcolor": colour, "line": {"width": 0},
                })
        if seeded:
            marked = [(position, seed) for position, seed in enumerate(seeds) if seed is not None]
            seed_traces.append(
                go.Scatter(
                    x=[position + offsets[slot] for position, _ in marked],
                    y=[seed[0] for _, seed in marked],
                    error_y={"type": "data", "array": [seed[1] for _, seed in marked], "color": SEED_COLOUR,
                             "thickness": 1.5, "width": 5},
                    mode="markers",
                    marker={"symbol": "diamond", "size": 9, "color": SEED_COLOUR, "line": {"width": 1.5,
                                                                                          "color": "white"}},
                    name="per-seed mean ± std",
                    legendgroup="seeds",
                    showlegend=not seed_traces,
                    hovertext=[f"<b>{esc(result.label)}</b><br>{metrics[position][1]}: {seed[2]}"
                               for position, seed in marked],
                    hovertemplate="%{hovertext}<extra></extra>",
                    cliponaxis=False,
                )
            )
    for trace in seed_traces:
        fig.add_trace(trace)
    chance = _chance_trace(rows, metrics)
    if chance is not None:
        fig.add_trace(chance[0])
    n_values = {n for _, result in rows if (n := _image_count(result)) is not None}
    fig.update_layout(
        xaxis={**category_axis([name for _, name in metrics], ""), "ticktext": [_tick(name) for _, name in metrics],
               "tickangle": 0, "range": [-0.5, len(metrics) - 0.5]},
        yaxis={"title": {"text": "share of labelled images"}, "range": [0, 1.08], "tickformat": ".0%"},
        shapes=shapes,
        legend=BOTTOM_LEGEND,
        uniformtext={"minsize": 10, "mode": "show"},  # one label size for all bars, never below 10 px
    )
    subtitle = "Top-5: the true class is among the 5 most likely. Mean per-class recall: every class counts equally."
    if chance is not None:
        subtitle += f" Dotted lines: random guessing ({chance[1]})."
    if seed_traces:
        subtitle += (
            "<br>Strategies with random seeds (WaffleCLIP): bar = all seeds' prompts pooled, as in the table; "
            "◆ with whiskers = per-seed mean ± std."
        )
    if len(n_values) == 1:
        n = n_values.pop()
        small = f": one image moves a bar by {1 / n:.0%}" if n < SMALL_SAMPLE else ""
        subtitle += f"<br>Based on {_count(n, 'labelled image')}{small}."
    return _layout(fig, heading, subtitle, 500)


def _tick(name: str) -> str:
    """A metric name split over two lines when long, so tick labels never need rotating."""
    words = name.split()
    if len(name) <= 16 or len(words) < 2:
        return esc(name)
    half = (len(words) + 1) // 2
    return esc(" ".join(words[:half])) + "<br>" + esc(" ".join(words[half:]))


def _chance_trace(
    rows: list[tuple[int, StrategyResult]], metrics: list[tuple[str, str]]
) -> tuple[go.Scatter, str] | None:
    """Dotted random-guessing levels (1/C for top-1 and recall, 5/C for top-5 when C >= 5) and the
    odds in words for the subtitle."""
    classes = {result.probabilities.shape[1] for _, result in rows}
    if len(classes) != 1:
        return None
    c = classes.pop()
    if c < 2:
        return None
    levels = {"top1": 1 / c, "mean_per_class_recall": 1 / c}
    if c >= 5:
        levels["top5"] = min(5 / c, 1.0)
    xs: list[float | None] = []
    ys: list[float | None] = []
    texts: list[str] = []
    for position, (key, name) in enumerate(metrics):
        if key not in levels:
            continue
        level = levels[key]
        xs += [position - CHANCE_HALF_WIDTH, position + CHANCE_HALF_WIDTH, None]
        ys += [level, level, None]
        texts += [f"random guessing, {name.lower()}: {5 if key == 'top5' else 1} in {c} = {level:.0%}"] * 2 + [""]
    if not xs:
        return None
    shown = {key for key, _ in metrics}
    odds = [f"top-1: 1 in {c}"] if shown & {"top1", "mean_per_class_recall"} else []
    if "top5" in shown and "top5" in levels:
        odds.append(f"top-5: 5 in {c}")
    trace = go.Scatter(
        x=xs, y=ys, mode="lines", name="random guessing",
        line={"dash": "dot", "color": "#444444", "width": 2}, hovertext=texts,
        hovertemplate="%{hovertext}<extra></extra>", connectgaps=False,
    )
    return trace, "; ".join(odds)


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
) -> go.Figure:
    """Class x class text-embedding cosine; the most confusable pairs outlined and annotated.

    With more than ``SIMILARITY_CLASS_LIMIT`` classes only the classes of the flagged and then
    the most alike pairs are drawn. ``total_classes`` is the size of the full class list when the
    caller has already cut ``matrix`` down; either way the subtitle says how many are shown.
    """
    heading = "Which class names look alike to the model?"
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
    return _layout(fig, heading, subtitle, grid_height(c, extra=260))
