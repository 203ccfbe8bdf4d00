"""Tables and Markdown built from plain results for the page (never imports gradio).

User- and LLM-provided text is escaped with ``md_escape`` before it reaches Markdown, so it
shows literally and cannot add links, images or HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from components.glossary import PROBABILITY_TERMS, glossary_entries
from components.report import METRIC_COLUMNS
from components.thumbnails import thumbnails
from prompting.evaluation.disambiguation import ConfusablePair, top2_margins
from prompting.evaluation.export import (
    PAIRED_HEADERS,
    encoder_summary,
    finite,
    headline,
    paired_rows,
    plain_language_summary,
    seed_spread,
    top1_indices,
)
from prompting.evaluation.metrics import TEMPERATURE_BOUNDS, temperature_at_limit
from prompting.evaluation.paired import PairedComparison
from prompting.evaluation.results import Comparison, StrategyResult
from prompting.strategies.fudd import AmbiguousPair, FuddChange

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>:])")
PREVIEW_ITEMS = 5
SMALL_SAMPLE = 30
Table = tuple[list[str], list[list[str]]]
# Short column headings (no long words, so headers never break mid-word); the glossary gives the full names.
SHORT_HEADINGS = {
    "top1": "Top-1 (95% interval)",
    "top5": "Top-5",
    "mean_per_class_recall": "Per-class recall",
    "ece": "ECE",
    "mce": "MCE",
    "brier": "Brier",
    "nll": "NLL",
    "temperature": "Temp.",
    "ece_after_temperature": "ECE after temp.",
    "nll_after_temperature": "NLL after temp.",
}
AFTER_TEMPERATURE = ("ece_after_temperature", "nll_after_temperature")
SIGMOID_MARK = "sigmoid†"  # short, so the calibration columns stay in view; ``SIGMOID_CAUTION`` explains it
SIGMOID_CAUTION = (
    "† Sigmoid scores (SigLIP) rate each class on its own; the calibration columns of those rows (ECE, MCE, "
    "Brier, NLL, temperature) use the softmax over their logits."
)
NO_LABEL_MATCH = "No true class matched the class list"
NOT_IN_LIST = "(not in the class list)"  # after a typed true class that matches no class
LEAD_METRIC = "top1"  # right after the strategy, so it stays in view on a phone
# The page's paired table leads with the pair, its verdict and the top-1 difference (then PAIRED_HEADERS' other
# columns in their order), so the answer stays in view on a phone.
PAIRED_LEAD = ("Strategy", "vs", "Verdict", "Top-1 difference, points (95% CI)")


def md_escape(text: object) -> str:
    """Text that Markdown renders literally: HTML escaped, Markdown punctuation backslashed
    (``:`` too, so ``http://...`` is not turned into a link)."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=False))


def _kinds(comparison: Comparison) -> list[str]:
    """The probability kinds among the results (two when CLIP and SigLIP are compared)."""
    return sorted({result.probability_kind for result in comparison.strategies.values()})


def predictions_table(comparison: Comparison, thumbnail_size: int | None = None,
                      given_labels: Mapping[str, str] | None = None) -> Table:
    """Rows = images; one column per strategy with its top class, probability and ✓/✗, as HTML
    cells (every name escaped). With ``thumbnail_size`` the image column shows a small embedded
    thumbnail before the name (for the first ``THUMBNAIL_LIMIT`` images). ``given_labels``: by
    image path, the true class typed for an image that matched no class, shown by name with a note
    (see ``true_class_cell``)."""
    names = [cls.display for cls in comparison.classes]
    given = [(given_labels or {}).get(image.path) for image in comparison.images]
    labelled = any(image.label is not None or (text or "").strip() for image, text in zip(comparison.images, given))
    headers = ["Image"] + (["True class"] if labelled else [])
    mixed = len(_kinds(comparison)) > 1
    headers += [f"{r.label} ({r.probability_kind})" if mixed else r.label for r in comparison.strategies.values()]
    predicted = {key: top1_indices(result) for key, result in comparison.strategies.items()}
    pictures = thumbnails([image.path for image in comparison.images], thumbnail_size) if thumbnail_size else []
    rows = []
    for i, image in enumerate(comparison.images):
        picture = pictures[i] if pictures else None
        thumbnail = f'<img class="thumb" src="{picture}" alt="" loading="lazy">' if picture else ""
        cell = thumbnail + html.escape(image.name)
        row = [cell] + ([true_class_cell(names, image.label, given[i])] if labelled else [])
        for key, result in comparison.strategies.items():
            k = int(predicted[key][i])
            row.append(f"{_mark(k, image.label)}{html.escape(names[k])} ({result.probabilities[i, k]:.2f})")
        rows.append(row)
    return headers, rows


def true_class_cell(names: Sequence[str], label: int | None, given: str | None) -> str:
    """An image's true class as an escaped HTML cell: its class name; a typed true class that is not
    in the class list, by name with ``NOT_IN_LIST``; "?" when none was given."""
    if label is not None:
        return html.escape(names[label])
    text = " ".join((given or "").split())
    return f"{html.escape(text)} {NOT_IN_LIST}" if text else "?"


def _mark(predicted: int, label: int | None) -> str:
    """A coloured ✓ or ✗ (with its meaning for screen readers), nothing without a true class."""
    if label is None:
        return ""
    right = predicted == label
    return (f'<span class="mark {"right" if right else "wrong"}" title="{"right" if right else "wrong"}">'
            f'{"✓" if right else "✗"}</span> ')


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``1 class``, ``2 classes``: the count with the right form of ``noun``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural_form or (noun + 'es' if noun.endswith(('s', 'x', 'ch', 'sh')) else noun + 's')}"


def temperature_limit(result: StrategyResult) -> str | None:
    """"high" or "low" when the fitted temperature hit its search bound, else None.

    Uses the metrics' ``temperature_at_limit`` flag; metrics without that key are checked
    against the bounds directly.
    """
    metrics = result.metrics or {}
    temperature = finite(metrics.get("temperature"))
    flag = metrics.get("temperature_at_limit")
    if flag is None and temperature is not None:
        flag = temperature_at_limit(temperature)
    if not flag:
        return None
    return "low" if temperature is not None and temperature < 1 else "high"


def top1_text(metrics: Mapping[str, object]) -> str:
    """Top-1 as counts, share and 95% interval when known: ``7/10 · 70% (40–89%)``."""
    value = finite(metrics.get("top1"))
    if value is None:
        return "–"
    n = finite(metrics.get("n_images"))
    correct = finite(metrics.get("top1_correct"))
    if correct is None and n is not None:
        correct = round(value * n)
    text = f"{value:.0%}" if n is None or correct is None else f"{int(correct)}/{int(n)} · {value:.0%}"
    interval = metrics.get("top1_interval")
    if isinstance(interval, (list, tuple)) and len(interval) == 2:
        low, high = finite(interval[0]), finite(interval[1])
        if low is not None and high is not None:
            text += f" ({low * 100:.0f}–{high:.0%})"
    return text


def _metric_cell(result: StrategyResult, key: str, formatter: object) -> str:
    metrics = result.metrics or {}
    limit = temperature_limit(result)
    if limit and key == "temperature":
        low, high = TEMPERATURE_BOUNDS
        return f"≥{high:g} (limit)" if limit == "high" else f"≤{low:g} (limit)"
    if limit and key in AFTER_TEMPERATURE:
        return "–"
    value = finite(metrics.get(key))
    return "–" if value is None else formatter(value)  # type: ignore[operator]


def metrics_table(comparison: Comparison) -> Table:
    """Rows = strategies: top-1 accuracy first (so it stays in view on a phone), then images, kind
    of scores, the other accuracy and calibration metrics, and Waffle's spread over seeds (that
    column only when some strategy has several seeds)."""
    results = list(comparison.strategies.values())
    spreads = [seed_spread(result, "top1") for result in results]
    seeded = any(spread is not None for spread in spreads)
    others = [column for column in METRIC_COLUMNS if column[0] != LEAD_METRIC]
    headers = ["Strategy", SHORT_HEADINGS[LEAD_METRIC], "Images", "Scores"]
    headers += [SHORT_HEADINGS.get(key, heading) for key, heading, *_ in others]
    headers += ["Top-1 over seeds"] if seeded else []
    rows = []
    for result, spread in zip(results, spreads):
        metrics = result.metrics or {}
        n = finite(metrics.get("n_images"))
        kind = SIGMOID_MARK if result.probability_kind == "sigmoid" else "softmax"
        row = [result.label, top1_text(metrics), "–" if n is None else str(int(n)), kind]
        row += [_metric_cell(result, key, formatter) for key, _, formatter, _, _ in others]
        if seeded:
            row.append("–" if spread is None else f"{spread[0]:.1%} ± {spread[1]:.1%} ({spread[4]} seeds)")
        rows.append(row)
    return headers, rows


def unmatched_labels_note(unmatched: Mapping[str, int], any_matched: bool) -> str:
    """What to say when typed true classes are not in the class list ('' when all matched):
    each such class by name with how many images carry it. ``unmatched``: label -> images."""
    if not unmatched:
        return ""
    labels = list(unmatched)
    named = ", ".join(f"'{label}'" + (f" ({unmatched[label]} images)" if unmatched[label] > 1 else "")
                      for label in labels[:PREVIEW_ITEMS])
    named += f", and {len(labels) - PREVIEW_ITEMS} more" if len(labels) > PREVIEW_ITEMS else ""
    if not any_matched:
        head = (
            f"The true class you gave does not match your class list: {named}."
            if len(unmatched) == 1 else
            f"None of the {len(unmatched)} true classes match your class list: {named}."
        )
        return head + " Write true classes exactly as in the class list to measure accuracy."
    images = sum(unmatched.values())
    if len(unmatched) == 1:
        label = next(iter(unmatched))
        return (f"{plural(images, 'image')} {'is' if images == 1 else 'are'} labelled '{label}', which is not in the "
                f"class list: add it or {'that image is' if images == 1 else 'those images are'} left out.")
    return (f"{plural(images, 'image')} are labelled with classes that are not in the class list ({named}): add "
            "them or those images are left out.")


def unlabelled_note(comparison: Comparison, unmatched: Mapping[str, int]) -> str:
    """How many images have no true class at all, when others have one ('' otherwise)."""
    labelled = sum(image.label is not None for image in comparison.images)
    blank = len(comparison.images) - labelled - sum(unmatched.values())
    if not labelled or blank <= 0:
        return ""
    return (f"{plural(blank, 'image')} {'has' if blank == 1 else 'have'} no true class: fill "
            f"{'it' if blank == 1 else 'them'} in under 1 · Images to include {'it' if blank == 1 else 'them'}.")


def label_gap_notes(comparison: Comparison, unmatched: Mapping[str, int]) -> list[str]:
    """Why some images are left out of accuracy (true class not in the list, or none given), as
    the Summary and the Accuracy tab both say it; empty when every image counts or none does."""
    labelled = sum(image.label is not None for image in comparison.images)
    if not labelled:
        return []
    notes = [unmatched_labels_note(unmatched, any_matched=True), unlabelled_note(comparison, unmatched)]
    return [note for note in notes if note]


def metrics_cautions(comparison: Comparison) -> list[str]:
    """Plain sentences (Markdown) that must be read with the metrics table: a small sample,
    temperatures at their search limit, and what the sigmoid rows' calibration columns rest on."""
    results = [result for result in comparison.strategies.values() if result.metrics]
    if not results:
        return []
    notes = []
    n = finite((results[0].metrics or {}).get("n_images"))
    n = int(n) if n is not None else len(comparison.images)
    if n < SMALL_SAMPLE:
        notes.append(f"⚠️ Only {plural(n, 'labelled image')}: differences of a few images can be chance.")
    for side, why in (
        ("high", "the scores carry no usable confidence signal on these images"),
        ("low", "sharpening the scores kept helping, as when every top prediction is right"),
    ):
        limited = [result.label for result in results if temperature_limit(result) == side]
        if limited:
            names = ", ".join(f"“{md_escape(label)}”" for label in limited)
            bound = "upper" if side == "high" else "lower"
            notes.append(
                f"⚠️ The fitted temperature hit its {bound} search limit for {names}: {why}, so the columns "
                "after temperature are left empty (–)."
            )
    if any(result.probability_kind == "sigmoid" for result in results):
        notes.append(SIGMOID_CAUTION)
    return notes


def metric_help() -> str:
    """A short glossary of the metric columns (short heading and full name), as Markdown."""
    lines = [
        "- **Images**: how many labelled images the numbers are measured on.",
        (
            "- **Scores**: softmax probabilities compete and add up to 1 over your classes; sigmoid scores "
            "(SigLIP) rate each class on its own."
        ),
    ]
    for key, heading, _, _, explanation in METRIC_COLUMNS:
        short = SHORT_HEADINGS.get(key, heading)
        name = f"**{short}** ({heading})" if short != heading else f"**{heading}**"
        if key == "top1":
            explanation += "; shown as correct/labelled · share (95% interval: where the accuracy on many more " \
                           "such images would likely fall)"
        lines.append(f"- {name}: {explanation}.")
    return "\n".join(lines)


def summary_markdown(
    comparison: Comparison, extra_notes: Sequence[str] = (), labels_unmatched: bool = False,
    pairs: list[PairedComparison] | None = None,
) -> str:
    """The plain-language summary as a Markdown list, with the probability's honest name.

    ``labels_unmatched``: true classes were given but none is in the class list, so the
    summary must not claim that none were given. ``pairs``: the paired comparisons if known.
    """
    sentences = plain_language_summary(comparison, pairs)
    if labels_unmatched:
        sentences = [sentence.replace("No true classes were given", NO_LABEL_MATCH) for sentence in sentences]
    lines = [f"- {md_escape(sentence)}" for sentence in sentences]
    lines += [f"- {md_escape(note)}" for note in extra_notes]
    kinds = _kinds(comparison)
    footer = "Numbers in brackets: how sure each approach was of its answer, from 0 to 1"
    if len(kinds) == 1:
        footer += f" (its **{PROBABILITY_TERMS[kinds[0]][0]}**; see *What do these words mean?*)."
    else:
        footer += (": a **softmax probability** in columns marked (softmax), a **sigmoid score** in columns marked "
                   "(sigmoid); see *What do these words mean?*.")
    if encoded := encoder_summary(comparison):
        footer += f" Encoding: {encoded}."
    return "\n".join(lines) + "\n\n" + footer


def headline_markdown(comparison: Comparison, pairs: list[PairedComparison] | None = None) -> str:
    """The headline in bold ('' when there is nothing to say)."""
    text = headline(comparison, pairs)
    return f"**{md_escape(text)}**" if text else ""


def glossary_markdown(comparison: Comparison) -> str:
    """The run's terms in plain words, as a Markdown list."""
    return "\n".join(f"- **{md_escape(term)}**: {md_escape(text)}." for term, text in glossary_entries(comparison))


def paired_table(pairs: Sequence[PairedComparison]) -> Table:
    """The pairwise table: each pair of strategies, the better-scoring one first, its verdict and
    top-1 difference right after the pair (``PAIRED_LEAD``), then every other column."""
    order = [PAIRED_HEADERS.index(heading) for heading in PAIRED_LEAD]
    order += [index for index in range(len(PAIRED_HEADERS)) if index not in order]
    return [PAIRED_HEADERS[index] for index in order], [[row[index] for index in order]
                                                        for row in paired_rows(list(pairs))]


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


def fudd_pairs_table(names: Sequence[str], pairs: Sequence[AmbiguousPair], k: int,
                     changes: Sequence[FuddChange] | None) -> Table:
    """FuDD's look-alike pairs: how many images hold both in their top k and, after a FuDD run,
    how many images moved between the two."""
    headers = ["Pair", f"Images with both in their top {k}", "Changed by FuDD"]
    rows = []
    for pair in pairs:
        both = {pair.first, pair.second}
        moved = "–" if changes is None else str(sum(1 for c in changes if {c.before, c.after} == both))
        rows.append([f"{names[pair.first]} / {names[pair.second]}", str(pair.images), moved])
    return headers, rows


def pair_descriptions_markdown(first: str, second: str, differences: Sequence[tuple[str, str, str]],
                               changed: Sequence[str] | None) -> str:
    """One pair's differential descriptions as an escaped Markdown table, then the images FuDD
    moved between the two classes (after a FuDD run)."""
    if differences:
        lines = [f"| Attribute | {md_escape(first)} | {md_escape(second)} |", "|---|---|---|"]
        lines += [f"| {md_escape(attribute or '–')} | {md_escape(a)} | {md_escape(b)} |"
                  for attribute, a, b in differences]
    else:
        lines = [f"_No differential descriptions for {md_escape(first)} / {md_escape(second)} yet: generate, "
                 "write or import them. Without them FuDD uses “a photo of a {class}.” for this pair._"]
    if changed is not None:
        moved = ", ".join(md_escape(item) for item in changed) if changed else "none"
        lines += ["", f"**Images FuDD moved between these two:** {moved}"]
    return "\n".join(lines)
