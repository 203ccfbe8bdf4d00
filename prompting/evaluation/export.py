"""Comparison -> JSON-ready dict, CSV text and plain-language summary sentences."""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from itertools import groupby
from typing import Any

import numpy as np

from prompting.evaluation.paired import PairedComparison, paired_comparisons
from prompting.evaluation.results import Comparison, StrategyResult
from prompting.strategies.fudd import FuddChange, FuddDetails
from prompting.vectors import softmax

DECIMALS = 6
SUMMARY_METRICS = ("top1", "top5", "mean_per_class_recall", "ece", "mce", "brier", "nll")
ENCODER_KEYS = ("prompts_encoded", "prompts_cached", "prompts_shared", "images_encoded", "images_cached")
SMALL_SAMPLE = 30
CHANCE_ALPHA = 0.05  # near_chance: guessing reaching the best count this often is "not clearly better"
ONE_CLASS = (
    "Only one class: a softmax over one class is always 1.00, so its probabilities say nothing. Add the "
    "classes the images could be mistaken for."
)
FUDD_EVIDENCE_SHOWN = 2  # differences named per changed image in tables and the report
QUANTIZED_NOTE = (
    "The model ran with int8 dynamic quantisation of its linear layers (faster on a CPU), so its scores can "
    "differ slightly from the full-precision model's."
)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PROBABILITY_MEANINGS = {
    "softmax": "softmax probability over your classes (they add up to 1)",
    "sigmoid": "sigmoid score, independent per class (they need not add up to 1)",
}
MIXED_MEANING = (
    "mixed: each strategy's probability_meaning says whether its probabilities are softmax probabilities or "
    "independent sigmoid scores"
)
# What each strategy does, in words a stakeholder reads without a glossary (registry name -> noun phrase);
# the headline gives these first and the strategy's own label after them, for the tables.
PLAIN_NAMES = {
    "classname": "just the class name",
    "template": "sentence templates around the class name",
    "ensemble80": "CLIP's 80 ready-made sentences, averaged",
    "ensemble7": "7 ready-made sentences, averaged",
    "cupl": "descriptions written by a language model",
    "dclip": "visual features listed by a language model",
    "waffle": "random words added to the class name",
    "zpe": "ready-made sentences weighted by how sure each makes the model",
    "autoclip": "ready-made sentences weighted anew for each image",
    "selected": "sentences picked on these images",
    "fudd": "descriptions that tell look-alike classes apart",
}
CALIBRATION_PROBABILITIES = (
    "softmax over this strategy's logits: the probabilities its top-label calibration metrics (ECE, MCE, Brier, "
    "NLL, reliability, temperature) are computed on"
)


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: numpy -> Python, floats rounded to 6 decimals, NaN/inf -> None."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return round(number, DECIMALS) if math.isfinite(number) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def seed_spread(result: StrategyResult, key: str = "top1") -> tuple[float, float, float, float, int] | None:
    """(mean, std, min, max, seeds) of a metric over ``seed_runs``; None with < 2 seeds.

    The standard deviation is the population one, as in the CLI's table.
    """
    values = [v for v in (finite(run.get(key)) for run in result.seed_runs) if v is not None]
    if len(values) < 2:
        return None
    array = np.asarray(values)
    return float(array.mean()), float(array.std()), float(array.min()), float(array.max()), len(values)


def probability_meaning(comparison: Comparison) -> str:
    """What the comparison's probabilities are: one meaning, or "mixed" when CLIP-family (softmax)
    and SigLIP (sigmoid) results sit side by side."""
    kinds = {result.probability_kind for result in comparison.strategies.values()} or {comparison.probability_kind}
    return PROBABILITY_MEANINGS[kinds.pop()] if len(kinds) == 1 else MIXED_MEANING


def top1_indices(result: StrategyResult) -> np.ndarray:
    """Predicted class index per image (ties broken by class order)."""
    return result.predictions(1)[:, 0]


def comparison_to_dict(comparison: Comparison, pairs: list[PairedComparison] | None = None) -> dict[str, Any]:
    """The comparison in the stable JSON shape shared by the CLI's ``--json`` and downloads
    (``pairs``: its ``paired_comparisons`` when the caller has them already)."""
    pairs = paired_comparisons(comparison) if pairs is None else pairs
    names = [cls.display for cls in comparison.classes]
    return {
        "model": comparison.model,
        "quantization": comparison.quantization,
        "classes": names,
        "class_prompt_names": [cls.prompt for cls in comparison.classes],
        "images": [{"path": img.path, "label": _label_name(img.label, names)} for img in comparison.images],
        "skipped": [{"path": item.get("path"), "reason": item.get("reason")} for item in comparison.skipped],
        "strategies": {name: _strategy_dict(result, names) for name, result in comparison.strategies.items()},
        "strategy_errors": dict(comparison.strategy_errors),
        "probability_meaning": probability_meaning(comparison),
        "encoder": {key: to_jsonable(comparison.encoder_stats.get(key)) for key in ENCODER_KEYS},
        "paired": [to_jsonable(pair.as_dict()) for pair in pairs],
    }


def _label_name(label: int | None, names: list[str]) -> str | None:
    return None if label is None else names[label]


def _strategy_dict(result: StrategyResult, names: list[str]) -> dict[str, Any]:
    metrics = None
    if result.metrics is not None:
        ordered = {key: result.metrics.get(key) for key in SUMMARY_METRICS}
        ordered.update({key: value for key, value in result.metrics.items() if key not in ordered})
        metrics = to_jsonable(ordered)
    calibration = {}
    if result.probability_kind == "sigmoid":
        calibration = {
            "calibration_probabilities": to_jsonable(softmax(np.asarray(result.logits, dtype=float), axis=1)),
            "calibration_probabilities_meaning": CALIBRATION_PROBABILITIES,
        }
    return {
        "label": result.label,
        "probability_kind": result.probability_kind,
        "probability_meaning": PROBABILITY_MEANINGS[result.probability_kind],
        "probabilities": to_jsonable(np.asarray(result.probabilities, dtype=float)),
        **calibration,
        "predictions": [names[int(k)] for k in top1_indices(result)],
        "metrics": metrics,
        "seed_runs": to_jsonable(result.seed_runs),
        "notes": [str(note) for note in result.notes],
        "weights": _weights_dict(result),
        **({"fudd": fudd_to_dict(result.fudd, names)} if result.fudd is not None else {}),
    }


def _weights_dict(result: StrategyResult) -> dict[str, Any] | None:
    """ZPE's template weights (one list) or AutoCLIP's (one list per image); None otherwise."""
    if result.prompt_weights is None:
        return None
    per_image = np.ndim(result.prompt_weights) == 2
    return {"templates": list(result.weight_templates), "per_image": per_image,
            "values": to_jsonable(np.asarray(result.prompt_weights, dtype=float))}


def fudd_to_dict(details: FuddDetails, names: list[str]) -> dict[str, Any]:
    """FuDD's working as JSON: base, k, each image's ambiguous set, the pairs (most images first),
    the pairs without descriptions, and every image whose top class changed with the differences
    that moved it (``image`` indexes ``images``)."""
    return to_jsonable({
        "base": details.base_label,
        "base_computed": details.base_computed,
        "k": details.k,
        "ambiguous_sets": [[names[c] for c in row] for row in details.sets.tolist()],
        "pairs": [{"classes": [names[p.first], names[p.second]], "images": p.images} for p in details.pairs],
        "missing_pairs": [[names[i], names[j]] for i, j in details.missing_pairs],
        "images_missing": details.images_missing,
        "changed": [{
            "image": change.image, "before": names[change.before], "after": names[change.after],
            "before_cosine": change.before_cosine, "after_cosine": change.after_cosine,
            "why": [{"attribute": e.attribute, "after": e.after_text, "after_cosine": e.after_cosine,
                     "before": e.before_text, "before_cosine": e.before_cosine} for e in change.evidence],
        } for change in details.changes],
    })


def fudd_why_text(change: FuddChange, names: list[str]) -> str:
    """The differences that moved one image, in words with their cosines (the strongest
    ``FUDD_EVIDENCE_SHOWN``)."""
    if not change.evidence:
        return (f"{names[change.after]} {change.after_cosine:.3f} vs {names[change.before]} "
                f"{change.before_cosine:.3f} (no descriptions for this pair)")
    parts = [f"{item.attribute or 'difference'}: “{item.after_text}” {item.after_cosine:.3f} vs "
             f"“{item.before_text}” {item.before_cosine:.3f}" for item in change.evidence[:FUDD_EVIDENCE_SHOWN]]
    return "; ".join(parts)


def comparison_to_csv(comparison: Comparison) -> str:
    """One CSV row per (image, strategy) with the prediction and every class's probability.

    Images are named, never located (no server paths); ``probability_kind`` says whether a
    row's ``p(...)`` columns are softmax probabilities or independent sigmoid scores.
    """
    names = [cls.display for cls in comparison.classes]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["image_name", "label", "strategy", "strategy_label", "probability_kind", "prediction",
              "top_probability", "correct"]
    writer.writerow(header + [f"p({name})" for name in names])
    for name, result in comparison.strategies.items():
        predicted = top1_indices(result)
        for i, img in enumerate(comparison.images):
            k = int(predicted[i])
            probabilities = np.asarray(result.probabilities[i], dtype=float)
            correct = "" if img.label is None else str(img.label == k).lower()
            writer.writerow([
                _csv_text(img.name), _csv_text(_label_name(img.label, names) or ""),
                _csv_text(name), _csv_text(result.label), result.probability_kind, _csv_text(names[k]),
                _csv_number(probabilities[k]), correct,
                *(_csv_number(p) for p in probabilities),
            ])
    return out.getvalue()


def _csv_text(text: str) -> str:
    """Neutralise text a spreadsheet would run as a formula (CSV injection)."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _csv_number(value: float) -> str:
    number = finite(value)
    return "" if number is None else f"{number:.{DECIMALS}f}"


def plain_language_summary(comparison: Comparison, pairs: list[PairedComparison] | None = None) -> list[str]:
    """Short, honest sentences for stakeholders: accuracy (or agreement), whether the best strategy
    really beats the next one, caveats, skipped files. ``pairs`` are the comparison's
    ``paired_comparisons`` when the caller has them already. For a sampled stored set, the
    sentences written about the whole set."""
    if comparison.summary is not None:
        return list(comparison.summary)
    if not comparison.strategies:
        return ["No strategies were run."] + _problem_sentences(comparison)
    if not comparison.images:
        return ["No images were scored."] + _problem_sentences(comparison)
    labelled = [i for i, img in enumerate(comparison.images) if img.label is not None]
    if labelled:
        pairs = paired_comparisons(comparison) if pairs is None else pairs
        sentences = _accuracy_sentences(comparison, labelled, pairs)
    else:
        sentences = _agreement_sentences(comparison)
    sentences += _seed_sentences(comparison)
    sample = len(labelled) or len(comparison.images)
    if sample == 1:
        sentences.append("These results come from a single image: they show how the strategies behave, not which "
                         "is better.")
    elif sample < SMALL_SAMPLE:
        sentences.append(
            f"These results come from only {_count(sample, 'image')}, so differences of one or two "
            "images may be chance."
        )
    if comparison.quantization:
        sentences.append(QUANTIZED_NOTE)
    return sentences + _problem_sentences(comparison)


def encoder_summary(comparison: Comparison) -> str:
    """What the run encoded, and what it reused ('' when the run did not say): prompts from the
    cache of earlier runs apart from prompts shared by several strategies of this run, then the
    images (when the run counted them: a stored set's images were encoded when it was built)."""
    stats = comparison.encoder_stats
    if not stats:
        return ""
    text = (f"{_count(stats.get('prompts_encoded', 0), 'prompt')} newly encoded, "
            f"{stats.get('prompts_cached', 0)} reused from the cache of earlier runs")
    shared = stats.get("prompts_shared", 0)
    text += f", {shared} shared by several strategies of this run (encoded once)" if shared else ""
    if "images_encoded" in stats:
        text += (f"; {_count(stats['images_encoded'], 'image')} newly encoded, "
                 f"{stats.get('images_cached', 0)} reused from the cache")
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _quoted(labels: list[str]) -> str:
    return _and([f'"{label}"' for label in labels])


def base_strategy(key: str) -> str:
    """The registry name behind a result key: ``waffle``, ``waffle-2`` (a repeat) and
    ``waffle@clip`` (one of two models) are all ``waffle``."""
    name = key.split("@", 1)[0]
    head, _, tail = name.rpartition("-")
    return head if head and tail.isdigit() else name


def plain_name(key: str, label: str) -> str:
    """A result in plain words, its label after them (``key`` as in ``Comparison.strategies``)."""
    phrase = PLAIN_NAMES.get(base_strategy(key))
    return f"{phrase} (“{label}”)" if phrase else f"“{label}”"


def correct_counts(comparison: Comparison, labelled: list[int]) -> tuple[dict[str, int], list[str]]:
    """Images each result got right among the ``labelled`` images, and the results best first (ties
    in the results' order)."""
    truth = np.array([comparison.images[i].label for i in labelled], dtype=int)
    correct = {
        name: int((top1_indices(result)[labelled] == truth).sum())
        for name, result in comparison.strategies.items()
    }
    return correct, sorted(correct, key=lambda name: -correct[name])


def one_class_note(comparison: Comparison) -> str | None:
    """``ONE_CLASS`` when a softmax strategy scored a single class (its probabilities are all 1)."""
    softmax = any(result.probability_kind == "softmax" for result in comparison.strategies.values())
    return ONE_CLASS if len(comparison.classes) == 1 and softmax else None


def headline(comparison: Comparison, pairs: list[PairedComparison] | None = None) -> str:
    """One plain sentence for the top of the results: which approach did best on these images, by
    how much, and whether that could be chance (the paired comparison of the best two decides:
    a winner only when its interval excludes zero), then a warning when even the best is not
    clearly better than random guessing (``near_chance``). Without true classes: how far they
    agreed. For a sampled stored set, the headline written about the whole set."""
    if comparison.headline is not None:
        return comparison.headline
    results = comparison.strategies
    if not results or not comparison.images:
        return ""
    names = {key: plain_name(key, result.label) for key, result in results.items()}
    labelled = [i for i, img in enumerate(comparison.images) if img.label is not None]
    if not labelled:
        return _unlabelled_headline(comparison, names)
    correct, ranked = correct_counts(comparison, labelled)
    text = _winner_headline(comparison, names, labelled, correct, ranked, pairs)
    n_classes = len(comparison.classes)
    if near_chance(correct[ranked[0]], len(labelled), n_classes):
        text += (f" Random guessing among {n_classes} classes would get about 1 in {n_classes} right, so these "
                 "results are not clearly better than guessing.")
    return text


def near_chance(correct: int, n: int, n_classes: int) -> bool:
    """Whether ``correct`` of ``n`` right is not clearly better than guessing among ``n_classes``
    classes (chance rate 1/n_classes): below twice the chance rate (with 3 or more classes; with 2,
    twice chance would be perfect), or a count that guessing reaches at least 1 time in 20
    (one-sided binomial tail), as it often does on few images. Never with fewer than 2 classes."""
    if n_classes < 2 or n < 1:
        return False
    chance = 1 / n_classes
    if n_classes > 2 and correct < 2 * chance * n:
        return True
    from scipy.stats import binom  # imported here: only labelled headlines need it

    return float(binom.sf(correct - 1, n, chance)) >= CHANCE_ALPHA


def _winner_headline(comparison: Comparison, names: dict[str, str], labelled: list[int],
                     correct: dict[str, int], ranked: list[str], pairs: list[PairedComparison] | None) -> str:
    """The best approach on the ``labelled`` images, by how much, and whether that could be chance."""
    n = len(labelled)
    where = f"these {_count(n, 'image')}" if n == len(comparison.images) else f"the {_count(n, 'labelled image')}"
    best = ranked[0]
    if len(ranked) == 1:
        return f"{_capital(names[best])} got {correct[best]} of {n} images right."
    tied = [key for key in ranked if correct[key] == correct[best]]
    if len(tied) > 1:
        if len(tied) < len(ranked):
            who = _and([names[key] for key in tied]) + " each"
        else:
            who = "both approaches" if len(tied) == 2 else f"all {len(tied)} approaches"
        return f"No approach did better on {where}: {who} got {correct[best]} of {n} right."
    runner_up = ranked[1]
    pairs = paired_comparisons(comparison) if pairs is None else pairs
    pair = next((p for p in pairs if {p.a, p.b} == {best, runner_up}), None)
    versus = f"{correct[best]} of {n} right against {correct[runner_up]} for {names[runner_up]}"
    if pair is None:
        return f"Most right on {where}: {names[best]}, {versus}."
    pair = pair if pair.a == best else pair.swapped()
    gap = f"{points(pair.delta_top1, n)} points"
    if pair.decided:
        low, high = (points(value, n) for value in pair.ci95)
        return (f"Best on {where}: {names[best]}, {versus}. A gap this size ({gap}; 95% interval {low} to {high}) "
                "is unlikely to be chance.")
    return (f"Most right on {where}: {names[best]}, {versus}; but a gap this small ({gap}) could be chance, so "
            "these images cannot tell the two apart.")


def _unlabelled_headline(comparison: Comparison, names: dict[str, str]) -> str:
    """Without true classes no winner can be named: say how far the approaches agreed."""
    n = len(comparison.images)
    if len(names) == 1:
        return (f"{_capital(next(iter(names.values())))} sorted {_count(n, 'image')}; without their true classes, "
                "how often it is right cannot be measured.")
    predictions = np.stack([top1_indices(result) for result in comparison.strategies.values()])
    agree = int((predictions == predictions[0]).all(axis=0).sum())
    who = "the two approaches" if len(names) == 2 else f"all {len(names)} approaches"
    return (f"No true classes were given, so no winner can be named; {who} gave the same answer for {agree} of "
            f"{_count(n, 'image')}.")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _accuracy_sentences(comparison: Comparison, labelled: list[int], pairs: list[PairedComparison]) -> list[str]:
    correct, ranked = correct_counts(comparison, labelled)
    truth = np.array([comparison.images[i].label for i in labelled], dtype=int)
    groups = [list(group) for _, group in groupby(ranked, key=correct.get)]
    total = len(labelled)
    partial = total < len(comparison.images)
    noun = ("labelled " if partial else "") + ("image was" if total == 1 else "images were")
    who = [_quoted([comparison.strategies[name].label for name in group]) for group in groups]
    first = f"With {who[0]}, {correct[groups[0][0]]} of {total} {noun} classified correctly"
    rest = [f"with {who[g]}, {correct[groups[g][0]]} of {total}" for g in range(1, len(groups))]
    sentences = []
    if partial:
        sentences.append(coverage_sentence(total, len(comparison.images)))
    sentences.append("; ".join([first, *rest]) + ".")
    sentences += paired_sentences(ranked, pairs)
    sentences += _mistake_sentences(comparison, ranked[0], labelled, truth)
    return sentences + _calibration_sentences(comparison)


def coverage_sentence(labelled: int, total: int) -> str:
    """Which images accuracy is measured on, when only some have a known true class."""
    return f"Accuracy is measured on {labelled} of {total} images: those with a known true class in the class list."


def points(value: float, n_images: int, signed: bool = False) -> str:
    """A share as percentage points, to the resolution ``n_images`` gives (one image is 100/n
    points): whole points up to 100 images, one decimal beyond; never a signed zero."""
    decimals = 0 if n_images <= 100 else 1
    number = round(value * 100, decimals) + 0.0
    return f"{number:+.{decimals}f}" if signed and number else f"{number:.{decimals}f}"


def paired_verdict(pair: PairedComparison, several: bool) -> str:
    """One sentence on A vs B (A is the better-scoring one): a winner only when the interval for
    the difference excludes zero; otherwise that these images cannot tell them apart."""
    low, high = pair.ci95
    n = pair.n_images
    interval = f"95% CI {points(low, n, True)} to {points(high, n, True)}"
    p_value = pair.holm_p if several else pair.mcnemar_p
    p_text = f"p = {p_value:.2g}" + (" after adjusting for several comparisons" if several else "")
    if pair.decided:
        return (f'"{pair.label_a}" beats "{pair.label_b}" by {points(pair.delta_top1, n)} points ({interval}); '
                f"unlikely to be chance ({p_text}).")
    sentence = (f'On these {pair.n_images} images, "{pair.label_a}" and "{pair.label_b}" cannot be told apart '
                f"(difference {points(pair.delta_top1, n, True)} points, {interval}).")
    if pair.images_needed is None:
        if pair.a_only == pair.b_only == 0:
            return sentence + " They got exactly the same images right."
        return sentence + f" Each got {_count(pair.a_only, 'image')} right that the other missed."
    return sentence + (f" Roughly {_round_up(pair.images_needed)} labelled images would be needed to tell whether "
                       "a difference this size is real.")


PAIRED_HEADERS = [
    "Strategy", "vs", "Top-1 difference, points (95% CI)", "Only first right", "Only second right", "McNemar p",
    "Holm p", "Recall difference, points (95% CI)", "Verdict",
]


def paired_rows(pairs: list[PairedComparison]) -> list[list[str]]:
    """One row per pair for tables (page, report, CLI): each pair read with the better-scoring
    strategy first, so differences are never negative."""
    rows = []
    for pair in pairs:
        pair = pair.swapped() if pair.delta_top1 < 0 else pair
        n = pair.n_images
        if pair.decided:
            verdict = "real difference"
        elif pair.images_needed:
            verdict = f"can't tell (~{_round_up(pair.images_needed)} images needed)"
        else:
            verdict = "can't tell"
        rows.append([
            pair.label_a, pair.label_b,
            f"{points(pair.delta_top1, n, True)} [{points(pair.ci95[0], n, True)}, {points(pair.ci95[1], n, True)}]",
            str(pair.a_only), str(pair.b_only), f"{pair.mcnemar_p:.2g}", f"{pair.holm_p:.2g}",
            f"{points(pair.delta_recall, n, True)} [{points(pair.recall_ci95[0], n, True)}, "
            f"{points(pair.recall_ci95[1], n, True)}]",
            verdict,
        ])
    return rows


def paired_sentences(ranked: list[str], pairs: list[PairedComparison]) -> list[str]:
    """Whether the best strategy (``ranked[0]``) really beats the runner-up, and a note when several
    pairs were compared."""
    if len(ranked) < 2 or not pairs:
        return []
    best, runner_up = ranked[0], ranked[1]
    pair = next((p for p in pairs if {p.a, p.b} == {best, runner_up}), None)
    if pair is None:
        return []
    if pair.a != best:
        pair = pair.swapped()
    sentences = [paired_verdict(pair, several=len(pairs) > 1)]
    if len(pairs) > 1:
        sentences.append(
            f"{len(pairs)} pairs of strategies were compared on the same images; the pairwise table gives each "
            "difference with its interval, and p-values also adjusted (Holm) for making several comparisons."
        )
    return sentences


def _round_up(count: int) -> str:
    """A rough count for prose: two significant digits, rounded up."""
    if count < 100:
        return str(count)
    magnitude = 10 ** (len(str(count)) - 2)
    return f"{-(-count // magnitude) * magnitude:,}"


def _mistake_sentences(comparison: Comparison, name: str, labelled: list[int], truth: np.ndarray) -> list[str]:
    """The best strategy's repeated confusion, and a warning when it piles onto one class."""
    result = comparison.strategies[name]
    predicted = top1_indices(result)[labelled]
    classes = comparison.classes
    sentences = []
    mistakes = Counter((int(t), int(p)) for t, p in zip(truth, predicted) if t != p)
    if mistakes:
        (true, wrong), times = mistakes.most_common(1)[0]
        if times >= 2:
            sentences.append(
                f'The most common mistake with "{result.label}": {times} images of "{classes[true].display}" '
                f'classified as "{classes[wrong].display}".'
            )
    for result in comparison.strategies.values():
        top, times = Counter(int(k) for k in top1_indices(result)[labelled]).most_common(1)[0]
        if len(classes) > 2 and times > len(labelled) / 2 and times > int((truth == top).sum()) + 1:
            sentences.append(
                f'"{result.label}" predicted "{classes[top].display}" for {times} of {len(labelled)} images, '
                "more often than that class occurs: it may be pulled towards that name."
            )
    return sentences


def _calibration_sentences(comparison: Comparison) -> list[str]:
    """Which strategy's confidence tracked its accuracy best (only on enough images to say)."""
    eces = {
        result.label: ece
        for result in comparison.strategies.values()
        if (ece := finite((result.metrics or {}).get("ece"))) is not None
    }
    labelled = sum(img.label is not None for img in comparison.images)
    if not eces or labelled < SMALL_SAMPLE:
        return []
    best = min(eces, key=lambda label: eces[label])
    gap = f"{eces[best] * 100:.1f} percentage points"
    softmax_note = (
        " (measured on the softmax over the model's logits, also for sigmoid models)"
        if any(r.probability_kind == "sigmoid" for r in comparison.strategies.values()) else ""
    )
    if len(eces) == 1:
        return [f'On average, the confidence of "{best}" differed from its accuracy by {gap}{softmax_note}.']
    sentence = (
        f'Confidence matched accuracy most closely with "{best}" '
        f"(an average gap of {gap} between how sure it was and how often it was right{softmax_note})."
    )
    return [sentence]


def _agreement_sentences(comparison: Comparison) -> list[str]:
    results = list(comparison.strategies.values())
    n = len(comparison.images)
    no_labels = "No true classes were given, so accuracy cannot be measured"
    if len(results) == 1:
        predicted = Counter(int(k) for k in top1_indices(results[0]))
        k, times = predicted.most_common(1)[0]
        label, display = results[0].label, comparison.classes[k].display
        return [f'{no_labels}. The most frequent prediction of "{label}" was "{display}" ({times} of {n}).']
    predictions = np.stack([top1_indices(result) for result in results])
    agree = (predictions == predictions[0]).all(axis=0)
    who = "Both strategies" if len(results) == 2 else f"All {len(results)} strategies"
    sentences = [f"{who} agreed on {int(agree.sum())} of {_count(n, 'image')}."]
    if len(results) > 2:
        pairs = [(int((predictions[a] == predictions[b]).sum()), a, b)
                 for a in range(len(results)) for b in range(a + 1, len(results))]
        count, a, b = max(pairs, key=lambda pair: pair[0])
        if count > agree.sum():
            sentences.append(
                f'The closest pair, {_quoted([results[a].label, results[b].label])}, agreed on {count} of {n}.'
            )
    disagreed = [comparison.images[i].name for i in np.flatnonzero(~agree)]
    if disagreed:
        examples = ", ".join(f'"{name}"' for name in disagreed[:3])
        more = ", among others" if len(disagreed) > 3 else ""
        sentences.append(f"They disagreed on {_count(len(disagreed), 'image')} ({examples}{more}).")
    sentences.append(f"{no_labels}: strategies that agree can still all be wrong.")
    return sentences


def _seed_sentences(comparison: Comparison) -> list[str]:
    sentences = []
    for result in comparison.strategies.values():
        spread = seed_spread(result, "top1")
        if spread is not None:
            _, _, low, high, seeds = spread
            spread_text = f"ranged from {low:.0%} to {high:.0%}" if high > low else f"was {low:.0%} for every seed"
            sentences.append(
                f'"{result.label}" depends on a random seed: over {seeds} seeds, top-1 accuracy {spread_text}.'
            )
            continue
        runs = [run["predictions"] for run in result.seed_runs if run.get("predictions") is not None]
        if len(runs) > 1:
            stable = int((np.asarray(runs) == np.asarray(runs[0])).all(axis=0).sum())
            sentences.append(
                f'"{result.label}" depends on a random seed: its {len(runs)} seeds gave the same '
                f"prediction for {stable} of {_count(len(runs[0]), 'image')}."
            )
    return sentences


def _problem_sentences(comparison: Comparison) -> list[str]:
    failed: dict[str, list[str]] = {}
    for name, error in comparison.strategy_errors.items():
        failed.setdefault(str(error).rstrip("."), []).append(name)
    sentences = [f"{_quoted(names)} could not be run: {error}." for error, names in failed.items()]
    n = len(comparison.skipped)
    if n:
        verb = "was" if n == 1 else "were"
        sentences.append(f"{_count(n, 'file')} could not be read and {verb} skipped.")
    return sentences
