"""Tables and Markdown built from plain results for the page (never imports gradio).

User- and LLM-provided text is escaped with ``md_escape`` before it reaches Markdown, so it
shows literally and cannot add links, images or HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from components.report import METRIC_COLUMNS
from prompting.disambiguation import ConfusablePair, top2_margins
from prompting.export import finite, plain_language_summary, seed_spread, top1_indices
from prompting.results import Comparison

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>:])")
PREVIEW_ITEMS = 5
Table = tuple[list[str], list[list[str]]]


def md_escape(text: object) -> str:
    """Text that Markdown renders literally: HTML escaped, Markdown punctuation backslashed
    (``:`` too, so ``http://...`` is not turned into a link)."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=False))


def probability_word(kind: str) -> str:
    """Honest column wording for a probability kind."""
    if kind == "sigmoid":
        return "sigmoid score, independent per class"
    return "softmax probability over your classes"


def _kinds(comparison: Comparison) -> list[str]:
    """The probability kinds among the results (two when CLIP and SigLIP are compared)."""
    return sorted({result.probability_kind for result in comparison.strategies.values()})


def predictions_table(comparison: Comparison) -> Table:
    """Rows = images; one column per strategy with its top class, probability and ✓/✗."""
    names = [cls.display for cls in comparison.classes]
    labelled = any(image.label is not None for image in comparison.images)
    headers = ["Image"] + (["True class"] if labelled else [])
    mixed = len(_kinds(comparison)) > 1
    headers += [f"{r.label} ({r.probability_kind})" if mixed else r.label for r in comparison.strategies.values()]
    predicted = {key: top1_indices(result) for key, result in comparison.strategies.items()}
    rows = []
    for i, image in enumerate(comparison.images):
        row = [image.name] + ([names[image.label] if image.label is not None else "?"] if labelled else [])
        for key, result in comparison.strategies.items():
            k = int(predicted[key][i])
            mark = "" if image.label is None else ("✓ " if k == image.label else "✗ ")
            row.append(f"{mark}{names[k]} ({result.probabilities[i, k]:.2f})")
        rows.append(row)
    return headers, rows


def metrics_table(comparison: Comparison) -> Table:
    """Rows = strategies; accuracy and calibration metrics, with Waffle's seed spread."""
    headers = ["Strategy"] + [heading for _, heading, _, _, _ in METRIC_COLUMNS] + ["Top-1 over seeds"]
    rows = []
    for result in comparison.strategies.values():
        metrics = result.metrics or {}
        row = [result.label]
        for key, _, formatter, _, _ in METRIC_COLUMNS:
            value = finite(metrics.get(key))
            row.append("–" if value is None else formatter(value))
        spread = seed_spread(result, "top1")
        row.append("–" if spread is None else f"{spread[0]:.1%} ± {spread[1]:.1%} ({spread[4]} seeds)")
        rows.append(row)
    return headers, rows


def metric_help() -> str:
    """A short glossary of the metric columns, as Markdown."""
    return "\n".join(f"- **{heading}**: {explanation}." for _, heading, _, _, explanation in METRIC_COLUMNS)


def summary_markdown(comparison: Comparison, extra_notes: Sequence[str] = ()) -> str:
    """The plain-language summary as a Markdown list, with the probability's honest name."""
    lines = [f"- {md_escape(sentence)}" for sentence in plain_language_summary(comparison)]
    lines += [f"- {md_escape(note)}" for note in extra_notes]
    kinds = _kinds(comparison)
    if len(kinds) == 1:
        footer = f"Numbers in brackets are the **{probability_word(kinds[0])}** of the predicted class."
    else:
        footer = (
            "Numbers in brackets are the predicted class's **softmax probability over your classes** for columns "
            "marked (softmax) and its **sigmoid score, independent per class** for columns marked (sigmoid)."
        )
    stats = comparison.encoder_stats
    if stats:
        footer += (
            f" Text prompts: {stats.get('prompts_encoded', 0)} newly encoded, "
            f"{stats.get('prompts_cached', 0)} reused from the cache."
        )
    return "\n".join(lines) + "\n\n" + footer


def skipped_markdown(comparison: Comparison) -> str:
    """A list of the files that could not be read and why ('' when none)."""
    if not comparison.skipped:
        return ""
    items = "\n".join(f"- {md_escape(item.get('reason', ''))}" for item in comparison.skipped)
    return f"**Skipped {len(comparison.skipped)} file(s)** (the rest were scored):\n{items}"


def confusable_table(comparison: Comparison, key: str, pairs: Sequence[ConfusablePair]) -> Table:
    """The most alike class pairs under one strategy, with how many images they split."""
    result = comparison.strategies[key]
    names = [cls.display for cls in comparison.classes]
    order = result.predictions(2) if len(names) > 1 else None
    margins = top2_margins(result.probabilities)
    rows = []
    for pair in pairs:
        close = 0
        if order is not None:
            both = {pair.first, pair.second}
            close = int(sum(1 for i, top in enumerate(order) if set(top.tolist()) == both and margins[i] < 0.2))
        rows.append([names[pair.first], names[pair.second], f"{pair.similarity:.3f}", str(close)])
    headers = ["Class", "Looks like", "Text similarity (cosine)", "Images split between the two"]
    return headers, rows


def descriptions_preview(data: Mapping[str, list[str]]) -> str:
    """A safe Markdown preview of descriptions: a few items per class, escaped."""
    if not data:
        return "_No descriptions yet._"
    blocks = []
    for name, items in data.items():
        shown = "\n".join(f"  - {md_escape(item)}" for item in items[:PREVIEW_ITEMS])
        more = f"\n  - _…and {len(items) - PREVIEW_ITEMS} more_" if len(items) > PREVIEW_ITEMS else ""
        blocks.append(f"- **{md_escape(name)}** ({len(items)})\n{shown}{more}")
    return "\n".join(blocks)
