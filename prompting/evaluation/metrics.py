"""Classification and calibration metrics on N x C scores with integer labels.

Bad arrays (wrong shapes, labels out of range, no images) raise ``DatasetError``: in this
project labels come from a data set and must agree with the class list. Bad parameters
(``k < 1``, ``n_bins < 1``, an unknown probability kind) raise ``ValueError``.

Only numpy is used, so the CLI starts without scikit-learn and scipy (about a second). The
tests check the confusion matrix and balanced accuracy against scikit-learn's and the fitted
temperature against scipy's bounded Brent search.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from prompting.errors import DatasetError
from prompting.evaluation.results import ProbabilityKind
from prompting.vectors import softmax

PROBABILITY_FLOOR = 1e-12
DEFAULT_BINS = 15
TEMPERATURE_BOUNDS = (1e-3, 1e3)
TEMPERATURE_TOLERANCE = 1e-6  # on log T
INVERSE_GOLDEN = (3 - math.sqrt(5)) / 2
SQRT_EPS = math.sqrt(np.finfo(float).eps)
SIGMOID_CALIBRATION_NOTE = (
    "This model scores each class with an independent sigmoid; top-label calibration "
    "(NLL, Brier, ECE, MCE, reliability, temperature) is computed on the softmax over its logits."
)


def _scores_and_labels(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a finite N x C score matrix and N labels in ``0..C-1``; return them as arrays."""
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise DatasetError(f"Scores must be a non-empty images x classes matrix, got shape {scores.shape}.")
    if not np.all(np.isfinite(scores)):
        raise DatasetError("Scores contain NaN or infinite values.")
    return scores, _indices(labels, scores.shape[0], scores.shape[1], "labels")


def _indices(values: np.ndarray, n_images: int, n_classes: int, what: str) -> np.ndarray:
    """Validate ``n_images`` integer class indices in ``0..n_classes-1`` (labels or predictions)."""
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] != n_images:
        raise DatasetError(f"Expected {n_images} {what} (one per image), got shape {array.shape}.")
    if not np.issubdtype(array.dtype, np.integer):
        raise DatasetError(f"{what.capitalize()} must be integer class indices, got dtype {array.dtype}.")
    if array.min() < 0 or array.max() >= n_classes:
        raise DatasetError(f"{what.capitalize()} must lie in 0..{n_classes - 1}; found {array.min()}..{array.max()}.")
    return array.astype(int)


def _predictions(preds: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate predicted and true class indices of equal, non-zero length."""
    if n_classes < 1:
        raise DatasetError(f"The number of classes must be at least 1, got {n_classes}.")
    n_images = np.asarray(labels).shape[0] if np.ndim(labels) == 1 else 0
    if n_images == 0:
        raise DatasetError("Labels must be a non-empty list of class indices, one per image.")
    return _indices(preds, n_images, n_classes, "predictions"), _indices(labels, n_images, n_classes, "labels")



def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of images whose true class is among the ``k`` highest scores.

    Ties are broken towards the lower class index, as ``argmax`` does, so top-1 equals the
    accuracy of the argmax predictions. ``k >= C`` gives 1.0.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    scores, labels = _scores_and_labels(scores, labels)
    true_scores = scores[np.arange(labels.size), labels][:, None]
    lower_index = np.arange(scores.shape[1])[None, :] < labels[:, None]
    rank = np.sum(scores > true_scores, axis=1) + np.sum((scores == true_scores) & lower_index, axis=1)
    return float(np.mean(rank < k))


def confusion(preds: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """C x C count matrix: row = true class, column = predicted class."""
    preds, labels = _predictions(preds, labels, n_classes)
    counts = np.bincount(labels * n_classes + preds, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).astype(int)


def sparse_confusion(preds: np.ndarray, labels: np.ndarray, n_classes: int) -> dict[str, Any]:
    """The confusion matrix as its non-zero cells: ``{"n_classes": C, "cells": [[true,
    predicted, count], ...]}`` in row-major order. At most one cell per image, so results stay
    small however many classes there are (a dense 1000 x 1000 matrix is ~3 MB of JSON)."""
    preds, labels = _predictions(preds, labels, n_classes)
    cells, counts = np.unique(labels * n_classes + preds, return_counts=True)
    return {
        "n_classes": int(n_classes),
        "cells": [[int(cell // n_classes), int(cell % n_classes), int(count)] for cell, count in zip(cells, counts)],
    }


def dense_confusion(sparse: dict[str, Any]) -> np.ndarray:
    """The C x C count matrix of a ``sparse_confusion`` (for drawing a few classes of it)."""
    n = int(sparse["n_classes"])
    matrix = np.zeros((n, n), dtype=int)
    for true, predicted, count in sparse["cells"]:
        matrix[int(true), int(predicted)] += int(count)
    return matrix


def mean_per_class_recall(preds: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """Balanced accuracy: the mean recall over the classes PRESENT in ``labels``.

    Classes with no true images have no recall and are left out of the mean, as in
    scikit-learn's ``balanced_accuracy_score`` (the tests compare the two).
    """
    preds, labels = _predictions(preds, labels, n_classes)
    support = np.bincount(labels, minlength=n_classes)
    hits = np.bincount(labels[preds == labels], minlength=n_classes)
    present = support > 0
    return float(np.mean(hits[present] / support[present]))


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean of ``-log p(true class)``, with probabilities clipped below at 1e-12."""
    probs, labels = _scores_and_labels(probs, labels)
    true_probs = np.clip(probs[np.arange(labels.size), labels], PROBABILITY_FLOOR, 1.0)
    return float(-np.mean(np.log(true_probs))) + 0.0  # + 0.0 turns -0.0 into 0.0


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multiclass Brier score: mean over images of ``sum_c (p_c - onehot_c)^2``; range 0..2."""
    probs, labels = _scores_and_labels(probs, labels)
    onehot = np.zeros_like(probs)
    onehot[np.arange(labels.size), labels] = 1.0
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def reliability_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> list[dict[str, Any]]:
    """Top-label reliability diagram data (Guo et al. 2017).

    Bin m covers confidences in ``((m-1)/M, m/M]`` (right-closed); confidence 0 falls in the
    first bin. Each bin is ``{lower, upper, count, confidence, accuracy}`` where confidence
    and accuracy are means over the bin's images, or None for an empty bin.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}.")
    probs, labels = _scores_and_labels(probs, labels)
    confidences = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.arange(n_bins + 1) / n_bins
    bin_ids = np.clip(np.searchsorted(edges[1:], confidences, side="left"), 0, n_bins - 1)
    bins: list[dict[str, Any]] = []
    for m in range(n_bins):
        members = bin_ids == m
        count = int(members.sum())
        bins.append(
            {
                "lower": float(edges[m]),
                "upper": float(edges[m + 1]),
                "count": count,
                "confidence": float(confidences[members].mean()) if count else None,
                "accuracy": float(correct[members].mean()) if count else None,
            }
        )
    return bins


def _calibration_gaps(bins: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Counts and |accuracy - confidence| of the non-empty bins."""
    filled = [b for b in bins if b["count"]]
    counts = np.array([b["count"] for b in filled], dtype=float)
    gaps = np.array([abs(b["accuracy"] - b["confidence"]) for b in filled])
    return counts, gaps


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> float:
    """ECE: bin-size-weighted mean of |accuracy - confidence| over ``reliability_bins``."""
    counts, gaps = _calibration_gaps(reliability_bins(probs, labels, n_bins))
    return float(np.sum(counts * gaps) / np.sum(counts))


def maximum_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> float:
    """MCE: the largest |accuracy - confidence| over the non-empty ``reliability_bins``."""
    _, gaps = _calibration_gaps(reliability_bins(probs, labels, n_bins))
    return float(gaps.max())


def wilson_interval(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (95% by default) for a proportion; honest on small samples."""
    if total <= 0:
        return (0.0, 1.0)
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def temperature_at_limit(temperature: float) -> bool:
    """True when a fitted temperature sits on the search bound: the scores then carry no
    usable confidence signal (the fit flattens them to near-uniform), so "after" numbers mislead."""
    low, high = TEMPERATURE_BOUNDS
    return bool(np.isclose(temperature, high, rtol=1e-3) or np.isclose(temperature, low, rtol=1e-3))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The scalar T > 0 minimising the NLL of ``softmax(logits / T)`` (temperature scaling).

    Optimises log T by Brent's bounded search to 1e-6; T is limited to [1e-3, 1e3]. The NLL is
    unimodal in log T (it is convex in 1/T), so the bounded search finds the optimum (the
    tests compare it with scipy's bounded Brent search).
    Returns 1.0 when the NLL does not depend on T (one class, or all logits in a row equal).
    Dividing by T > 0 never changes the argmax.
    """
    logits, labels = _scores_and_labels(logits, labels)
    if np.all(logits.max(axis=1) == logits.min(axis=1)):
        return 1.0
    rows = np.arange(labels.size)
    buffer = np.empty_like(logits)  # reused by every evaluation: large sets allocate nothing per step

    def nll(log_t: float) -> float:
        """mean(logsumexp(z / T) - z_y / T), with the row maximum subtracted before exponentiating."""
        np.divide(logits, np.exp(log_t), out=buffer)
        top = buffer.max(axis=1, keepdims=True)
        np.subtract(buffer, top, out=buffer)
        true = buffer[rows, labels]
        np.exp(buffer, out=buffer)
        return float(np.mean(np.log(buffer.sum(axis=1)) - true))

    low, high = np.log(TEMPERATURE_BOUNDS)
    return float(np.exp(bounded_minimum(nll, float(low), float(high), TEMPERATURE_TOLERANCE)))


def bounded_minimum(function: Callable[[float], float], low: float, high: float, tolerance: float) -> float:
    """The minimiser of a unimodal ``function`` on [low, high] to within ``tolerance``, by
    Brent's method (golden-section steps with parabolic interpolation, as in Forsythe, Malcolm
    and Moler's ``fmin``; scipy's bounded ``minimize_scalar`` is the same algorithm): about 15
    evaluations where golden section alone needs about 40. Where the minimum is a flat stretch
    (an NLL that underflows to 0 for every small T), a point of that stretch is returned."""
    a, b = low, high
    x = w = v = a + INVERSE_GOLDEN * (b - a)
    fx = fw = fv = function(x)
    d = e = 0.0
    while True:
        middle = (a + b) / 2
        tol1 = SQRT_EPS * abs(x) + tolerance / 3
        tol2 = 2 * tol1
        if abs(x - middle) <= tol2 - (b - a) / 2:
            return x
        parabolic = False
        if abs(e) > tol1:
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2 * (q - r)
            if q > 0:
                p = -p
            q = abs(q)
            r, e = e, d
            if abs(p) < abs(q * r / 2) and q * (a - x) < p < q * (b - x):
                d, parabolic = p / q, True
                if (x + d) - a < tol2 or b - (x + d) < tol2:
                    d = tol1 if x < middle else -tol1
        if not parabolic:
            e = (b - x) if x < middle else (a - x)
            d = INVERSE_GOLDEN * e
        u = x + (d if abs(d) >= tol1 else math.copysign(tol1, d))
        fu = function(u)
        if fu <= fx:
            if u >= x:
                a = x
            else:
                b = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu

def evaluate(logits: np.ndarray, labels: np.ndarray, probability_kind: ProbabilityKind = "softmax") -> dict[str, Any]:
    """All metrics for one strategy as plain JSON-able values.

    Keys: ``n_images``, ``n_classes``, ``n_classes_present``, ``probability_kind``, ``top1``,
    ``top5`` (None when C < 5), ``mean_per_class_recall`` (over classes present),
    ``nll``, ``brier``, ``ece``, ``mce``, ``reliability`` (list of bins, see
    ``reliability_bins``) and ``confusion`` (its non-zero cells, see ``sparse_confusion``), all on
    ``softmax(logits)``; ``temperature`` (fitted T), ``nll_after_temperature``,
    ``ece_after_temperature`` on ``softmax(logits / T)``; ``temperature_at_limit`` (T sits on
    the search bound, so the after-temperature numbers mean nothing); ``top1_correct`` and
    ``top1_interval`` (Wilson 95% interval for top-1); ``calibration_note`` (a sentence for
    sigmoid models, whose top-label metrics use the softmax over logits; else None).
    """
    if probability_kind not in ("softmax", "sigmoid"):
        raise ValueError(f"probability_kind must be 'softmax' or 'sigmoid', got {probability_kind!r}.")
    logits, labels = _scores_and_labels(logits, labels)
    n_classes = logits.shape[1]
    probs = softmax(logits, axis=1)
    preds = probs.argmax(axis=1)
    temperature = fit_temperature(logits, labels)
    scaled = softmax(logits / temperature, axis=1)
    correct = int(np.sum(preds == labels))
    return {
        "n_images": int(labels.size),
        "n_classes": int(n_classes),
        "n_classes_present": int(np.unique(labels).size),
        "probability_kind": probability_kind,
        "top1": topk_accuracy(logits, labels, 1),
        "top1_correct": correct,
        "top1_interval": list(wilson_interval(correct, int(labels.size))),
        "top5": topk_accuracy(logits, labels, 5) if n_classes >= 5 else None,
        "mean_per_class_recall": mean_per_class_recall(preds, labels, n_classes),
        "nll": negative_log_likelihood(probs, labels),
        "brier": brier_score(probs, labels),
        "ece": expected_calibration_error(probs, labels),
        "mce": maximum_calibration_error(probs, labels),
        "reliability": reliability_bins(probs, labels),
        "confusion": sparse_confusion(preds, labels, n_classes),
        "temperature": temperature,
        "temperature_at_limit": temperature_at_limit(temperature),
        "nll_after_temperature": negative_log_likelihood(scaled, labels),
        "ece_after_temperature": expected_calibration_error(scaled, labels),
        "calibration_note": SIGMOID_CALIBRATION_NOTE if probability_kind == "sigmoid" else None,
    }
