"""One entry point for the CLI and the app: images x classes x strategies -> Comparison.

``compare`` = ``encode_images`` (decode and embed each image once, streamed in batches and
cached by content) + ``score_strategies`` (every strategy against those vectors); a stored
embedding set enters at ``score_strategies``. ``plan_work`` says up front, cheaply, what a run
would encode, so progress counts work (cached items are free), time left can be shown, and
budgets can refuse a run before it starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from prompting.classes import ClassName
from prompting.encoding.embeddings import IMAGE_BATCH_SIZE, EncodeStats, ImageEmbeddingStore, image_store, text_store
from prompting.encoding.images import decode_size, load_image_or_reason, unreadable_file
from prompting.encoding.models import DualEncoder, Throughput
from prompting.encoding.workers import map_in_workers
from prompting.errors import BudgetError, DatasetError, PromptingError
from prompting.evaluation.fudd_scoring import score_fudd
from prompting.evaluation.results import Comparison, ImageRecord, StrategyResult
from prompting.evaluation.scoring import score_plan
from prompting.strategies.registry import PromptPlan, StrategySpec, build_prompts, default_label

ProgressFn = Callable[[float, str], None]
# Used for progress weights until this process has timed real batches (ViT-B/32 on 2 CPU cores).
GUESSED_SPEED = Throughput(text=0.01, image=0.06)
MEGAPIXEL = 1_000_000


class Cancelled(PromptingError):
    """The caller asked to stop; nothing partial is returned."""


@dataclass
class ImageInput:
    """An image to score: a file path, an optional label index and an optional display name;
    ``given_label`` keeps a true class typed for it that matched no class (shown by name)."""

    path: str
    label: int | None = None
    name: str | None = None
    given_label: str | None = None

    @property
    def label_text(self) -> str:
        """How messages name this image: its display name, else its file name."""
        return self.name or Path(self.path).name


def decode_images(
    inputs: list[ImageInput], min_side: int | None = None
) -> tuple[list[Image.Image], list[ImageRecord], list[dict[str, str]]]:
    """Decode every input (no larger than ``min_side`` needs, see ``images.load_image``) on the
    image worker threads; unreadable ones are listed as skipped with their reason."""
    images: list[Image.Image] = []
    records: list[ImageRecord] = []
    skipped: list[dict[str, str]] = []
    decoded_all = map_in_workers(lambda item: load_image_or_reason(item.path, item.name, min_side), inputs)
    for item, decoded in zip(inputs, decoded_all):
        if isinstance(decoded, str):
            skipped.append({"path": item.path, "reason": decoded})
            continue
        images.append(decoded)
        records.append(ImageRecord(path=item.path, name=item.label_text, label=item.label))
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
    image (N x D, aligned with ``records``) and the inputs that were skipped, with reasons.
    ``stats`` counts the images encoded and served from the cache (None for a stored set)."""

    vectors: np.ndarray
    records: list[ImageRecord]
    skipped: list[dict[str, str]]
    stats: EncodeStats | None = None


@dataclass
class WorkPlan:
    """What a run would do, known before it starts (distinct items; cached ones are free).

    ``pixels_to_decode`` is what decoding the new images holds in memory, summed over them
    (JPEGs counted at their draft size).
    """

    prompts_to_encode: int
    prompts_cached: int
    images_to_encode: int
    images_cached: int
    pixels_to_decode: int

    def seconds(self, speed: Throughput) -> float | None:
        """Estimated encoding time at ``speed`` (None until both kinds were measured)."""
        if (self.prompts_to_encode and speed.text is None) or (self.images_to_encode and speed.image is None):
            return None
        return self.prompts_to_encode * (speed.text or 0.0) + self.images_to_encode * (speed.image or 0.0)

    def as_dict(self) -> dict[str, int]:
        """The counts as plain JSON."""
        return {
            "prompts_to_encode": self.prompts_to_encode, "prompts_cached": self.prompts_cached,
            "images_to_encode": self.images_to_encode, "images_cached": self.images_cached,
            "pixels_to_decode": self.pixels_to_decode,
        }


def plan_work(
    encoder: DualEncoder, images: Sequence[ImageInput], classes: list[ClassName], specs: list[StrategySpec]
) -> WorkPlan:
    """Count the prompts and images a ``compare`` run would encode and the pixels it would
    decode, without decoding or encoding anything: files are hashed (remembered while they do
    not change) and their headers read; prompts are built and looked up in the cache.
    Strategies that cannot be built are left out (the run reports them)."""
    keys, _ = _image_keys(images)
    first = _first_index(keys)
    cached = image_store(encoder).cached(list(first))
    new = [index for key, index in first.items() if key not in cached]
    prompts: dict[str, None] = {}
    for spec in specs:
        try:
            plan = build_prompts(spec, classes)
        except PromptingError:
            continue
        prompts.update(dict.fromkeys(p for class_prompts in plan.prompts for p in class_prompts))
    missing = text_store(encoder).missing(list(prompts))
    return WorkPlan(
        prompts_to_encode=len(missing), prompts_cached=len(prompts) - len(missing),
        images_to_encode=len(new), images_cached=len(cached),
        pixels_to_decode=sum(_pixels(images[index].path, encoder.image_input_side) for index in new),
    )


def estimate_seconds(encoder: DualEncoder, plan: WorkPlan) -> float:
    """Seconds ``plan`` should take on this machine (times a small batch of each kind first
    if this process has not encoded any yet)."""
    seconds = plan.seconds(encoder.speed)
    if seconds is None:
        seconds = plan.seconds(encoder.measure_speed())
    return float(seconds or 0.0)


def encode_images(
    encoder: DualEncoder,
    images: list[ImageInput],
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    max_pixels: int | None = None,
) -> EncodedImages:
    """Embed every readable image once: cached ones (by file content) are neither decoded nor
    encoded; the others are decoded at model size and encoded in batches, each batch saved
    at once, so at most one batch of decoded images is held. Unreadable images are skipped
    with their reason, and a DatasetError says so when none is left. With ``max_pixels``, a
    run whose new images would decode to more pixels is refused up front (BudgetError)."""
    report = progress or (lambda fraction, message: None)
    store = image_store(encoder)
    keys, reasons = _image_keys(images)
    first = _first_index(keys)
    found = store.lookup(list(first))
    order = [(key, index) for key, index in first.items() if key not in found]
    _check_pixel_budget(images, [index for _, index in order], encoder.image_input_side, max_pixels)
    stats = EncodeStats(images_cached=len(found))
    report(0.0, f"Encoding {len(order)} new images ({len(found)} cached)" if order else "Images cached")
    for start in range(0, len(order), IMAGE_BATCH_SIZE):
        check_cancel(cancel)
        batch = order[start : start + IMAGE_BATCH_SIZE]
        began = time.perf_counter()
        decoded, _, skipped = decode_images([images[index] for _, index in batch], encoder.image_input_side)
        failed = {item["path"]: item["reason"] for item in skipped}
        readable = [key for key, index in batch if images[index].path not in failed]
        reasons.update({index: failed[images[index].path] for _, index in batch if images[index].path in failed})
        if decoded:
            vectors = encoder.encode_images(decoded)
            store.save(readable, vectors)
            found.update(zip(readable, vectors))
            stats.images_encoded += len(readable)
        del decoded
        encoder.speed.record("image", len(batch), time.perf_counter() - began)
        done = min(start + IMAGE_BATCH_SIZE, len(order))
        report(done / len(order), f"Encoded {done} of {len(order)} new images")
    return _assemble(images, keys, found, reasons, stats)


def _image_keys(images: Sequence[ImageInput]) -> tuple[list[str | None], dict[int, str]]:
    """Each input's content key (None when the file cannot be read) and, by input index,
    why unreadable ones could not be read."""
    keys: list[str | None] = []
    reasons: dict[int, str] = {}
    for index, item in enumerate(images):
        try:
            keys.append(ImageEmbeddingStore.key(item.path))
        except OSError as exc:
            keys.append(None)
            reasons[index] = str(unreadable_file(item.label_text, exc))
    return keys, reasons


def _first_index(keys: list[str | None]) -> dict[str, int]:
    """Each distinct key with the index of its first input (duplicate files are done once)."""
    first: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key is not None:
            first.setdefault(key, index)
    return first


def _pixels(path: str, min_side: int | None) -> int:
    size = decode_size(path, min_side)
    return size[0] * size[1] if size else 0


def _check_pixel_budget(
    images: Sequence[ImageInput], indices: list[int], min_side: int | None, max_pixels: int | None
) -> None:
    """Refuse, before decoding anything, a run whose new images exceed ``max_pixels``."""
    if max_pixels is None or not indices:
        return
    sizes = {index: _pixels(images[index].path, min_side) for index in indices}
    total = sum(sizes.values())
    if total <= max_pixels:
        return
    largest = max(sizes, key=lambda index: sizes[index])
    raise BudgetError(
        f"These images would need {total / MEGAPIXEL:,.0f} million pixels decoded (the largest, "
        f"'{images[largest].label_text}', {sizes[largest] / MEGAPIXEL:,.0f} million); this server decodes at most "
        f"{max_pixels / MEGAPIXEL:,.0f} million per run. Send fewer or smaller images (JPEGs cost far less "
        "than PNGs of the same size: they are decoded at reduced size)."
    )


def _assemble(
    images: Sequence[ImageInput], keys: list[str | None], found: dict[str, np.ndarray], reasons: dict[int, str],
    stats: EncodeStats,
) -> EncodedImages:
    """Vectors, records and skipped inputs in input order; an input whose content failed to
    decode under another name shares that input's reason."""
    vectors: list[np.ndarray] = []
    records: list[ImageRecord] = []
    skipped: list[dict[str, str]] = []
    first = _first_index(keys)
    for index, (item, key) in enumerate(zip(images, keys)):
        if key is not None and key in found:
            vectors.append(found[key])
            records.append(ImageRecord(path=item.path, name=item.label_text, label=item.label))
        else:
            reason = reasons.get(index) or reasons.get(first.get(key, index), "")
            skipped.append({"path": item.path, "reason": reason})
    if not records:
        reasons_text = "; ".join(list(dict.fromkeys(s["reason"].rstrip(".") for s in skipped))[:3])
        raise DatasetError(f"No readable images to score{': ' + reasons_text if reasons_text else ''}.")
    return EncodedImages(np.stack(vectors), records, skipped, stats)


def compare(
    encoder: DualEncoder,
    images: list[ImageInput],
    classes: list[ClassName],
    specs: list[StrategySpec],
    strict: bool = True,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    max_pixels: int | None = None,
) -> Comparison:
    """Score every strategy on the same images with one image encoding.

    With ``strict`` a strategy that cannot be built (e.g. descriptions missing a class) raises;
    otherwise its error is recorded in ``strategy_errors`` and the others are still scored.
    Progress is reported by work (new images and prompts, weighted by their measured cost)
    with an estimate of the time left once batches have been timed. ``max_pixels`` as in
    ``encode_images``.
    """
    plan = plan_work(encoder, images, classes, specs)
    meter = RunMeter(encoder.speed, plan, progress)
    encoded = encode_images(encoder, images, meter.images, cancel, max_pixels=max_pixels)
    return score_strategies(encoder, encoded, classes, specs, strict=strict, progress=meter.prompts, cancel=cancel)


class RunMeter:
    """One progress fraction for a whole run from its two halves' fractions, weighted by the
    estimated time of each half, and the time left once this process has timed real batches."""

    def __init__(self, speed: Throughput, plan: WorkPlan, report: ProgressFn | None) -> None:
        self.speed, self.plan = speed, plan
        self.report = report or (lambda fraction, message: None)
        self.done = {"image": 0.0, "text": 0.0}
        self.last = 0.0

    def _work(self) -> dict[str, float]:
        text = self.speed.text if self.speed.text is not None else GUESSED_SPEED.text
        image = self.speed.image if self.speed.image is not None else GUESSED_SPEED.image
        return {"image": self.plan.images_to_encode * image, "text": self.plan.prompts_to_encode * text}

    def _update(self, kind: str, fraction: float, message: str) -> None:
        self.done[kind] = fraction
        work = self._work()
        total = sum(work.values())
        overall = sum(work[k] * self.done[k] for k in work) / total if total else self.done["text"]
        self.last = max(self.last, min(overall, 1.0))
        left = self.seconds_left()
        self.report(self.last, message + (f" · {format_duration(left)} left" if left is not None else ""))

    def seconds_left(self) -> float | None:
        """Estimated seconds to the end, once every kind still to do has been timed."""
        remaining = {"image": 1 - self.done["image"], "text": 1 - self.done["text"]}
        counts = {"image": self.plan.images_to_encode, "text": self.plan.prompts_to_encode}
        seconds = 0.0
        for kind in remaining:
            if counts[kind] and remaining[kind] > 0:
                per_item = getattr(self.speed, kind)
                if per_item is None:
                    return None
                seconds += counts[kind] * remaining[kind] * per_item
        return seconds if seconds >= 1 else None

    def images(self, fraction: float, message: str) -> None:
        """Progress callback of ``encode_images``."""
        self._update("image", fraction, message)

    def prompts(self, fraction: float, message: str) -> None:
        """Progress callback of ``score_strategies``."""
        self._update("text", fraction, message)


def format_duration(seconds: float) -> str:
    """'about 40 s', 'about 3 min', 'about 1 h 5 min'."""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60} min"


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
    prompts missing from the text cache are encoded, and progress counts them. ``strict`` as
    in ``compare``. FuDD reuses its base strategy's result when that was scored before it, else
    scores the base for itself. ``stats``: encode counts to carry on (one run scored in several
    calls, whose caller counts the images), else fresh ones starting with the images' counts."""
    report = progress or (lambda fraction, message: None)
    comparison = Comparison(
        model=encoder.name, classes=list(classes), images=encoded.records, strategies={}, skipped=encoded.skipped,
        probability_kind=encoder.probability_kind, quantization=encoder.quantization,
    )
    labels = comparison.partial_labels
    store = text_store(encoder)
    if stats is None:
        stats = EncodeStats()
        if encoded.stats is not None:
            stats.add(encoded.stats)
    plans: dict[str, tuple[StrategySpec, PromptPlan]] = {}
    for key, spec in zip(unique_keys(specs), specs):
        try:
            plans[key] = (spec, build_prompts(spec, classes))
        except PromptingError as exc:
            if strict:
                raise
            comparison.strategy_errors[key] = str(exc)
            continue
    new_prompts = store.missing([p for _, plan in plans.values() for prompts in plan.prompts for p in prompts])
    counter = _PromptCounter(report, cancel, len(new_prompts))
    scored: list[tuple[StrategySpec, StrategyResult]] = []  # FuDD reuses its base when it was scored
    for index, (key, (spec, plan)) in enumerate(plans.items()):
        check_cancel(cancel)
        label = default_label(spec)
        report(counter.fraction(index / len(plans)), f"Scoring {label}")
        if spec.name == "fudd":
            result = score_fudd(encoder, store, encoded.vectors, classes, spec, key, label, labels, stats, scored,
                                progress=counter.callback(label))
        else:
            result = score_plan(encoder, store, encoded.vectors, plan, key, label, labels, stats,
                                progress=counter.callback(label))
        comparison.strategies[key] = result
        scored.append((spec, result))
        counter.finish_strategy()
    comparison.encoder_stats = stats.as_dict()
    report(1.0, "Done")
    return comparison


class _PromptCounter:
    """Per-batch callbacks that count new prompts over all strategies of a run and stop
    promptly when cancelled."""

    def __init__(self, report: ProgressFn, cancel: threading.Event | None, total: int) -> None:
        self.report, self.cancel, self.total = report, cancel, total
        self.before = self.current = 0

    def fraction(self, strategies_done: float) -> float:
        """Share of the new prompts encoded (or of the strategies scored, when none is new)."""
        return min(1.0, (self.before + self.current) / self.total) if self.total else strategies_done

    def callback(self, label: str) -> Callable[[int, int], None]:
        """The ``progress(done, total)`` callback for one strategy's prompts."""

        def on_batch(done: int, total: int) -> None:
            check_cancel(self.cancel)
            self.current = done
            overall = min(self.before + done, self.total)
            self.report(self.fraction(0.0), f"{label}: encoded {overall} of {max(self.total, overall)} new prompts")

        return on_batch

    def finish_strategy(self) -> None:
        self.before += self.current
        self.current = 0


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise ``Cancelled`` when ``cancel`` is set (call between steps of long work)."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("Stopped at your request.")
