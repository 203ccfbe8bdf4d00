"""From prompt and image embeddings to similarities, logits, probabilities and explanations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np

from prompting.encoding.embeddings import EncodeStats, Progress, TextEmbeddingStore
from prompting.encoding.models import DualEncoder
from prompting.evaluation.metrics import evaluate
from prompting.evaluation.results import UNKNOWN_LABEL, ProbabilityKind, StrategyResult
from prompting.strategies.autoclip import AutoClipOptions, autoclip
from prompting.strategies.registry import WEIGHTED, Aggregation, PromptPlan
from prompting.strategies.zpe import weighted_class_vectors, zpe_scores, zpe_weights
from prompting.vectors import normalise_rows

ZPE_NOTE = (
    "ZPE weights come from these {n} unlabelled images with the paper's test-images-only normalisation "
    "(no sample of pretraining images is available here), so they change with the images you score."
)
ZPE_REFERENCE_NOTE = (
    "ZPE weights come from these {n} unlabelled images, normalised with them and with {m} reference images "
    "(the paper's main mode, with your sample standing in for its pretraining images)."
)
ZPE_ONE_IMAGE = (
    "ZPE needs several images: with only one, its normalisation makes every template score the same, so the "
    "weights are uniform (a plain average of the templates)."
)
AUTOCLIP_NOTE = (
    "AutoCLIP weights the templates per image (entropy target {beta:g} × log of {k} templates; objective on "
    "{objective})."
)


class PromptScores(Sequence[np.ndarray]):
    """Per-prompt cosines class by class (``scores[c]`` is N x P_c), computed when a class is
    asked for: holding them all would take N x (all prompts) floats, 16 GB for 50,000 images
    x 1,000 classes x 80 templates."""

    def __init__(self, image_vectors: np.ndarray, prompt_vectors: list[np.ndarray]) -> None:
        self.image_vectors = image_vectors
        self.prompt_vectors = prompt_vectors

    def __len__(self) -> int:
        return len(self.prompt_vectors)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> list[np.ndarray]: ...

    def __getitem__(self, index: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self.image_vectors @ self.prompt_vectors[index].T

    @property
    def nbytes(self) -> int:
        """Bytes of the vectors held (the image vectors are shared with the run)."""
        return int(self.image_vectors.nbytes + sum(vectors.nbytes for vectors in self.prompt_vectors))


def class_similarities(
    image_vectors: np.ndarray, prompt_vectors: list[np.ndarray], aggregation: Aggregation
) -> tuple[np.ndarray, PromptScores, np.ndarray]:
    """Cosine per (image, class) under ``aggregation``, per-prompt cosines, class text vectors.

    ``mean_embedding``: cos(image, normalise(mean of normalised prompt embeddings)).
    ``mean_score``: mean over the class's prompts of cos(image, prompt), computed as the
    cosine-sum identity mean_p(x . v_p) = x . mean_p(v_p) in float64, one product per class.
    """
    means = np.stack([vectors.mean(axis=0, dtype=np.float64) for vectors in prompt_vectors])
    class_vectors = normalise_rows(means).astype(np.float32)
    if aggregation == "mean_embedding":
        similarities = image_vectors @ class_vectors.T
    else:
        similarities = np.asarray(image_vectors, dtype=np.float64) @ means.T
    return similarities.astype(np.float64), PromptScores(image_vectors, prompt_vectors), class_vectors


def template_stack(prompt_vectors: list[np.ndarray]) -> np.ndarray:
    """P x C x D from per-class P x D arrays whose rows follow the same templates."""
    return np.stack(prompt_vectors, axis=1)


def weighted_similarities(
    image_vectors: np.ndarray, prompt_vectors: list[np.ndarray], plan: PromptPlan, logit_scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """ZPE or AutoCLIP: (similarities N x C, weights, class text vectors C x D, notes, warnings).

    Similarities are weighted means of per-template cosines. ZPE's weights (one per template)
    come from the images' scaled logits; its text vectors are the normalised weighted means.
    AutoCLIP's weights are per image (N x P); its text vectors are the normalised plain means.
    """
    stack = template_stack(prompt_vectors)
    images = len(image_vectors)
    if plan.aggregation == "zpe":
        reference = plan.zpe_reference
        weights = zpe_weights(zpe_scores(image_vectors, stack, logit_scale, reference))
        class_vectors = weighted_class_vectors(stack, weights)
        similarities = np.asarray(image_vectors, dtype=np.float64) @ class_vectors.T
        if reference is not None and len(reference):
            note, warnings = ZPE_REFERENCE_NOTE.format(n=images, m=len(reference)), []
        else:
            note, warnings = ZPE_NOTE.format(n=images), [ZPE_ONE_IMAGE] if images < 2 else []
        return similarities, weights, normalise_rows(class_vectors), [note], warnings
    options = plan.autoclip or AutoClipOptions()
    tau = logit_scale if options.objective == "logit" else 1.0
    weights, similarities = autoclip(image_vectors, stack, options.beta, tau)
    objective = "the model's scaled logits" if options.objective == "logit" else "raw cosines, as the reference code"
    note = AUTOCLIP_NOTE.format(beta=options.beta, k=len(stack), objective=objective)
    return similarities, weights, normalise_rows(stack.mean(axis=0)), [note], []


def embed_plan(
    store: TextEmbeddingStore, prompts: list[list[str]], stats: EncodeStats, progress: Progress | None = None
) -> list[np.ndarray]:
    """Embed every class's prompts with one cache lookup; one array per class."""
    flat = [p for class_prompts in prompts for p in class_prompts]
    vectors = store.embed(flat, stats=stats, progress=progress)
    bounds = np.cumsum([0] + [len(p) for p in prompts])
    return [vectors[bounds[i] : bounds[i + 1]] for i in range(len(prompts))]


def score_plan(
    encoder: DualEncoder,
    store: TextEmbeddingStore,
    image_vectors: np.ndarray,
    plan: PromptPlan,
    name: str,
    label: str,
    labels: np.ndarray | None,
    stats: EncodeStats,
    progress: Progress | None = None,
) -> StrategyResult:
    """Score one strategy's prompts against the images; metrics on the images whose true class
    is known (``labels``: one per image, ``UNKNOWN_LABEL`` where it is not; None when none is).

    ``progress(done, total)`` is called after each batch of newly encoded prompts.
    """
    prompt_vectors = embed_plan(store, plan.prompts, stats, progress)
    if plan.aggregation in WEIGHTED:
        weighting = weighted_similarities(image_vectors, prompt_vectors, plan, encoder.logit_scale)
        similarities, weights, class_vectors, notes, warnings = weighting
        per_prompt = PromptScores(image_vectors, prompt_vectors)
    else:
        similarities, per_prompt, class_vectors = class_similarities(image_vectors, prompt_vectors, plan.aggregation)
        weights, notes, warnings = None, [], []
    warnings = list(plan.warnings) + warnings
    logits = encoder.logits(similarities)
    result = StrategyResult(
        name=name,
        label=label,
        similarities=similarities,
        logits=logits,
        probabilities=encoder.probabilities(logits),
        probability_kind=encoder.probability_kind,
        prompts=plan.prompts,
        prompt_similarities=per_prompt,
        class_text_vectors=class_vectors,
        metrics=labelled_metrics(logits, labels, encoder.probability_kind),
        notes=list(plan.notes) + notes + warnings,
        prompt_weights=weights,
        weight_templates=list(plan.templates) if weights is not None else [],
        warnings=warnings,
    )
    result.seed_runs = [
        _seed_run(encoder, image_vectors, vectors, seed, plan.aggregation, labels)
        for seed, vectors in zip(plan.seeds, _seed_slices(prompt_vectors, plan.seed_groups))
    ]
    return result


def labelled_metrics(
    logits: np.ndarray, labels: np.ndarray | None, probability_kind: ProbabilityKind
) -> dict | None:
    """``evaluate`` on the images whose label is known (not ``UNKNOWN_LABEL``); None when none is."""
    if labels is None:
        return None
    known = labels != UNKNOWN_LABEL
    if not known.any():
        return None
    return evaluate(logits[known], labels[known], probability_kind)


def _seed_slices(prompt_vectors: list[np.ndarray], seed_groups: list[list[list[str]]]) -> list[list[np.ndarray]]:
    """Each seed's prompt vectors per class, cut from the plan's (seed groups are concatenated per class)."""
    slices: list[list[np.ndarray]] = []
    offsets = [0] * len(prompt_vectors)
    for group in seed_groups:
        slices.append([vectors[offsets[c] : offsets[c] + len(group[c])] for c, vectors in enumerate(prompt_vectors)])
        offsets = [offset + len(group[c]) for c, offset in enumerate(offsets)]
    return slices


def _seed_run(
    encoder: DualEncoder,
    image_vectors: np.ndarray,
    prompt_vectors: list[np.ndarray],
    seed: int,
    aggregation: Aggregation,
    labels: np.ndarray | None,
) -> dict:
    """One seed's predictions and, with labels, its accuracy."""
    similarities, _, _ = class_similarities(image_vectors, prompt_vectors, aggregation)
    logits = encoder.logits(similarities)
    predictions = logits.argmax(axis=1)
    run: dict = {"seed": seed, "predictions": predictions.tolist(), "top1": None}
    metrics = labelled_metrics(logits, labels, encoder.probability_kind)
    if metrics is not None:
        run.update(top1=metrics["top1"], top5=metrics.get("top5"), ece=metrics.get("ece"))
    return run

