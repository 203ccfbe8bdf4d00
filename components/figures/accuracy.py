"""Accuracy bars per strategy, with per-seed spread and random-guessing levels."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from components.figures.calibration import labelled_image_count
from components.figures.style import (
    STRATEGY_LABEL_CHARS,
    NEEDS_LABELS,
    SMALL_SAMPLE,
    apply_layout,
    category_axis,
    count_noun,
    esc,
    legend_below,
    message_figure,
    short_label,
    strategy_colour,
    wrap_markup,
)
from prompting.evaluation.export import finite, seed_spread
from prompting.evaluation.results import StrategyResult

GROUP_WIDTH = 0.8  # the share of a category slot filled by its group of bars
INSIDE_LABEL_FROM = 0.15  # bars this tall carry their label inside, shorter ones above
TICK_CHARS = 9
UPRIGHT_LABELS_UP_TO = 3  # bars per group whose labels fit horizontally; more bars get vertical labels
ZERO_STUB = 0.006  # height of the stub that keeps a 0% bar visible
CHANCE_HALF_WIDTH = 0.45
SEED_COLOUR = "#222222"
ACCURACY_METRICS = (
    ("top1", "Top-1 accuracy"),
    ("top5", "Top-5 accuracy"),
    ("mean_per_class_recall", "Mean per-class recall"),
)


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
    angle = 0 if len(rows) <= UPRIGHT_LABELS_UP_TO else -90
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
                name=short_label(result.label, STRATEGY_LABEL_CHARS),
                marker_color=colour,
                text=["–" if v is None else f"{v:.0%}" for v in values],
                textposition=["inside" if v is not None and v >= INSIDE_LABEL_FROM else "outside" for v in values],
                # a seeded bar carries its label at the foot, clear of the per-seed diamond near the top
                insidetextanchor="start" if seeded else "end",
                textangle=angle,
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
    n_values = {n for _, result in rows if (n := labelled_image_count(result)) is not None}
    fig.update_layout(
        xaxis={**category_axis([name for _, name in metrics], ""), "ticktext": [_tick(name) for _, name in metrics],
               "tickangle": 0, "range": [-0.5, len(metrics) - 0.5]},
        yaxis={"title": {"text": "share of labelled images"}, "range": [0, 1.08], "tickformat": ".0%"},
        shapes=shapes,
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
        subtitle += f"<br>Based on {count_noun(n, 'labelled image')}{small}."
    return legend_below(apply_layout(fig, heading, subtitle, 520))


def _tick(name: str) -> str:
    """A metric name a word or two per line (``TICK_CHARS`` at most), so tick labels never need
    rotating or run into each other on a narrow chart."""
    return wrap_markup(esc(name), TICK_CHARS)


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
