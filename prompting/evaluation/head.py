"""A deployable classifier head from any linear strategy (issue 10, part 4).

``head.safetensors`` holds one float32 tensor ``weight`` (classes x D); ``head.json`` says how to
use it. For a normalised image embedding ``z``::

    logits = (logit_scale * z @ weight.T + logit_bias) / temperature
    probabilities = softmax(logits)   # CLIP family
    probabilities = sigmoid(logits)   # SigLIP family

The weight reproduces the strategy's scores exactly:
- ``mean_embedding`` (class name, templates, ensembles, CuPL, selected): the normalised mean of
  the normalised prompt embeddings;
- ``mean_score`` (DCLIP, WaffleCLIP): the plain mean of the prompt embeddings, whose cosine with
  ``z`` is the mean of the per-prompt cosines;
- ``zpe``: the weighted, unrenormalised mean with ZPE's template weights (learnt from images).
AutoCLIP weights templates per image and FuDD re-scores each image's top classes with other
text, so neither has a fixed linear head and both are refused. A class without prompts has no
weight row and is refused too.

The temperature is fitted on labelled images when they are given (CLIP family: softmax NLL, as
the calibration tab does; SigLIP: the mean per-class sigmoid cross-entropy, since the head's
SigLIP probabilities are sigmoids), else it is 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save as safetensors_bytes

from prompting.classes import ClassName
from prompting.encoding.embeddings import EncodeStats, text_store
from prompting.encoding.models import DualEncoder
from prompting.errors import StrategyError
from prompting.evaluation.compare import EncodedImages, score_strategies
from prompting.evaluation.metrics import TEMPERATURE_BOUNDS, TEMPERATURE_TOLERANCE, bounded_minimum, fit_temperature
from prompting.evaluation.results import StrategyResult
from prompting.evaluation.scoring import embed_plan, template_stack
from prompting.storage import atomic_write_bytes
from prompting.strategies.registry import PromptPlan, StrategySpec, build_prompts, default_label, get_strategy
from prompting.strategies.zpe import weighted_class_vectors
from prompting.vectors import normalise_rows

HEAD_FORMAT = "prompt-workbench-head"
HEAD_VERSION = 1
WEIGHT_FILE = "head.safetensors"
MANIFEST_FILE = "head.json"
NOT_LINEAR = (
    "AutoCLIP weights the templates differently for every image, so it has no fixed classifier head to export. "
    "Export ZPE (one set of template weights) or a template ensemble instead."
)
NOT_LINEAR_FUDD = (
    "FuDD re-scores each image's top classes with descriptions of the pairs among them, so it has no fixed "
    "classifier head to export. Export its base strategy (e.g. --strategy template) instead."
)
ZPE_NEEDS_IMAGES = "ZPE learns its template weights from images: give the images to weight them on."


@dataclass
class ClassifierHead:
    """The class weight matrix (C x D, float32) and its manifest (``head.json``)."""

    weight: np.ndarray
    manifest: dict[str, Any]

    def logits(self, image_vectors: np.ndarray) -> np.ndarray:
        """Logits of normalised image embeddings (N x C), temperature applied."""
        m = self.manifest
        raw = m["logit_scale"] * np.asarray(image_vectors, np.float64) @ self.weight.T.astype(np.float64)
        return (raw + m["logit_bias"]) / m["temperature"]

    def files(self) -> dict[str, bytes]:
        """``head.safetensors`` and ``head.json`` as bytes, by file name."""
        weight = np.ascontiguousarray(self.weight, dtype=np.float32)
        manifest = json.dumps(self.manifest, ensure_ascii=False, indent=2) + "\n"
        return {
            WEIGHT_FILE: safetensors_bytes({"weight": weight}, metadata={"format": HEAD_FORMAT}),
            MANIFEST_FILE: manifest.encode("utf-8"),
        }

    def write(self, directory: Path) -> list[Path]:
        """Write both files into ``directory`` (created if needed), each atomically."""
        paths = []
        for name, data in self.files().items():
            atomic_write_bytes(Path(directory) / name, data)
            paths.append(Path(directory) / name)
        return paths


def check_linear(name: str) -> None:
    """StrategyError unless strategy ``name`` scores images with one fixed weight matrix."""
    aggregation = get_strategy(name).aggregation
    if aggregation == "autoclip":
        raise StrategyError(NOT_LINEAR)
    if aggregation == "fudd":
        raise StrategyError(NOT_LINEAR_FUDD)


def check_prompts(plan: PromptPlan, classes: list[ClassName]) -> None:
    """StrategyError naming the classes for which the plan has no prompt (no weight row)."""
    empty = [cls.display for cls, prompts in zip(classes, plan.prompts) if not prompts]
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        raise StrategyError(f"The strategy writes no prompts for {shown} ({len(empty)} of {len(classes)} classes), "
                            "so the head would have no weights for them; give those classes prompts or descriptions.")


def head_weight(plan: PromptPlan, prompt_vectors: list[np.ndarray], prompt_weights: np.ndarray | None) -> np.ndarray:
    """C x D class weights that reproduce the plan's class scores (see the module notes)."""
    if plan.aggregation == "zpe":
        if prompt_weights is None:
            raise StrategyError(ZPE_NEEDS_IMAGES)
        return weighted_class_vectors(template_stack(prompt_vectors), prompt_weights).astype(np.float32)
    means = np.stack([vectors.astype(np.float64).mean(axis=0) for vectors in prompt_vectors])
    return (normalise_rows(means) if plan.aggregation == "mean_embedding" else means).astype(np.float32)


def fit_sigmoid_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """T > 0 minimising the mean over images of the summed per-class binary cross-entropy of
    ``sigmoid(logits / T)`` against one-hot labels (bounded search on log T, as ``fit_temperature``)."""
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.zeros_like(logits)
    targets[np.arange(len(labels)), np.asarray(labels, dtype=int)] = 1.0

    def loss(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        return float(np.mean(np.sum(np.logaddexp(0.0, scaled) - targets * scaled, axis=1)))

    low, high = np.log(TEMPERATURE_BOUNDS)
    return float(np.exp(bounded_minimum(loss, float(low), float(high), TEMPERATURE_TOLERANCE)))


def head_from_result(
    encoder: DualEncoder,
    classes: list[ClassName],
    spec: StrategySpec,
    result: StrategyResult,
    labels: np.ndarray | None,
    model_name: str,
    key: str | None = None,
) -> ClassifierHead:
    """The head of a scored strategy: its prompts' embeddings come from the text cache (nothing
    is encoded twice), ZPE's weights from ``result``, and the temperature from ``labels`` (one per
    image of the result) when given."""
    check_linear(spec.name)
    plan = build_prompts(spec, classes)
    check_prompts(plan, classes)
    vectors = embed_plan(text_store(encoder), plan.prompts, EncodeStats())
    weight = head_weight(plan, vectors, result.prompt_weights)
    temperature, fitted_on = 1.0, 0
    if labels is not None and len(labels):
        fit = fit_sigmoid_temperature if encoder.family == "siglip" else fit_temperature
        temperature, fitted_on = fit(result.logits, np.asarray(labels, dtype=int)), len(labels)
    return ClassifierHead(weight, _manifest(encoder, classes, spec, plan, result, model_name, key, temperature,
                                           fitted_on))


def head_for_strategy(
    encoder: DualEncoder,
    classes: list[ClassName],
    spec: StrategySpec,
    model_name: str,
    encoded: EncodedImages | None = None,
) -> ClassifierHead:
    """The head of ``spec``; with ``encoded`` images the strategy is scored on them first (ZPE's
    weights; the temperature when every image is labelled)."""
    check_linear(spec.name)
    plan = build_prompts(spec, classes)
    check_prompts(plan, classes)
    if encoded is None:
        if plan.aggregation == "zpe":
            raise StrategyError(ZPE_NEEDS_IMAGES)
        vectors = embed_plan(text_store(encoder), plan.prompts, EncodeStats())
        weight = head_weight(plan, vectors, None)
        return ClassifierHead(weight, _manifest(encoder, classes, spec, plan, None, model_name, None, 1.0, 0))
    comparison = score_strategies(encoder, encoded, classes, [spec])
    result = next(iter(comparison.strategies.values()))
    return head_from_result(encoder, classes, spec, result, comparison.labels, model_name)


def _manifest(
    encoder: DualEncoder, classes: list[ClassName], spec: StrategySpec, plan: PromptPlan,
    result: StrategyResult | None, model_name: str, key: str | None, temperature: float, fitted_on: int,
) -> dict[str, Any]:
    zpe = plan.aggregation == "zpe" and result is not None and result.prompt_weights is not None
    return {
        "format": HEAD_FORMAT,
        "version": HEAD_VERSION,
        "model": model_name,
        "identity": encoder.identity,
        "family": encoder.family,
        "logit_scale": float(encoder.logit_scale),
        "logit_bias": float(encoder.logit_bias),
        "temperature": float(temperature),
        "temperature_fitted_on_images": fitted_on,
        "probability": encoder.probability_kind,
        "strategy": key or spec.name,
        "strategy_label": result.label if result is not None else default_label(spec),
        "aggregation": plan.aggregation,
        "classes": [{"display": cls.display, "prompt": cls.prompt} for cls in classes],
        "prompts": plan.prompts,
        "templates": list(plan.templates) if zpe else None,
        "weights": [float(w) for w in result.prompt_weights] if zpe and result is not None else None,
        "text_settings": encoder.text_settings.key(),
        "usage": "logits = (logit_scale * normalise(image_embedding) @ weight.T + logit_bias) / temperature; "
                 + ("sigmoid(logits) per class" if encoder.family == "siglip" else "softmax(logits) over classes"),
    }
