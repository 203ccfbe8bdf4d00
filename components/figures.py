"""Plotly figures built from plain comparison results (never imports gradio).

Every function returns a ``go.Figure``; when the data needed is missing (no labels, no
per-prompt scores, a single class) it returns a figure that says so instead of raising.
Names passed in are shown truncated on axes, in full (escaped) in hover text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

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
LABEL_COLOUR = "#f58518"
FLAG_COLOUR = "#111111"
NO_ERROR = "NaN"  # plotly.js skips a NaN error bar; None becomes null, drawn as a zero-height cap
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
        margin={"t": top_margin(subtitle), "l": 20, "r": 20, "b": 40},
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


def similarity_heatmap(
    result: StrategyResult,
    image_names: Sequence[str],
    class_names: Sequence[str],
    value: Literal["probabilities", "similarities"] = "probabilities",
    labels: Sequence[int | None] | None = None,
) -> go.Figure:
    """Images (rows) x classes (columns) coloured by probability or cosine; true classes outlined."""
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
    row_names = list(image_names)
    shapes = []
    if labels is not None and any(label is not None for label in labels):
        predicted = top1_indices(result)
        for i, label in enumerate(labels):
            if label is not None:
                shapes.append(cell_outline(label, i, LABEL_COLOUR))
                row_names[i] = f"{'✓' if predicted[i] == label else '✗'} {row_names[i]}"
        subtitle += "<br>Orange outline = true class; ✓/✗ = top prediction right/wrong."
    hover = [[_cell_hover(result, i, j, image_names, class_names, labels) for j in range(c)] for i in range(n)]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(c)),
            y=list(range(n)),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            texttemplate=cell_format if n * c <= MAX_TEXT_CELLS and c <= 15 else None,
            textfont={"size": 11},
            xgap=1,
            ygap=1,
            colorbar={"title": {"text": bar_title}, "thickness": 14},
            **colours,
        )
    )
    fig.update_layout(
        xaxis=category_axis(class_names, "class"),
        yaxis={**category_axis(row_names, "image"), "autorange": "reversed"},
        shapes=shapes,
    )
    return _layout(fig, heading, subtitle, grid_height(n))


def prompt_heatmap(
    result: StrategyResult,
    class_index: int,
    image_names: Sequence[str],
    class_name: str | None = None,
) -> go.Figure:
    """Prompts (rows, best average first) x images: which templates/descriptors match the images."""
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
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(n)),
            y=list(range(len(order))),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            texttemplate="%{z:.3f}" if z.size <= 150 and n <= 12 else None,
            textfont={"size": 10},
            xgap=1,
            ygap=1,
            colorscale="Viridis",
            colorbar={"title": {"text": "cosine"}, "thickness": 14},
        )
    )
    fig.update_layout(
        xaxis=category_axis(image_names, "image"),
        yaxis={
            **category_axis([prompts[p] for p in order], "prompt (best average at top)", PROMPT_LABEL_CHARS),
            "autorange": "reversed",
            "tickfont": {"size": 10 if len(order) > 30 else 12},
        },
    )
    subtitle = "Colour = cosine similarity of each prompt with each image (higher = closer); hover for full prompts."
    return _layout(fig, heading, subtitle, grid_height(len(order)))


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
               "range": [low - 0.05 * (high - low or 1), high + 0.18 * (high - low or 1)]},
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


def reliability_diagram(results: dict[str, StrategyResult]) -> go.Figure:
    """Accuracy vs confidence per bin for each strategy; marker area ~ images in the bin."""
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
        ece_text = "ECE n/a" if ece is None else f"ECE {ece:.3f}"
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
        "Below the dashed line = overconfident. Bigger dot = more images.<br>"
        "ECE = average gap between confidence and accuracy (lower is better)."
    )
    if any(result.probability_kind == "sigmoid" for result in results.values()):
        subtitle += "<br>Sigmoid models score classes independently; their calibration uses the softmax over logits."
    axis = {"range": [-0.03, 1.05], "tickformat": ".0%", "zeroline": False}
    fig.update_layout(
        xaxis={**axis, "title": {"text": "confidence (probability given to the predicted class)"}},
        yaxis={**axis, "title": {"text": "accuracy (share actually correct)"}},
        legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.85)", "bordercolor": "#dddddd",
                "borderwidth": 1},
    )
    return _layout(fig, heading, subtitle, 520)


def confusion_matrix_figure(result: StrategyResult, class_names: Sequence[str]) -> go.Figure:
    """True (rows) x predicted (columns): colour = share of the true class, text = image counts."""
    heading = f"{esc(result.label)}: where do images of each true class end up?"
    confusion = (result.metrics or {}).get("confusion")
    if confusion is None:
        return message_figure(heading, NEEDS_LABELS.format(what="the confusion matrix"))
    counts = np.asarray(confusion, dtype=float)
    c = len(class_names)
    if counts.shape != (c, c):
        raise ValueError(f"confusion is {counts.shape} but there are {c} class names.")
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    text = [[("" if c > 10 and v == 0 else str(int(v))) for v in row] for row in counts]
    hover = [
        [
            f"true: <b>{wrap(class_names[t])}</b><br>predicted: <b>{wrap(class_names[p])}</b><br>"
            f"{int(counts[t, p])} of {int(totals[t, 0])} image(s) = {share[t, p]:.0%}"
            + (" (correct)" if t == p else "")
            for p in range(c)
        ]
        for t in range(c)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=list(range(c)),
            y=list(range(c)),
            text=text,
            texttemplate="%{text}" if c <= 25 else None,
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
        xaxis=category_axis(class_names, "predicted class"),
        yaxis={**category_axis(class_names, "true class"), "autorange": "reversed"},
    )
    subtitle = "Numbers = image counts; colour = share of each true class (rows sum to 100%); diagonal = correct."
    return _layout(fig, heading, subtitle, grid_height(c, extra=260))


def _metric_bar(result: StrategyResult, key: str) -> tuple[float | None, float | None, str]:
    """(bar height, error, hover line) from seed runs when there are several, else from metrics."""
    spread = seed_spread(result, key)
    if spread is not None:
        mean, std, low, high, seeds = spread
        return mean, std, f"{mean:.1%} ± {std:.1%} (mean ± std over {seeds} seeds; range {low:.0%}–{high:.0%})"
    value = finite((result.metrics or {}).get(key))
    return value, None, "not available" if value is None else f"{value:.1%}"


def accuracy_bars(results: dict[str, StrategyResult]) -> go.Figure:
    """Top-1, top-5 and mean per-class recall, one bar per strategy; seed spread as error bars."""
    heading = "Accuracy by strategy (higher is better)"
    rows = [(index, result) for index, result in enumerate(results.values()) if result.metrics]
    if not rows:
        return message_figure(heading, NEEDS_LABELS.format(what="accuracy"))
    metrics = [
        (key, name) for key, name in ACCURACY_METRICS
        if any(finite((result.metrics or {}).get(key)) is not None for _, result in rows)
    ]
    fig = go.Figure()
    seeded = False
    for index, result in rows:
        bars = [_metric_bar(result, key) for key, _ in metrics]
        errors = [error for _, error, _ in bars]
        seeded = seeded or any(e is not None for e in errors)
        fig.add_trace(
            go.Bar(
                x=list(range(len(metrics))),
                y=[value for value, _, _ in bars],
                name=short_label(result.label, 32),
                marker_color=strategy_colour(index),
                error_y={"type": "data", "array": [NO_ERROR if e is None else e for e in errors], "visible": any(
                    e is not None for e in errors),
                         "color": "#333333", "thickness": 1.2},
                texttemplate="%{y:.0%}",
                textposition="auto",
                insidetextanchor="middle",
                hovertext=[f"<b>{esc(result.label)}</b><br>{name}: {line}"
                           for (_, name), (_, _, line) in zip(metrics, bars)],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    classes = {result.probabilities.shape[1] for _, result in rows}
    if len(classes) == 1 and (c := classes.pop()) > 1 and metrics[0][0] == "top1":
        fig.add_trace(
            go.Scatter(
                x=[-0.45, 0.45], y=[1 / c, 1 / c], mode="lines", name=f"random guessing, top-1 (1 in {c})",
                line={"dash": "dot", "color": "#555555", "width": 2}, hoverinfo="skip",
            )
        )
    fig.update_layout(
        barmode="group",
        xaxis=category_axis([name for _, name in metrics], ""),
        yaxis={"title": {"text": "share of labelled images"}, "range": [0, 1.05], "tickformat": ".0%"},
    )
    subtitle = "Top-5: the true class is among the 5 most likely. Mean per-class recall: every class counts equally."
    if seeded:
        subtitle += "<br>Error bars: mean ± standard deviation over random seeds."
    return _layout(fig, heading, subtitle, 480)


def class_similarity_heatmap(
    matrix: np.ndarray,
    class_names: Sequence[str],
    flagged_pairs: Sequence[tuple[int, int, float]],
) -> go.Figure:
    """Class x class text-embedding cosine; the most confusable pairs outlined and annotated."""
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
    return _layout(fig, heading, subtitle, grid_height(c, extra=260))
