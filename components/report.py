"""One self-contained HTML report of a comparison (never imports gradio).

The page inlines plotly.js once and needs no network. Every piece of user- or LLM-provided
text (class names, prompts, file names, notes, errors) is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from components.figure_style import probability_label
from components.figures import accuracy_bars, reliability_diagram, similarity_heatmap
from prompting.export import finite, plain_language_summary, seed_spread, top1_indices
from prompting.results import Comparison, StrategyResult

PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _num(value: float) -> str:
    return f"{value:.3f}"


# (metric key, column heading, formatter, "higher"/"lower" is better or None, explanation)
METRIC_COLUMNS: tuple[tuple[str, str, Callable[[float], str], str | None, str], ...] = (
    ("top1", "Top-1 accuracy", _pct, "higher",
     "share of images whose most likely class is the true class; higher is better"),
    ("top5", "Top-5 accuracy", _pct, "higher",
     "share of images whose true class is among the 5 most likely; higher is better (needs 5+ classes)"),
    ("mean_per_class_recall", "Mean per-class recall", _pct, "higher",
     ("accuracy computed for each class separately, then averaged, so small classes count as much "
      "as big ones; higher is better")),
    ("ece", "ECE", _pct, "lower",
     "expected calibration error: average gap between confidence and accuracy; lower is better"),
    ("mce", "MCE", _pct, "lower",
     ("maximum calibration error: the largest gap between confidence and accuracy in any "
      "confidence range; lower is better")),
    ("brier", "Brier score", _num, "lower",
     ("mean squared difference between the probabilities and the truth (1 for the true class, "
      "0 for the others); lower is better")),
    ("nll", "NLL", _num, "lower",
     "negative log-likelihood: how surprised the model is by the true classes; lower is better"),
    ("temperature", "Fitted temperature", lambda v: f"{v:.2f}", None,
     ("the single rescaling of the scores (logits divided by it) that makes confidence most honest; "
      "1 means no change")),
    ("ece_after_temperature", "ECE after temperature", _pct, "lower",
     "ECE once that temperature is applied; fitted and measured on these same images, so optimistic"),
    ("nll_after_temperature", "NLL after temperature", _num, "lower",
     "NLL once that temperature is applied (same caveat)"),
)

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1f2933;
       background: #f5f7fa; margin: 0; line-height: 1.5; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 1.8em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 36px 0 10px; border-bottom: 2px solid #e4e7eb; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 24px 0 4px; }
.meta { color: #52606d; margin: 0 0 12px; }
.summary li { margin: 4px 0; }
.classes { display: flex; flex-wrap: wrap; gap: 6px; padding: 0; list-style: none; }
.classes li { background: #eef2f7; border-radius: 12px; padding: 2px 10px; font-size: 0.92em; }
.classes .prompt { color: #616e7c; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.92em; margin: 8px 0; }
th, td { border-bottom: 1px solid #e4e7eb; padding: 6px 10px; text-align: left; vertical-align: top; }
th { background: #f0f4f8; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafbfc; }
td.best { font-weight: 700; }
td.ok { color: #1e6e34; }
td.bad { color: #b42318; }
small, .muted { color: #616e7c; }
dl.explain { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; font-size: 0.92em; }
dl.explain dt { font-weight: 600; }
dl.explain dd { margin: 0; color: #3e4c59; }
.figure { margin: 10px 0 26px; }
"""


def default_figures(comparison: Comparison) -> dict[str, go.Figure]:
    """Accuracy bars and reliability diagram when labelled, then a probability heatmap per strategy."""
    figures: dict[str, go.Figure] = {}
    if any(result.metrics for result in comparison.strategies.values()):
        figures["Accuracy by strategy"] = accuracy_bars(comparison.strategies)
        figures["Calibration"] = reliability_diagram(comparison.strategies)
    image_names = [img.name for img in comparison.images]
    class_names = [cls.display for cls in comparison.classes]
    labels = [img.label for img in comparison.images]
    for result in comparison.strategies.values():
        figures[f"Probabilities: {result.label}"] = similarity_heatmap(
            result, image_names, class_names, labels=labels if any(x is not None for x in labels) else None
        )
    return figures


def render_html_report(
    comparison: Comparison,
    figures: dict[str, go.Figure] | None = None,
    created: datetime | None = None,
) -> str:
    """The whole comparison as one self-contained HTML page (plotly.js inlined once)."""
    figures = default_figures(comparison) if figures is None else figures
    when = (created or datetime.now()).strftime("%Y-%m-%d %H:%M")
    sections = [
        "<h1>Prompt Workbench report</h1>",
        (
            f'<p class="meta">Model <b>{escape(comparison.model)}</b> · {escape(when)} · '
            f"{len(comparison.images)} images · {len(comparison.classes)} classes · "
            f"{len(comparison.strategies)} strategies{_encoder_text(comparison)}</p>"
        ),
        "<h2>Summary</h2>",
        '<ul class="summary">'
        + "".join(f"<li>{escape(s)}</li>" for s in plain_language_summary(comparison))
        + "</ul>",
        _classes_section(comparison),
        _metrics_section(comparison),
        _figures_section(figures),
        _predictions_section(comparison),
        _problems_section(comparison),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Prompt Workbench report: {escape(comparison.model)}</title>\n"
        f"<style>{CSS}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n'
        "</head>\n<body>\n<main>\n" + "\n".join(s for s in sections if s) + "\n</main>\n</body>\n</html>\n"
    )


def _encoder_text(comparison: Comparison) -> str:
    encoded = comparison.encoder_stats.get("prompts_encoded")
    cached = comparison.encoder_stats.get("prompts_cached")
    if encoded is None and cached is None:
        return ""
    return f" · {encoded or 0} prompts encoded, {cached or 0} from cache"


def _classes_section(comparison: Comparison) -> str:
    items = []
    for cls in comparison.classes:
        prompt = "" if cls.prompt == cls.display else f' <span class="prompt">→ “{escape(cls.prompt)}”</span>'
        items.append(f"<li>{escape(cls.display)}{prompt}</li>")
    note = '<p class="muted">“→” shows the name used inside prompts when it differs.</p>' if any(
        cls.prompt != cls.display for cls in comparison.classes
    ) else ""
    return f'<h2>Classes</h2>\n<ul class="classes">{"".join(items)}</ul>{note}'


def _metrics_section(comparison: Comparison) -> str:
    rows = [result for result in comparison.strategies.values() if result.metrics]
    heading = "<h2>Accuracy and calibration</h2>"
    if not rows:
        return (
            f"{heading}\n<p>Accuracy and calibration need the true class of every image "
            "(for example, images in folders named after the classes). This comparison has none, "
            "so only the predictions are shown.</p>"
        )
    columns = [col for col in METRIC_COLUMNS if any(_metric(r, col[0]) is not None for r in rows)]
    head = "<tr><th>Strategy</th><th>Probabilities</th>" + "".join(f"<th>{c[1]}</th>" for c in columns) + "</tr>"
    body = []
    for result in rows:
        cells = [f"<td>{escape(result.label)}</td>", f"<td>{escape(probability_label(result.probability_kind))}</td>"]
        for key, _, fmt, better, _ in columns:
            value = _metric(result, key)
            text = "–" if value is None else fmt(value)
            if key == "top1" and (spread := seed_spread(result, "top1")) is not None:
                text += f"<br><small>seeds: {spread[2]:.0%}–{spread[3]:.0%}</small>"
            best = " best" if value is not None and _is_best(value, key, better, rows) else ""
            cells.append(f'<td class="num{best}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    explain = "".join(f"<dt>{c[1]}</dt><dd>{escape(c[4])}</dd>" for c in columns)
    notes = {str(note) for r in rows if (note := (r.metrics or {}).get("calibration_note"))}
    note_html = "".join(f'<p class="muted">{escape(note)}</p>' for note in sorted(notes))
    return (
        f'{heading}\n<div class="scroll"><table>{head}{"".join(body)}</table></div>\n'
        f'<p class="muted">Bold = best value in its column.</p>{note_html}\n'
        f'<h3>What the numbers mean</h3>\n<dl class="explain">{explain}</dl>'
    )


def _metric(result: StrategyResult, key: str) -> float | None:
    return finite((result.metrics or {}).get(key))


def _is_best(value: float, key: str, better: str | None, rows: list[StrategyResult]) -> bool:
    if better is None or len(rows) < 2:
        return False
    values = [v for r in rows if (v := _metric(r, key)) is not None]
    if min(values) == max(values):
        return False
    return value == (max(values) if better == "higher" else min(values))


def _figures_section(figures: dict[str, go.Figure]) -> str:
    if not figures:
        return ""
    parts = ["<h2>Figures</h2>", '<p class="muted">Hover over the charts for full names and details.</p>']
    for heading, fig in figures.items():
        div = fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG, default_width="100%")
        parts.append(f'<h3>{escape(heading)}</h3>\n<div class="figure">{div}</div>')
    return "\n".join(parts)


def _predictions_section(comparison: Comparison) -> str:
    if not comparison.images or not comparison.strategies:
        return ""
    names = [cls.display for cls in comparison.classes]
    results = list(comparison.strategies.values())
    predicted = [top1_indices(result) for result in results]
    head = "<tr><th>#</th><th>Image</th><th>True class</th>" + "".join(
        f"<th>{escape(r.label)}</th>" for r in results
    ) + "</tr>"
    body = []
    for i, img in enumerate(comparison.images):
        truth = "–" if img.label is None else escape(names[img.label])
        cells = [f'<td class="num">{i + 1}</td>', f'<td title="{escape(img.path)}">{escape(img.name)}</td>',
                 f"<td>{truth}</td>"]
        for result, preds in zip(results, predicted):
            k = int(preds[i])
            mark, css = "", ""
            if img.label is not None:
                mark, css = ("✓ ", "ok") if k == img.label else ("✗ ", "bad")
            cells.append(
                f'<td class="{css}">{mark}{escape(names[k])} <small>{result.probabilities[i, k]:.2f}</small></td>'
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    kinds = sorted({probability_label(r.probability_kind) for r in results})
    return (
        "<h2>Predictions per image</h2>\n"
        f'<p class="muted">Top class of each strategy with its {escape(" / ".join(kinds))}; '
        "✓ = matches the true class, ✗ = does not.</p>\n"
        f'<div class="scroll"><table>{head}{"".join(body)}</table></div>'
    )


def _problems_section(comparison: Comparison) -> str:
    parts = []
    notes = [(r.label, note) for r in comparison.strategies.values() for note in r.notes]
    if notes:
        parts.append("<h2>Strategy notes</h2><ul>" + "".join(
            f"<li><b>{escape(label)}</b>: {escape(str(note))}</li>" for label, note in notes
        ) + "</ul>")
    if comparison.strategy_errors:
        parts.append("<h2>Strategies not run</h2><ul>" + "".join(
            f"<li><b>{escape(name)}</b>: {escape(str(error))}</li>"
            for name, error in comparison.strategy_errors.items()
        ) + "</ul>")
    if comparison.skipped:
        rows = "".join(
            f"<tr><td>{escape(str(s.get('path', '')))}</td><td>{escape(str(s.get('reason', '')))}</td></tr>"
            for s in comparison.skipped
        )
        parts.append(f"<h2>Skipped files</h2>\n<table><tr><th>File</th><th>Reason</th></tr>{rows}</table>")
    return "\n".join(parts)
