"""Small array helpers every wing uses: row normalisation and a stable softmax."""

from __future__ import annotations

import numpy as np


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """L2-normalise each row (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (the row maximum is subtracted before exponentiating)."""
    logits = np.asarray(logits, dtype=float)
    probs: np.ndarray = logits - np.max(logits, axis=axis, keepdims=True)
    np.exp(probs, out=probs)  # in place: one array allocated, however large
    probs /= np.sum(probs, axis=axis, keepdims=True)
    return probs
