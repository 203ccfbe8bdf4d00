"""Cross-validated template selection on a run's labelled images (issue 10, part 2).

Every (template, class) prompt of the candidate pool and of the baselines (CLIP's 80 ImageNet
templates and the single default template) is embedded once through the text cache; from then
on the selection and its cross-validation work on arrays only (``strategies.selection``). The
accuracy reported for the selected set is held out: each fold selects on its training images
and is scored on the rest. The set returned for use is then selected on all images.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from prompting.classes import ClassName, spoken_name
from prompting.encoding.embeddings import EncodeStats, text_store
from prompting.encoding.models import DualEncoder
from prompting.errors import DatasetError, StrategyError
from prompting.evaluation.compare import EncodedImages, ProgressFn, check_cancel
from prompting.evaluation.export import paired_verdict
from prompting.evaluation.metrics import wilson_interval
from prompting.evaluation.paired import PairedComparison, holm_adjust, paired_comparison
from prompting.storage import read_user_text
from prompting.strategies.registry import StrategySpec
from prompting.strategies.selection import CrossValidation, SelectionPath, TemplateArrays, cross_validate, greedy_select
from prompting.strategies.templates import DEFAULT_TEMPLATE, IMAGENET_TEMPLATES, check_template, fill

DEFAULT_FOLDS = 5
DEFAULT_MAX_TEMPLATES = 10
BASELINES = {"ensemble80": "80-template ensemble", "template": f"Single template “{DEFAULT_TEMPLATE}”"}


def candidate_pool(*sources: Sequence[str]) -> list[str]:
    """The templates of all ``sources`` in order, each once, every one checked for its ``{}``."""
    pool = list(dict.fromkeys(template.strip() for source in sources for template in source if template.strip()))
    if not pool:
        raise StrategyError("The candidate pool is empty: include the 80 ImageNet templates or give your own.")
    return [check_template(template) for template in pool]


def selected_label(count: int, pool_size: int) -> str:
    """The label of a selected set: "Selected templates (k of N)"."""
    return f"Selected templates ({count} of {pool_size})"


def selection_spec(data: Any) -> StrategySpec:
    """The ``selected`` strategy from a selection's JSON (``{"selected": [template, ...], ...}``,
    as ``select`` writes it); a StrategyError says what is wrong otherwise."""
    templates = data.get("selected") if isinstance(data, dict) else None
    if not isinstance(templates, list) or not templates or not all(isinstance(t, str) for t in templates):
        raise StrategyError(
            'A selection must be a JSON object with "selected": a non-empty list of templates, as '
            "`python -m prompting select --json OUT` writes it."
        )
    pool_size = data.get("pool_size")
    label = selected_label(len(templates), pool_size) if isinstance(pool_size, int) and pool_size > 0 else None
    return StrategySpec("selected", templates=[check_template(t) for t in templates], label=label)


def parse_selection(text: str, source: str = "selection") -> StrategySpec:
    """The ``selected`` strategy from a selection's JSON text (``source`` names it in errors)."""
    if not text.strip():
        raise StrategyError(f"The {source} is empty: run template selection first.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StrategyError(f"The {source} is not valid JSON: {exc.msg} (line {exc.lineno}).") from None
    return selection_spec(data)


def read_selection_file(path: str | Path) -> StrategySpec:
    """The ``selected`` strategy from the JSON file ``select`` wrote."""
    return parse_selection(read_user_text(path, "selection file", StrategyError), f"selection file '{path}'")


@dataclass
class TemplateSelection:
    """A selection's outcome: the pool, the held-out comparison on the same folds, and the set
    chosen on all images (``final``, whose own accuracy is in-sample and optimistic)."""

    pool: list[str]
    cv: CrossValidation
    final: SelectionPath
    templates: list[str]  # every embedded template: pool first, then baseline-only ones
    labels: np.ndarray
    folds: int
    seed: int
    max_templates: int
    encoder_stats: dict[str, int]

    @property
    def selected(self) -> list[str]:
        """The templates chosen on all images, in the order they were added."""
        return [self.templates[index] for index in self.final.templates]

    @property
    def label(self) -> str:
        """"Selected templates (k of N)"."""
        return selected_label(len(self.selected), len(self.pool))

    def spec(self) -> StrategySpec:
        """The ``selected`` strategy with these templates."""
        return StrategySpec("selected", templates=self.selected, label=self.label)

    def set_labels(self) -> dict[str, str]:
        """Display names of the compared sets, "selected" first."""
        return {"selected": "Selected (cross-validated procedure)", **BASELINES}

    @cached_property
    def paired(self) -> list[PairedComparison]:
        """The selection procedure against each baseline on the same held-out predictions (paired
        bootstrap over images and exact McNemar; Holm across the two). The interval resamples images
        for these out-of-fold predictions: it leaves out how differently the folds could have been
        drawn."""
        labels = self.set_labels()
        correct = {name: self.cv.predictions[name] == self.labels for name in labels}
        pairs = [paired_comparison("selected", name, labels["selected"], labels[name], correct["selected"],
                                   correct[name], self.labels) for name in BASELINES]
        return [replace(pair, holm_p=p) for pair, p in zip(pairs, holm_adjust([pair.mcnemar_p for pair in pairs]))]

    def verdicts(self) -> list[str]:
        """One sentence per baseline: whether the held-out difference is more than chance."""
        return [paired_verdict(pair.swapped() if pair.delta_top1 < 0 else pair, several=True) for pair in self.paired]

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON: ``selected``, ``cv`` (held-out top-1 per set) and ``folds``, then details."""
        names = list(self.set_labels())
        n = len(self.labels)
        return {
            "selected": self.selected,
            "cv": {name: self.cv.accuracy(name) for name in names},
            "folds": self.folds,
            "label": self.label,
            "pool_size": len(self.pool),
            "pool": list(self.pool),
            "n_images": n,
            "seed": self.seed,
            "max_templates": self.max_templates,
            "stratified": self.cv.stratified,
            "fold_note": self.cv.note,
            "cv_correct": {name: self.cv.correct(name) for name in names},
            "cv_ci95": {name: list(wilson_interval(self.cv.correct(name), n)) for name in names},
            "paired": [pair.as_dict() for pair in self.paired],
            "per_fold": [
                {
                    "train": fold.train, "test": fold.test,
                    "selected": [self.templates[index] for index in fold.selected],
                    "top1": {name: fold.correct[name] / fold.test for name in names},
                }
                for fold in self.cv.folds
            ],
            "in_sample": {
                "note": "Accuracy of the final set on the images it was chosen on: optimistic, not a validation.",
                "steps": [
                    {"template": self.templates[index], "top1": accuracy, "mean_logprob": logprob}
                    for index, accuracy, logprob in zip(self.final.templates, self.final.accuracy,
                                                        self.final.mean_logprob)
                ],
            },
            "encoder": dict(self.encoder_stats),
        }


def template_vectors(
    encoder: DualEncoder, templates: Sequence[str], classes: Sequence[ClassName], stats: EncodeStats,
    progress: ProgressFn | None = None, cancel: threading.Event | None = None,
) -> np.ndarray:
    """T x C x D normalised embeddings of every (template, class) prompt, through the text cache
    (each distinct prompt is encoded at most once, ever)."""
    names = [spoken_name(cls.prompt) for cls in classes]
    prompts = [fill(template, name) for template in templates for name in names]

    def on_batch(done: int, total: int) -> None:
        check_cancel(cancel)
        if progress:
            progress(done / max(total, 1), f"Encoding {total} new prompts")

    vectors = text_store(encoder).embed(prompts, stats=stats, progress=on_batch)
    return vectors.reshape(len(templates), len(names), -1)


def select_templates(
    encoder: DualEncoder,
    encoded: EncodedImages,
    classes: Sequence[ClassName],
    pool: Sequence[str],
    folds: int = DEFAULT_FOLDS,
    max_templates: int = DEFAULT_MAX_TEMPLATES,
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> TemplateSelection:
    """Cross-validate greedy selection from ``pool`` against the 80-template ensemble and the
    single default template on the same folds, then select on all images.

    Needs a true class for every image. ``progress(fraction, message)``; ``cancel`` stops the work
    between steps (``Cancelled``).
    """
    labels = np.array([-1 if image.label is None else image.label for image in encoded.records])
    if len(labels) == 0 or (labels < 0).any():
        missing = int((labels < 0).sum())
        raise DatasetError(
            f"Template selection needs a true class for every image ({missing} of {len(labels)} have none)."
        )
    if max_templates < 1:
        raise StrategyError(f"The size limit must be at least 1 template, got {max_templates}.")
    pool = candidate_pool(pool)
    report = progress or (lambda fraction, message: None)
    templates = list(dict.fromkeys([*pool, *IMAGENET_TEMPLATES, DEFAULT_TEMPLATE]))
    stats = EncodeStats()
    vectors = template_vectors(encoder, templates, classes, stats,
                               lambda fraction, message: report(0.3 * fraction, message), cancel)
    arrays = TemplateArrays.from_embeddings(vectors, encoded.vectors)
    index = {template: position for position, template in enumerate(templates)}
    baselines = {"ensemble80": [index[t] for t in IMAGENET_TEMPLATES], "template": [index[DEFAULT_TEMPLATE]]}
    candidates = list(range(len(pool)))
    rounds = folds + 1

    def on_step(round_number: int, size: int) -> None:
        """After each addition: stop if asked; report (the final round selects on all images)."""
        check_cancel(cancel)
        where = f"Fold {round_number + 1} of {folds}" if round_number < folds else "All images"
        report(0.3 + 0.7 * (round_number + size / max_templates) / rounds, f"{where}: {size} templates chosen")

    try:
        cv = cross_validate(arrays, labels, candidates, baselines, folds, seed, encoder.logit_scale, max_templates,
                            on_step)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    final = greedy_select(arrays, labels, np.arange(len(labels)), candidates, encoder.logit_scale, max_templates,
                          lambda size: on_step(folds, size))
    report(1.0, "Done")
    return TemplateSelection(pool, cv, final, templates, labels, folds, seed, max_templates, stats.as_dict())
