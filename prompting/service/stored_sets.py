"""Stored embedding sets in the web app: found only in the operator's store folders and named
by folder name (never a path); scored at full scale with bounded memory.

A run scores every strategy on every stored image (images are never re-encoded), one strategy
at a time; each strategy then keeps its full logits (for the plain-language summary and the
paired comparisons, both computed on the whole set) and metrics, and per-image scores only for
an evenly spaced sample of images (the page's per-image views and downloads). A few of the
first strategy's mistakes are shown as thumbnails when the source images can still be read from
the folder the store was built from.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from prompting.classes import ClassName
from prompting.data.sources import SourceReader
from prompting.data.store import MANIFEST, EmbeddingStore, open_store
from prompting.encoding.embeddings import EncodeStats
from prompting.encoding.images import load_image
from prompting.errors import DatasetError, ModelLoadError, PromptingError, StoreError
from prompting.evaluation.compare import EncodedImages, ProgressFn, score_strategies, unique_keys
from prompting.evaluation.export import headline, plain_language_summary
from prompting.evaluation.paired import paired_comparisons
from prompting.evaluation.results import Comparison, StrategyResult
from prompting.evaluation.scoring import PromptScores
from prompting.evaluation.stored import StoredImages, encoded_from_store
from prompting.service.config import RunLimits, public_model_name
from prompting.service.session_store import RunRecord, StrategySource
from prompting.service.workflows import Loader
from prompting.strategies.registry import StrategySpec

LOG = logging.getLogger(__name__)
SAMPLE_IMAGES = 200
MISTAKES_SHOWN = 24
THUMBNAIL_PIXELS = 160


@dataclass(frozen=True)
class StoredSetInfo:
    """What the page says about a stored set before it is scored."""

    name: str
    images: int
    skipped: int
    classes: list[str] | None
    label_kind: str
    model: str
    complete: bool

    def describe(self) -> str:
        """One plain sentence (no paths)."""
        if not self.complete:
            return f"'{self.name}' is still being built (its embed run has not finished), so it cannot be scored yet."
        labels = {
            "names": f"labelled with {len(self.classes or [])} classes",
            "indices": "labelled by class number (put the class list in the order of those numbers)",
            "none": "without labels (no accuracy or calibration)",
        }[self.label_kind]
        skipped = f", {self.skipped} unreadable input{'s' if self.skipped > 1 else ''} skipped" if self.skipped else ""
        return f"{self.images:,} images embedded by {self.model}, {labels}{skipped}."


@dataclass
class StoredRun:
    """A scored stored set: the run record for the page, and thumbnails of some mistakes."""

    record: RunRecord
    thumbnails: list[tuple[Image.Image, str]] = field(default_factory=list)
    thumbnails_note: str = ""


def find_stored_sets(folders: tuple[str, ...] | list[str]) -> dict[str, Path]:
    """Stores by the name the page shows: each configured folder is a store itself or holds
    stores as subfolders; names are folder names, numbered when two are alike."""
    found: dict[str, Path] = {}
    for folder in folders:
        root = Path(folder).expanduser()
        try:
            stores = [root] if (root / MANIFEST).is_file() else sorted(
                path for path in root.iterdir() if (path / MANIFEST).is_file()
            )
        except OSError as exc:
            LOG.warning("Store folder %s cannot be listed: %s", root, exc)
            continue
        for path in stores:
            name, number = path.name, 2
            while name in found:
                name, number = f"{path.name} ({number})", number + 1
            found[name] = path
    return found


def stored_set_info(name: str, path: Path) -> StoredSetInfo:
    """The stored set's size, labels and model, read from its manifest."""
    store = _open(name, path)
    return StoredSetInfo(name, store.counts.get("embedded", 0), store.counts.get("skipped", 0), store.classes,
                         store.label_kind, public_model_name(store.model["name"]), store.complete)


def _open(name: str, path: Path) -> EmbeddingStore:
    try:
        return open_store(path)
    except StoreError as exc:
        LOG.warning("Stored set %s at %s is unusable: %s", name, path, exc)
        raise StoreError(f"The stored set '{name}' cannot be read on this server now.") from exc


def run_stored_set(
    name: str,
    path: Path,
    classes: list[ClassName],
    specs: list[StrategySpec],
    limits: RunLimits,
    loader: Loader,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> StoredRun:
    """Score ``specs`` on every image of the stored set (see the module docstring)."""
    report = progress or (lambda fraction, message: None)
    store = _open(name, path)
    if not store.complete:
        raise StoreError(f"The stored set '{name}' is still being built; try again when its embed run has finished.")
    _check_size(name, store.counts.get("embedded", 0), len(classes), len(specs), limits)
    report(0.0, f"Loading the stored set '{name}'")
    try:
        encoder = loader(store.model["name"])
    except ModelLoadError as exc:
        LOG.warning("Model of stored set %s cannot be loaded: %s", name, exc)
        raise ModelLoadError(f"The model of the stored set '{name}' ({public_model_name(store.model['name'])}) "
                             "cannot be loaded on this server.") from exc
    stored = encoded_from_store(store, encoder, classes)
    encoded = stored.encoded
    n = len(encoded.records)
    sample = np.unique(np.linspace(0, n - 1, min(n, SAMPLE_IMAGES)).round().astype(int))
    labels = np.array([-1 if r.label is None else r.label for r in encoded.records])
    full: dict[str, StrategyResult] = {}
    shown: dict[str, StrategyResult] = {}
    errors: dict[str, str] = {}
    stats = EncodeStats()  # one run: prompts shared by its strategies are told apart from cached ones
    mistakes: list[tuple[int, int, float]] = []
    for number, (key, spec) in enumerate(zip(unique_keys(specs), specs)):
        def scaled(fraction: float, message: str, number: int = number) -> None:
            report(0.05 + 0.9 * (number + fraction) / len(specs), message)

        scored = score_strategies(encoder, encoded, classes, [spec], strict=False, progress=scaled, cancel=cancel,
                                  stats=stats)
        if not scored.strategies:
            errors[key] = next(iter(scored.strategy_errors.values()), "could not be scored")
            continue
        result = replace(next(iter(scored.strategies.values())), name=key)
        if not mistakes and (labels >= 0).all():
            mistakes = _mistakes(result, labels)
        full[key] = _top1_only(result)
        shown[key] = _sampled(result, sample, encoded)
        del scored, result  # only the logits (in ``full``) and the sample stay
    whole = Comparison(
        model=public_model_name(store.model["name"]), classes=list(classes), images=encoded.records,
        strategies=full, skipped=encoded.skipped, strategy_errors=errors,
        probability_kind=encoder.probability_kind, encoder_stats=_prompt_counts(stats),
    )
    pairs = paired_comparisons(whole)
    summary = plain_language_summary(whole, pairs) + stored.notes
    if len(sample) < n:
        summary.append(
            f"Per-image views and downloads show a sample of {len(sample)} of the {n:,} images; accuracy, "
            "calibration, the confusion matrix and look-alike classes use all of them."
        )
    comparison = replace(whole, images=[encoded.records[i] for i in sample], strategies=shown, sample_of=n,
                         summary=summary, paired=pairs, headline=headline(whole, pairs))
    sources = {key: StrategySource(store.model["name"], spec) for key, spec in zip(unique_keys(specs), specs)}
    report(0.95, "Reading thumbnails of mistakes")
    thumbnails, note = _thumbnails(store, stored, classes, mistakes, next(iter(shown.values()), None))
    return StoredRun(RunRecord(comparison, [], sources), thumbnails, note)


def _check_size(name: str, images: int, n_classes: int, n_specs: int, limits: RunLimits) -> None:
    if images > limits.max_stored_images:
        raise DatasetError(f"The stored set '{name}' holds {images:,} images; this server scores at most "
                           f"{limits.max_stored_images:,} per stored set.")
    if n_classes > limits.max_classes:
        raise DatasetError(f"Too many classes: {n_classes}. This server accepts at most {limits.max_classes} per run.")
    scores = images * n_classes * n_specs
    if scores > limits.max_stored_scores:
        most = max(1, limits.max_stored_scores // max(1, images * n_classes))
        raise DatasetError(
            f"Scoring {images:,} images x {n_classes} classes x {n_specs} strategies is more than this server "
            f"does in one run; choose at most {most} {'strategy' if most == 1 else 'strategies'} (or fewer "
            "classes) for this stored set."
        )


def _top1_only(result: StrategyResult) -> StrategyResult:
    """The full result as the summary reads it (top-1 from the logits, metrics, seed runs),
    without the other N x C arrays."""
    return replace(result, similarities=result.logits, probabilities=result.logits, prompt_similarities=[])


def _sampled(result: StrategyResult, rows: np.ndarray, encoded: EncodedImages) -> StrategyResult:
    """The result's per-image arrays for the sampled images only (metrics stay whole-set)."""
    prompts = result.prompt_similarities
    vectors = prompts.prompt_vectors if isinstance(prompts, PromptScores) else []
    weights = result.prompt_weights
    per_image = weights is not None and weights.ndim == 2  # AutoCLIP: one row of weights per image
    return replace(
        result, similarities=result.similarities[rows], logits=result.logits[rows],
        probabilities=result.probabilities[rows],
        prompt_similarities=PromptScores(encoded.vectors[rows], vectors),
        seed_runs=[{**run, "predictions": [run["predictions"][i] for i in rows]} for run in result.seed_runs],
        prompt_weights=weights[rows] if per_image else weights,
    )


def _mistakes(result: StrategyResult, labels: np.ndarray) -> list[tuple[int, int, float]]:
    """Up to ``MISTAKES_SHOWN`` wrong images spread over the set: (row, predicted, probability)."""
    predicted = result.logits.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    if not len(wrong):
        return []
    chosen = wrong[np.unique(np.linspace(0, len(wrong) - 1, min(len(wrong), MISTAKES_SHOWN)).round().astype(int))]
    return [(int(i), int(predicted[i]), float(result.probabilities[i, predicted[i]])) for i in chosen]


def _thumbnails(
    store: EmbeddingStore, stored: StoredImages, classes: list[ClassName],
    mistakes: list[tuple[int, int, float]], first: StrategyResult | None,
) -> tuple[list[tuple[Image.Image, str]], str]:
    """Small pictures of the chosen mistakes, read from the store's source when it is still there."""
    if first is None or not mistakes:
        return [], ""
    reader = SourceReader(store.source)
    pictures: list[tuple[Image.Image, str]] = []
    for row, predicted, probability in mistakes:
        record = stored.encoded.records[row]
        try:
            image = load_image(reader.read(stored.locators[row]), name=record.name)
        except (OSError, PromptingError):
            continue
        image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
        truth = classes[record.label].display if record.label is not None else "?"
        pictures.append((image, f"{record.name}: {truth} → {classes[predicted].display} ({probability:.2f})"))
    if not pictures:
        return [], (f"The source images of '{store.name}' cannot be read on this server any more, so no "
                    "thumbnails of mistakes are shown.")
    missing = len(mistakes) - len(pictures)
    unread = f" ({missing} could not be read)" if missing else ""
    return pictures, f"Some mistakes of “{first.label}”, spread over the whole set: true → predicted{unread}."


def _prompt_counts(stats: EncodeStats) -> dict[str, int]:
    """The run's prompt counts; a stored set's images were encoded when the store was built, so
    no image counts are given (the summary then says nothing about images)."""
    return {key: value for key, value in stats.as_dict().items() if key.startswith("prompts_")}
