"""Plain result objects shared by the CLI, the app, figures and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from prompting.classes import ClassName
from prompting.strategies.fudd import FuddDetails

if TYPE_CHECKING:  # paired.py imports this module
    from prompting.evaluation.paired import PairedComparison

ProbabilityKind = Literal["softmax", "sigmoid"]
UNKNOWN_LABEL = -1  # in ``Comparison.partial_labels``: this image's true class is not known


@dataclass
class StrategyResult:
    """Scores of one strategy on N images x C classes.

    ``similarities`` is the cosine similarity used for ranking (for mean-of-scores strategies
    such as DCLIP and WaffleCLIP, the mean of per-prompt cosines). ``logits`` are the model's
    logits from it; ``probabilities`` are softmax (CLIP family) or per-class sigmoid (SigLIP).
    ``prompt_similarities[c]`` is an N x P_c array of per-prompt cosines for class c, aligned
    with ``prompts[c]``; it explains which prompts pulled a decision where.
    ``class_text_vectors`` (C x D) is each class's normalised mean prompt embedding, used to
    find classes whose prompts the model can hardly tell apart.
    ``prompt_weights`` (ZPE: one weight per template, AutoCLIP: N x templates, one row per image)
    are aligned with ``weight_templates``; ``warnings`` are notes the reader must not miss.
    ``fudd`` (FuDD only) holds each image's ambiguous set and why top classes changed.
    """

    name: str
    label: str
    similarities: np.ndarray
    logits: np.ndarray
    probabilities: np.ndarray
    probability_kind: ProbabilityKind
    prompts: list[list[str]]
    prompt_similarities: list[np.ndarray]
    class_text_vectors: np.ndarray | None = None
    metrics: dict[str, Any] | None = None
    seed_runs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    prompt_weights: np.ndarray | None = None
    weight_templates: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fudd: FuddDetails | None = None

    def predictions(self, k: int = 1) -> np.ndarray:
        """Indices of the top-k classes per image, best first (N x k); ties go to the lower index."""
        if k == 1:  # the first maximum, as the stable sort gives, without sorting N x C
            return np.argmax(self.logits, axis=1)[:, None]
        order = np.argsort(-self.logits, axis=1, kind="stable")
        return order[:, :k]


@dataclass
class ImageRecord:
    """One scored image: where it came from, a short display name and its label index if known."""

    path: str
    name: str
    label: int | None = None


@dataclass
class Comparison:
    """Everything one comparison produced: the inputs' identities and each strategy's scores.

    ``encoder_stats`` counts the distinct prompts and images encoded and served from the cache;
    ``quantization`` is "int8" when the model ran dynamically quantised (else None).
    """

    model: str
    classes: list[ClassName]
    images: list[ImageRecord]
    strategies: dict[str, StrategyResult]
    skipped: list[dict[str, str]] = field(default_factory=list)
    strategy_errors: dict[str, str] = field(default_factory=dict)
    probability_kind: ProbabilityKind = "softmax"
    encoder_stats: dict[str, int] = field(default_factory=dict)
    # A stored set scored at full scale keeps per-image scores for a sample of its images only:
    # ``sample_of`` is then how many images were scored (metrics cover all of them), and
    # ``headline``, ``summary`` and ``paired`` the headline, plain-language sentences and paired
    # comparisons of the whole set.
    sample_of: int | None = None
    summary: list[str] | None = None
    paired: list[PairedComparison] | None = None
    quantization: str | None = None
    headline: str | None = None

    @property
    def model_label(self) -> str:
        """The model's name as results show it, saying when it ran quantised."""
        return f"{self.model} ({self.quantization} quantised)" if self.quantization else self.model

    @property
    def labels(self) -> np.ndarray | None:
        """Label indices for all images, or None unless every image is labelled."""
        if not self.images or any(img.label is None for img in self.images):
            return None
        return np.array([img.label for img in self.images], dtype=int)

    @property
    def partial_labels(self) -> np.ndarray | None:
        """Label index per image, ``UNKNOWN_LABEL`` where the true class is not known (none given,
        or not in the class list); None when no image has one. Accuracy and calibration are
        measured on the known ones, as the paired comparisons are."""
        if not any(img.label is not None for img in self.images):
            return None
        return np.array([UNKNOWN_LABEL if img.label is None else img.label for img in self.images], dtype=int)
