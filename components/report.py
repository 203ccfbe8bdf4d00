"""One self-contained HTML report of a comparison (never imports gradio).

The page inlines plotly.js once and needs no network. Every piece of user- or LLM-provided
text (class names, prompts, file names, notes, errors) is HTML-escaped. It never shows where
files live on the server: images and skipped files appear by name only (with a small embedded
thumbnail, for at most ``THUMBNAIL_LIMIT`` images), and a model loaded from a local folder by
that folder's name.

It opens with the headline; a *Present* button shows the headline and then one chart at a time,
full screen in large type (arrow keys step, Esc leaves), and printing puts each chart on its own
part of the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from components.figures.accuracy import accuracy_bars
from components.figures.calibration import reliability_diagram
from components.figures.heatmaps import comparison_heatmap
from components.figures.style import fit_charts_script, probability_label
from components.figures.verdicts import verdict_grid
from components.glossary import glossary_entries
from components.thumbnails import REPORT_SIZE, THUMBNAIL_LIMIT, thumbnails
from prompting.evaluation.export import (
    PAIRED_HEADERS,
    encoder_summary,
    finite,
    fudd_why_text,
    headline,
    paired_rows,
    plain_language_summary,
    seed_spread,
    top1_indices,
)
from prompting.evaluation.paired import PairedComparison, paired_comparisons
from prompting.evaluation.results import Comparison, StrategyResult
from prompting.service.config import public_model_name

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
DAGGER = "<sup>†</sup>"
FUDD_ROWS = 200  # changed images listed per FuDD result (the JSON export holds every one)
AFTER_TEMPERATURE = ("ece_after_temperature", "nll_after_temperature")
NO_SIGNAL_NOTE = (
    "The fitted temperature hit its search limit: the scores carry no usable confidence signal here, "
    "so the after-temperature columns are left empty."
)
SHARP_LIMIT_NOTE = (
    "The fitted temperature hit its lower search limit (sharpening the scores kept helping, as when every "
    "top prediction is right), so the after-temperature columns are left empty."
)
SIGMOID_NOTE = (
    "{who} scored by a model that rates each class with its own sigmoid (SigLIP), so {its} probabilities need not "
    "add up to 1. {their} calibration metrics (ECE, MCE, Brier score, NLL and the temperature columns) use the "
    "softmax over {its} logits; the JSON export holds those probabilities as calibration_probabilities."
)


PAIRED_NOTE = (
    "Each row compares two strategies on the same {n} labelled images, the better-scoring one first. Differences "
    "are in percentage points with a 95% paired bootstrap interval (2,000 resamples of the images); a difference is "
    "called real only when its interval excludes zero. McNemar's exact test looks at the images only one strategy "
    "got right."
)
HOLM_NOTE = " Holm's adjustment accounts for the {pairs} comparisons made."


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
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fafbfc; }
td.best { font-weight: 700; }
td.ok { color: #1e6e34; }
td.bad { color: #b42318; }
small, .muted { color: #616e7c; }
dl.explain { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; font-size: 0.92em; }
dl.explain dt { font-weight: 600; }
dl.explain dd { margin: 0; color: #3e4c59; }
.figure { margin: 10px 0 26px; }
sup { color: #b42318; }
p.headline { font-size: 1.35em; font-weight: 650; background: #eef2ff; border-left: 5px solid #4f46e5;
             border-radius: 8px; padding: 12px 16px; margin: 14px 0; }
.present-button { font: inherit; font-weight: 600; padding: 6px 14px; border-radius: 8px; cursor: pointer;
                  border: 1px solid #4f46e5; background: #4f46e5; color: #fff; }
td img.thumb { display: block; max-width: 96px; max-height: 96px; border-radius: 6px; margin-bottom: 4px; }
.present-bar { display: none; }
body.presenting { overflow: hidden; }
body.presenting .slide { display: none; }
body.presenting .slide.current { display: block; position: fixed; inset: 0 0 64px 0; margin: 0; padding: 32px 48px;
                                 background: #fff; overflow: auto; z-index: 10; }
body.presenting .slide.current p.headline { font-size: 2.4em; margin-top: 18vh; }
body.presenting .present-bar { display: flex; gap: 12px; align-items: center; justify-content: center;
                               position: fixed; left: 0; right: 0; bottom: 0; height: 64px; background: #f5f7fa;
                               border-top: 1px solid #e4e7eb; z-index: 11; }
.present-bar button { font: inherit; font-size: 1.1em; padding: 6px 16px; border-radius: 8px; cursor: pointer; }
@media print {
  .present-button, .present-bar { display: none !important; }
  .figure, table { break-inside: avoid; }
}
"""
PRESENT_JS = """(() => {
  const slides = [...document.querySelectorAll('.slide')];
  const counter = document.getElementById('present-counter');
  let current = 0;
  function show(index) {
    current = (index + slides.length) % slides.length;
    slides.forEach((slide, k) => slide.classList.toggle('current', k === current));
    counter.textContent = (current + 1) + ' / ' + slides.length;
    slides[current].querySelectorAll('.js-plotly-plot').forEach((gd) => window.Plotly.Plots.resize(gd));
    window.largeCharts(slides[current], true);
  }
  window.presentReport = (on) => {
    document.body.classList.toggle('presenting', on);
    if (on) { show(0); return; }
    window.largeCharts(document, false);
    window.dispatchEvent(new Event('resize'));
  };
  window.stepReport = (offset) => show(current + offset);
  document.addEventListener('keydown', (event) => {
    if (!document.body.classList.contains('presenting')) return;
    if (['ArrowRight', 'PageDown', ' '].includes(event.key)) { event.preventDefault(); show(current + 1); }
    if (['ArrowLeft', 'PageUp'].includes(event.key)) { event.preventDefault(); show(current - 1); }
    if (event.key === 'Escape') window.presentReport(false);
  });
})();"""


def default_figures(comparison: Comparison) -> dict[str, go.Figure]:
    """Accuracy bars and reliability diagram when labelled, which images each strategy got right,
    then a probability heatmap per strategy."""
    figures: dict[str, go.Figure] = {}
    if any(result.metrics for result in comparison.strategies.values()):
        figures["Accuracy by strategy"] = accuracy_bars(comparison.strategies)
        figures["Calibration"] = reliability_diagram(comparison.strategies)
    if comparison.strategies and comparison.images:
        figures["Right and wrong per image"] = verdict_grid(comparison)
    for key, result in comparison.strategies.items():
        figures[f"Probabilities: {result.label}"] = comparison_heatmap(comparison, key)
    return figures


def render_html_report(
    comparison: Comparison,
    figures: dict[str, go.Figure] | None = None,
    created: datetime | None = None,
) -> str:
    """The whole comparison as one self-contained HTML page (plotly.js inlined once)."""
    figures = default_figures(comparison) if figures is None else figures
    when = (created or datetime.now()).strftime("%Y-%m-%d %H:%M")
    pairs = paired_comparisons(comparison)
    meta = (
        f'<p class="meta">Model <b>{escape(_model_name(comparison.model))}</b>{_quantized(comparison)} · '
        f"{escape(when)} · "
        f"{len(comparison.images)} images · {len(comparison.classes)} classes · "
        f"{len(comparison.strategies)} strategies{_encoder_text(comparison)}</p>"
    )
    sections = [
        "<h1>Prompt Workbench report</h1>",
        meta,
        _headline_section(comparison, pairs),
        "<h2>Summary</h2>",
        '<ul class="summary">'
        + "".join(f"<li>{escape(s)}</li>" for s in plain_language_summary(comparison, pairs))
        + "</ul>",
        _glossary_section(comparison),
        _classes_section(comparison),
        _metrics_section(comparison),
        _paired_section(pairs),
        _figures_section(figures),
        _predictions_section(comparison),
        _fudd_section(comparison),
        _problems_section(comparison),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Prompt Workbench report: {escape(_model_name(comparison.model))}</title>\n"
        f"<style>{CSS}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n'
        "</head>\n<body>\n<main>\n" + "\n".join(s for s in sections if s) + "\n</main>\n"
        '<div class="present-bar"><button onclick="stepReport(-1)">◀ Back</button><span id="present-counter"></span>'
        '<button onclick="stepReport(1)">Next ▶</button><button onclick="presentReport(false)">Exit (Esc)</button>'
        "</div>\n"
        f"<script>({fit_charts_script()})();\n{PRESENT_JS}</script>\n</body>\n</html>\n"
    )


def _glossary_section(comparison: Comparison) -> str:
    """The run's terms in plain words (strategies, kinds of probability, statistics)."""
    entries = glossary_entries(comparison)
    if not entries:
        return ""
    items = "".join(f"<dt>{escape(term)}</dt><dd>{escape(text)}</dd>" for term, text in entries)
    return f'<h3>What these words mean</h3>\n<dl class="explain">{items}</dl>'


def _headline_section(comparison: Comparison, pairs: list[PairedComparison]) -> str:
    """The headline (the presentation's first slide) and the button that starts the presentation."""
    text = headline(comparison, pairs)
    slide = f'<section class="slide"><p class="headline">{escape(text)}</p></section>\n' if text else ""
    return (f'{slide}<p><button class="present-button" onclick="presentReport(true)">▶ Present</button> '
            '<span class="muted">the headline, then one chart at a time, full screen (arrow keys to step, Esc to '
            "leave); printing puts each chart on its own.</span></p>")


def _encoder_text(comparison: Comparison) -> str:
    encoded = encoder_summary(comparison)
    return f" · {escape(encoded)}" if encoded else ""


def _quantized(comparison: Comparison) -> str:
    return f" ({escape(comparison.quantization)} quantised)" if comparison.quantization else ""


def _classes_section(comparison: Comparison) -> str:
    items = []
    for cls in comparison.classes:
        prompt = "" if cls.prompt == cls.display else f' <span class="prompt">→ “{escape(cls.prompt)}”</span>'
        items.append(f"<li>{escape(cls.display)}{prompt}</li>")
    note = '<p class="muted">“→” shows the name used inside prompts when it differs.</p>' if any(
        cls.prompt != cls.display for cls in comparison.classes
    ) else ""
    return f'<h2>Classes</h2>\n<ul class="classes">{"".join(items)}</ul>{note}'


def file_name(path: object) -> str:
    """The last part of a file path (POSIX or Windows separators), never the folders above it."""
    parts = [part for part in re.split(r"[\\/]+", str(path)) if part]
    return parts[-1] if parts else ""


def _model_name(model: str) -> str:
    """Each model of the comparison ("a vs b") by its public name: no local folder paths."""
    return " vs ".join(public_model_name(part) for part in model.split(" vs "))


def _scrub(text: object, comparison: Comparison) -> str:
    """Free text (notes, errors, reasons) with every known image or skipped-file path cut to its name."""
    out = str(text)
    paths = {img.path for img in comparison.images} | {str(s.get("path") or "") for s in comparison.skipped}
    for path in sorted((p for p in paths if p), key=len, reverse=True):
        out = out.replace(path, file_name(path))
    return out


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
    show_n = any(_metric(r, "n_images") is not None for r in rows)
    head = (
        "<tr><th>Strategy</th><th>Probabilities</th>" + ("<th>Images (n)</th>" if show_n else "")
        + "".join(f"<th>{c[1]}</th>" for c in columns) + "</tr>"
    )
    kinds = {result.probability_kind for result in rows}
    limits: set[str] = set()
    body = []
    for result in rows:
        cells = [f"<td>{escape(result.label)}</td>", f"<td>{escape(probability_label(result.probability_kind))}</td>"]
        if show_n:
            n = _metric(result, "n_images")
            cells.append(f'<td class="num">{"–" if n is None else int(n)}</td>')
        peers = [r for r in rows if r.probability_kind == result.probability_kind]
        for key, _, fmt, better, _ in columns:
            value = _usable(result, key)
            text = "–" if value is None else fmt(value)
            if key == "top1" and value is not None:
                text = _top1_text(result, value)
            limit = _temperature_limit(result)
            if limit and key == "temperature":
                text = (f"≥{value:.0f} (limit)" if limit == "high" else f"≤{value:.3g} (limit)") + DAGGER
                limits.add(limit)
            elif limit and key in AFTER_TEMPERATURE:
                text = "–" + DAGGER
            best = " best" if value is not None and _is_best(value, key, better, peers) else ""
            cells.append(f'<td class="num{best}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    explain = "".join(f"<dt>{c[1]}</dt><dd>{escape(c[4])}</dd>" for c in columns)
    if len(kinds) > 1:
        best_note = (
            "Bold = best value in its column among strategies with the same kind of probabilities "
            "(softmax or sigmoid); the two kinds are not ranked against each other."
        )
    else:
        best_note = "Bold = best value in its column."
    notes = [best_note]
    if any(_metric(r, "top1_correct") is not None or _metric(r, "n_images") is not None for r in rows):
        notes.append("Top-1 shows correct / labelled images; the 95% interval (when given) is the range the "
                     "accuracy on many more such images would likely fall in.")
    notes += [NO_SIGNAL_NOTE if limit == "high" else SHARP_LIMIT_NOTE for limit in sorted(limits)]
    calibration = [sigmoid_calibration_note(rows)] if "sigmoid" in kinds else []
    footnotes = "".join(
        f'<p class="muted">{DAGGER + " " if note in (NO_SIGNAL_NOTE, SHARP_LIMIT_NOTE) else ""}{escape(note)}</p>'
        for note in notes + calibration
    )
    return (
        f'{heading}\n<div class="scroll"><table>{head}{"".join(body)}</table></div>\n'
        f'{footnotes}\n'
        f'<h3>What the numbers mean</h3>\n<dl class="explain">{explain}</dl>'
    )


def _paired_section(pairs: list[PairedComparison]) -> str:
    """The pairwise table: every pair of strategies on the same images, the better one first."""
    if not pairs:
        return ""
    head = "<tr>" + "".join(f"<th>{escape(heading)}</th>" for heading in PAIRED_HEADERS) + "</tr>"
    note = PAIRED_NOTE.format(n=pairs[0].n_images) + (HOLM_NOTE.format(pairs=len(pairs)) if len(pairs) > 1 else "")
    text_columns = {0, 1, len(PAIRED_HEADERS) - 1}
    body = "".join(
        "<tr>" + "".join(f'<td{"" if i in text_columns else " class=num"}>{escape(cell)}</td>'
                         for i, cell in enumerate(row)) + "</tr>"
        for row in paired_rows(pairs)
    )
    return (
        "<h2>Is the difference real?</h2>\n"
        f'<p class="muted">{escape(note)}</p>\n'
        f'<div class="scroll"><table>{head}{body}</table></div>'
    )


def sigmoid_calibration_note(results: list[StrategyResult]) -> str:
    """Which strategies have sigmoid scores, and what their calibration metrics are computed on."""
    sigmoid = [result.label for result in results if result.probability_kind == "sigmoid"]
    if len(sigmoid) == len(results):
        who = "All strategies here are" if len(results) > 1 else "This strategy is"
    else:
        who = ("“" + "”, “".join(sigmoid) + "” " + ("is" if len(sigmoid) == 1 else "are"))
    one = len(sigmoid) == 1
    return SIGMOID_NOTE.format(who=who, its="its" if one else "their", their="Its" if one else "Their")


def _metric(result: StrategyResult, key: str) -> float | None:
    return finite((result.metrics or {}).get(key))


def _temperature_limit(result: StrategyResult) -> str | None:
    """"high" or "low" when the fitted temperature hit its search bound (``temperature_at_limit``)."""
    metrics = result.metrics or {}
    if metrics.get("temperature_at_limit") is not True:
        return None
    temperature = _metric(result, "temperature")
    return "low" if temperature is not None and temperature < 1 else "high"


def _usable(result: StrategyResult, key: str) -> float | None:
    """A metric's value, or None where it means nothing (after temperature, when T is at its limit)."""
    if key in AFTER_TEMPERATURE and _temperature_limit(result):
        return None
    return _metric(result, key)


def _top1_text(result: StrategyResult, value: float) -> str:
    """``7/10 (70.0%)`` with the 95% interval and the seed range underneath when known."""
    metrics: dict[str, Any] = result.metrics or {}
    n = _metric(result, "n_images")
    correct = _metric(result, "top1_correct")
    if correct is None and n is not None:
        correct = round(value * n)
    text = _pct(value) if n is None or correct is None else f"{int(correct)}/{int(n)} ({_pct(value)})"
    interval = metrics.get("top1_interval")
    if isinstance(interval, (list, tuple)) and len(interval) == 2:
        low, high = finite(interval[0]), finite(interval[1])
        if low is not None and high is not None:
            text += f"<br><small>95% interval {low:.0%}–{high:.0%}</small>"
    if (spread := seed_spread(result, "top1")) is not None:
        text += f"<br><small>per seed: {spread[0]:.1%} ± {spread[1]:.1%} ({spread[2]:.0%}–{spread[3]:.0%})</small>"
    return text


def _is_best(value: float, key: str, better: str | None, rows: list[StrategyResult]) -> bool:
    """Whether ``value`` is the strict best of its column among ``rows`` (at least two values)."""
    if better is None:
        return False
    values = [v for r in rows if (v := _usable(r, key)) is not None]
    if len(values) < 2 or min(values) == max(values):
        return False
    return value == (max(values) if better == "higher" else min(values))


def _figure_title(fig: go.Figure) -> str:
    """The figure's own title text ('' when it has none)."""
    return str(fig.layout.title.text or "") if fig.layout.title else ""


def _figures_section(figures: dict[str, go.Figure]) -> str:
    """Each figure once: its own title is its heading; an untitled one gets the dict key as heading."""
    if not figures:
        return ""
    parts = ["<h2>Figures</h2>", '<p class="muted">Hover over the charts for full names and details.</p>']
    for heading, fig in figures.items():
        div = fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG, default_width="100%")
        label = escape(heading)
        shown = "" if _figure_title(fig).strip() else f"<h3>{label}</h3>\n"
        parts.append(f'<section class="slide">{shown}<div class="figure" role="figure" aria-label="{label}">{div}'
                     "</div></section>")
    return "\n".join(parts)


def _predictions_section(comparison: Comparison) -> str:
    if not comparison.images or not comparison.strategies:
        return ""
    names = [cls.display for cls in comparison.classes]
    results = list(comparison.strategies.values())
    predicted = [top1_indices(result) for result in results]
    pictures = thumbnails([img.path for img in comparison.images], REPORT_SIZE)
    head = "<tr><th>#</th><th>Image</th><th>True class</th>" + "".join(
        f"<th>{escape(r.label)}</th>" for r in results
    ) + "</tr>"
    body = []
    for i, img in enumerate(comparison.images):
        truth = "–" if img.label is None else escape(names[img.label])
        picture = f'<img class="thumb" src="{pictures[i]}" alt="">' if pictures[i] else ""
        cells = [f'<td class="num">{i + 1}</td>', f"<td>{picture}{escape(img.name)}</td>", f"<td>{truth}</td>"]
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
    capped = (f" Thumbnails for the first {THUMBNAIL_LIMIT} of {len(comparison.images)} images."
              if len(comparison.images) > THUMBNAIL_LIMIT else "")
    return (
        "<h2>Predictions per image</h2>\n"
        f'<p class="muted">Top class of each strategy with its {escape(" / ".join(kinds))}; '
        f"✓ = matches the true class, ✗ = does not.{capped}</p>\n"
        f'<div class="scroll"><table>{head}{"".join(body)}</table></div>'
    )


def _fudd_section(comparison: Comparison) -> str:
    """For each FuDD result: the images whose top class it changed from its base's, and the
    descriptions that moved each (at most ``FUDD_ROWS`` rows per result)."""
    names = [cls.display for cls in comparison.classes]
    parts = []
    for result in comparison.strategies.values():
        details = result.fudd
        if details is None:
            continue
        changes = details.changes
        summary = (f"FuDD changed the top class of {len(changes)} of {len(comparison.images)} images from "
                   f"{details.base_label}'s (the {details.k} likeliest classes compared with descriptions of how "
                   "they differ).")
        shown = (f" The first {FUDD_ROWS} are shown; the JSON export holds all." if len(changes) > FUDD_ROWS else "")
        rows = []
        for change in changes[:FUDD_ROWS]:
            image = comparison.images[change.image]
            mark = ""
            if image.label is not None:
                mark = "✓ " if change.after == image.label else ("✗ " if change.before == image.label else "")
            rows.append(
                f'<tr><td class="num">{change.image + 1}</td><td>{escape(image.name)}</td>'
                f"<td>{escape(names[change.before])} → {mark}{escape(names[change.after])}</td>"
                f"<td>{escape(fudd_why_text(change, names))}</td></tr>"
            )
        table = ('<div class="scroll"><table><tr><th>#</th><th>Image</th><th>Base → FuDD</th>'
                 f"<th>Why (FuDD's descriptions, cosine with the image)</th></tr>{''.join(rows)}</table></div>"
                 if rows else "")
        marks = (" ✓ = FuDD's new answer is the true class, ✗ = it replaced the true class."
                 if any(image.label is not None for image in comparison.images) else "")
        parts.append(f"<h2>What FuDD changed: {escape(result.label)}</h2>\n"
                     f'<p class="muted">{escape(summary + shown + marks)}</p>\n{table}')
    return "\n".join(parts)


def _problems_section(comparison: Comparison) -> str:
    parts = []
    notes = [(r.label, note) for r in comparison.strategies.values() for note in r.notes]
    if notes:
        parts.append("<h2>Strategy notes</h2><ul>" + "".join(
            f"<li><b>{escape(label)}</b>: {escape(_scrub(note, comparison))}</li>" for label, note in notes
        ) + "</ul>")
    if comparison.strategy_errors:
        parts.append("<h2>Strategies not run</h2><ul>" + "".join(
            f"<li><b>{escape(name)}</b>: {escape(_scrub(error, comparison))}</li>"
            for name, error in comparison.strategy_errors.items()
        ) + "</ul>")
    if comparison.skipped:
        rows = "".join(
            f"<tr><td>{escape(file_name(s.get('path') or ''))}</td>"
            f"<td>{escape(_scrub(s.get('reason', ''), comparison))}</td></tr>"
            for s in comparison.skipped
        )
        parts.append(f"<h2>Skipped files</h2>\n<table><tr><th>File</th><th>Reason</th></tr>{rows}</table>")
    return "\n".join(parts)
