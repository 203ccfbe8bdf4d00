"""AutoCLIP: per-image template weights (Metzen, Saranrittichai, Mummadi; TMLR 2024).

Written from the paper's equations (the authors' code is AGPL and was not used). For one image
with per-template cosines ``S[i, j]`` (template i, class j):

- class scores for template weights ``w = softmax(rho)``: ``s_j = sum_i w_i S[i, j]`` (the
  weighted query is not renormalised);
- objective ``F(rho) = logsumexp_j(tau * s_j)``; one gradient-ascent step from uniform weights
  (``rho = 0``): ``rho = alpha * grad F(0)``, with the exact gradient
  ``grad_i = (tau / K) * (h_i - mean(h))``, ``h_i = sum_j p_j S[i, j]``, ``p = softmax_j(tau * s)``;
- the step size ``alpha >= 0`` is found by bisection so that the entropy of the weights equals
  ``beta * log K`` (the uniform weights' entropy times ``beta``; default 0.85, the paper's);
- the class scores are the weighted averages of the per-template cosines.

``tau = 1`` uses raw cosines in the objective, as the released reference code does; passing
the model's logit scale instead makes the class posterior ``p`` sharper (the paper does not say
which its CLIP experiments used). Everything is vectorised over images, and the bisection runs
for all images at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from prompting.errors import StrategyError
from prompting.vectors import softmax

DEFAULT_BETA = 0.85
BISECTION_STEPS = 100
MAX_STEP = 1e6  # upper end for alpha times the spread of the gradient
FLAT_GRADIENT = 1e-12
CHUNK_CELLS = 4_000_000  # images x templates x classes held at once
Objective = Literal["cosine", "logit"]


@dataclass(frozen=True)
class AutoClipOptions:
    """``beta``: target entropy as a share of the uniform weights' (0 < beta <= 1); ``objective``:
    ``"cosine"`` (logsumexp of raw cosines, as the reference code) or ``"logit"`` (of the
    model's scaled logits)."""

    beta: float = DEFAULT_BETA
    objective: Objective = "cosine"

    def __post_init__(self) -> None:
        if not 0.0 < self.beta <= 1.0:
            raise StrategyError(f"AutoCLIP's beta must lie between 0 (exclusive) and 1, got {self.beta}.")
        if self.objective not in ("cosine", "logit"):
            raise StrategyError(f"AutoCLIP's objective must be 'cosine' or 'logit', got {self.objective!r}.")


def logsumexp_gradient(similarities: np.ndarray, tau: float = 1.0) -> np.ndarray:
    """The exact gradient of ``logsumexp_j(tau * s_j(softmax(rho)))`` at ``rho = 0``, per image.

    ``similarities``: N x K x C per-template cosines. Returns N x K.
    """
    cosines = np.asarray(similarities, dtype=np.float64)
    templates = cosines.shape[1]
    posterior = softmax(tau * cosines.mean(axis=1), axis=-1)
    pulls = np.einsum("nkc,nc->nk", cosines, posterior)
    return (tau / templates) * (pulls - pulls.mean(axis=1, keepdims=True))


def entropy(logits: np.ndarray) -> np.ndarray:
    """Entropy in nats of ``softmax(logits)`` along the last axis, computed stably."""
    from scipy.special import logsumexp  # imported here: scipy costs start-up time every run would pay

    logits = np.asarray(logits, dtype=np.float64)
    return logsumexp(logits, axis=-1) - np.sum(softmax(logits, axis=-1) * logits, axis=-1)


def entropy_matched_weights(gradient: np.ndarray, beta: float = DEFAULT_BETA) -> np.ndarray:
    """``softmax(alpha * gradient)`` per row, with ``alpha >= 0`` bisected (all rows at once)
    so that its entropy is ``beta * log K``.

    A row whose gradient is flat (identical templates) keeps uniform weights; a row whose
    target is out of reach (several templates tie for the largest gradient) gets the largest
    step tried, i.e. weights spread evenly over the tied templates.
    """
    if not 0.0 < beta <= 1.0:
        raise ValueError(f"beta must lie in (0, 1], got {beta}.")
    gradient = np.asarray(gradient, dtype=np.float64)
    templates = gradient.shape[-1]
    spread = gradient.max(axis=-1) - gradient.min(axis=-1)
    flat = spread < FLAT_GRADIENT
    direction = gradient / np.where(flat, 1.0, spread)[:, None]
    target = beta * np.log(templates)
    low = np.zeros(len(gradient))
    high = np.full(len(gradient), MAX_STEP)
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (low + high)
        above = entropy(middle[:, None] * direction) > target
        low = np.where(above, middle, low)
        high = np.where(above, high, middle)
    steps = np.where(flat, 0.0, 0.5 * (low + high))
    return softmax(steps[:, None] * direction, axis=-1)


def autoclip(
    image_vectors: np.ndarray, template_vectors: np.ndarray, beta: float = DEFAULT_BETA, tau: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image template weights (N x K) and class scores (N x C, weighted mean cosines).

    ``image_vectors``: N x D normalised; ``template_vectors``: K x C x D normalised prompt
    embeddings (template k filled with class c). Images are processed in chunks so that at most
    ``CHUNK_CELLS`` per-template cosines are held at once.
    """
    images = np.asarray(image_vectors, dtype=np.float32)
    templates = np.asarray(template_vectors, dtype=np.float32)
    n_templates, n_classes = templates.shape[:2]
    chunk = max(1, CHUNK_CELLS // max(n_templates * n_classes, 1))
    weights = np.empty((len(images), n_templates))
    scores = np.empty((len(images), n_classes))
    for start in range(0, len(images), chunk):
        cosines = np.einsum("nd,kcd->nkc", images[start : start + chunk], templates).astype(np.float64)
        chunk_weights = entropy_matched_weights(logsumexp_gradient(cosines, tau), beta)
        weights[start : start + chunk] = chunk_weights
        scores[start : start + chunk] = np.einsum("nk,nkc->nc", chunk_weights, cosines)
    return weights, scores
