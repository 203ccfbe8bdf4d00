"""One entry point for the CLI and the app: images x classes x strategies -> Comparison.

``compare`` = ``encode_images`` (decode and embed each image once) + ``score_strategies`` (every
strategy against those vectors); a stored embedding set enters at ``score_strategies``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from prompting.classes import ClassName
from prompting.encoding.embeddings import IMAGE_CACHE, EncodeStats, text_store
from prompting.encoding.images import load_image
from prompting.encoding.models import DualEncoder
from prompting.errors import DatasetError, PromptingError
from prompting.evaluation.fudd_scoring import score_fudd
from prompting.evaluation.results import Comparison, ImageRecord, StrategyResult
from prompting.evaluation.scoring import score_plan
from prompting.strategies.registry import StrategySpec, build_prompts, default_label

ProgressFn = Callable[[float, str], None]


class Cancelled(PromptingError):
    """The caller asked to stop; nothing partial is returned."""


@dataclass
class ImageInput:
    """An image to score: a file path, an optional label index and an optional display name."""

    path: str
    label: int | None = None
    name: str | None = None


def decode_images(inputs: list[ImageInput]) -> tuple[list[Image.Image], list[ImageRecord], list[dict[str, str]]]:
    """Decode every input; unreadable ones are listed as skipped with their reason."""
    images: list[Image.Image] = []
    records: list[ImageRecord] = []
    skipped: list[dict[str, str]] = []
    for item in inputs:
        try:
            images.append(load_image(item.path, name=item.name))
        except PromptingError as exc:
            skipped.append({"path": item.path, "reason": str(exc)})
            continue
        records.append(ImageRecord(path=item.path, name=item.name or Path(item.path).name, label=item.label))
    return images, records, skipped


def unique_keys(specs: list[StrategySpec]) -> list[str]:
    """A distinct result key per spec: its name, suffixed when the same strategy appears twice."""
    keys: list[str] = []
    for spec in specs:
        key, count = spec.name, 2
        while key in keys:
            key, count = f"{spec.name}-{count}", count + 1
        keys.append(key)
    return keys


@dataclass
class EncodedImages:
    """The images of a run as the scoring half needs them: one normalised vector per readable
    image (N x D, aligned with ``records``) and the inputs that were skipped, with reasons."""

    vectors: np.ndarray
    records: list[ImageRecord]
    skipped: list[dict[str, str]]


def encode_images(
    encoder: DualEncoder,
    images: list[ImageInput],
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> EncodedImages:
    """Decode and embed every readable image once (cached by content); unreadable ones are
    skipped with their reason, and a DatasetError says so when none is left."""
    report = progress or (lambda fraction, message: None)
    report(0.0, "Reading images")
    pil_images, records, skipped = decode_images(images)
    if not records:
        reasons = "; ".join(s["reason"] for s in skipped[:3])
        raise DatasetError(f"No readable images to score{': ' + reasons if reasons else ''}.")
    check_cancel(cancel)
    report(0.5, f"Encoding {len(pil_images)} images")
    vectors = IMAGE_CACHE.embed(encoder, pil_images)
    return EncodedImages(vectors, records, skipped)


def compare(
    encoder: DualEncoder,
    images: list[ImageInput],
    classes: list[ClassName],
    specs: list[StrategySpec],
    strict: bool = True,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Comparison:
    """Score every strategy on the same images with one image encoding.

    With ``strict`` a strategy that cannot be built (e.g. descriptions missing a class) raises;
    otherwise its error is recorded in ``strategy_errors`` and the others are still scored.
    """
    report = progress or (lambda fraction, message: None)
    encoded = encode_images(encoder, images, lambda fraction, message: report(0.1 * fraction, message), cancel)
    return score_strategies(
        encoder, encoded, classes, specs, strict=strict,
        progress=lambda fraction, message: report(0.1 + 0.9 * fraction, message), cancel=cancel,
    )


def score_strategies(
    encoder: DualEncoder,
    encoded: EncodedImages,
    classes: list[ClassName],
    specs: list[StrategySpec],
    strict: bool = True,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    stats: EncodeStats | None = None,
) -> Comparison:
    """Score every strategy against already encoded images (an upload or a stored set); only
    prompts missing from the text cache are encoded. ``strict`` as in ``compare``. FuDD reuses its
    base strategy's result when that was scored before it, else scores the base for itself.
    ``stats``: encode counts to carry on (one run scored in several calls), else fresh ones."""
    report = progress or (lambda fraction, message: None)
    comparison = Comparison(
        model=encoder.name, classes=list(classes), images=encoded.records, strategies={}, skipped=encoded.skipped,
        probability_kind=encoder.probability_kind,
    )
    labels = comparison.partial_labels
    store = text_store(encoder)
    stats = EncodeStats() if stats is None else stats
    scored: list[tuple[StrategySpec, StrategyResult]] = []  # FuDD reuses its base when it was scored
    for index, (key, spec) in enumerate(zip(unique_keys(specs), specs)):
        check_cancel(cancel)
        label = default_label(spec)
        start = index / len(specs)
        report(start, f"Scoring {label}")
        try:
            plan = build_prompts(spec, classes)
        except PromptingError as exc:
            if strict:
                raise
            comparison.strategy_errors[key] = str(exc)
            continue
        batches = _batch_progress(report, cancel, label, start, 1 / len(specs))
        if spec.name == "fudd":
            result = score_fudd(encoder, store, encoded.vectors, classes, spec, key, label, labels, stats, scored,
                                progress=batches)
        else:
            result = score_plan(encoder, store, encoded.vectors, plan, key, label, labels, stats, progress=batches)
        comparison.strategies[key] = result
        scored.append((spec, result))
    comparison.encoder_stats = stats.as_dict()
    report(1.0, "Done")
    return comparison


def _batch_progress(
    report: ProgressFn, cancel: threading.Event | None, label: str, start: float, span: float
) -> Callable[[int, int], None]:
    """Per-batch callback: reports prompts encoded so far and stops promptly when cancelled."""

    def on_batch(done: int, total: int) -> None:
        check_cancel(cancel)
        report(start + span * done / max(total, 1), f"{label}: encoded {done} of {total} new prompts")

    return on_batch


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise ``Cancelled`` when ``cancel`` is set (call between steps of long work)."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("Stopped at your request.")

