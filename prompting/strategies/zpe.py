"""ZPE: zero-shot prompt ensembling (Allingham et al., ICML 2023), arrays in, arrays out.

Each template gets one score from the model's confidence on the run's unlabelled images, and
the templates are averaged with the softmax of those scores as weights. From the paper's
notebook (``get_weights``, ``agg_logits``), in our words:

- Per-template logits in scaled units: ``l_p(x)_c = exp(logit_scale) * cos(x, t_{p,c})``.
- Normalisation: subtract a per-(template, class) mean logit. The paper's main mode averages
  the means over ~20k pretraining images and over the test images (``debias_mode='both'``).
  Without a pretraining sample we use its test-images-only variant (``debias_mode='test'``),
  unless a ``reference`` sample of pretraining-like images is given (then ``'both'``).
- Score ``s_p`` = mean over images of the largest normalised logit; weights = softmax over
  templates at temperature 1 (the scores are in scaled-logit units, so no extra temperature).
- The weights are applied to the per-template scores, i.e. the class vector is the weighted
  mean of the normalised prompt embeddings, NOT renormalised. The weights sum to 1 over the
  pool; the notebook's ``agg_logits`` also divides by the number of templates, which only
  rescales the logits (same argmax) and would flatten probabilities, so we leave it out.

With one image, test-only normalisation makes every score 0: the weights are then uniform.
"""

from __future__ import annotations

import numpy as np

from prompting.vectors import softmax


def zpe_scores(
    image_vectors: np.ndarray,
    template_vectors: np.ndarray,
    logit_scale: float,
    reference_vectors: np.ndarray | None = None,
) -> np.ndarray:
    """One score per template (P,): mean over images of the max normalised scaled logit.

    ``image_vectors``: N x D normalised image embeddings; ``template_vectors``: P x C x D
    normalised prompt embeddings (template p filled with class c). ``reference_vectors``
    (M x D, optional): unlabelled pretraining-like images whose mean logits are averaged with
    the test images' (the paper's main mode); without them only the test mean is subtracted.
    Works one template at a time, so memory stays at N x C.
    """
    images = np.asarray(image_vectors, dtype=np.float32)
    scores = np.empty(len(template_vectors), dtype=np.float64)
    for p, vectors in enumerate(np.asarray(template_vectors, dtype=np.float32)):
        logits = logit_scale * (images @ vectors.T).astype(np.float64)
        bias = logits.mean(axis=0)
        if reference_vectors is not None and len(reference_vectors):
            reference = logit_scale * (np.asarray(reference_vectors, dtype=np.float32) @ vectors.T)
            bias = 0.5 * (bias + reference.astype(np.float64).mean(axis=0))
        scores[p] = float((logits - bias).max(axis=1).mean())
    return scores


def zpe_weights(scores: np.ndarray) -> np.ndarray:
    """Softmax of the template scores at temperature 1 (the weights sum to 1)."""
    return softmax(np.asarray(scores, dtype=np.float64))


def weighted_class_vectors(template_vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """C x D: each class's weighted sum of its normalised prompt embeddings (not renormalised),
    so ``image @ result.T`` is the weighted mean of the per-template cosines."""
    return np.einsum("p,pcd->cd", np.asarray(weights, dtype=np.float64), np.asarray(template_vectors, np.float64))
