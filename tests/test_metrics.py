"""Metrics on hand-made arrays, cross-checked against scikit-learn where it has the metric."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, top_k_accuracy_score

from prompting.errors import DatasetError
from prompting.evaluation.metrics import (
    brier_score,
    confusion,
    dense_confusion,
    evaluate,
    expected_calibration_error,
    fit_temperature,
    maximum_calibration_error,
    mean_per_class_recall,
    negative_log_likelihood,
    reliability_bins,
    sparse_confusion,
    topk_accuracy,
)
from prompting.vectors import softmax

HAND_SCORES = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
HAND_LABELS = np.array([1, 1, 0])


def _overconfident(seed: int, n: int = 600, n_classes: int = 5, scale: float = 12.0):
    """Logits whose argmax is right ~60% of the time but whose softmax is near 1."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    base = rng.normal(size=(n, n_classes))
    base[np.arange(n), labels] += 1.0
    return scale * base, labels


def test_topk_accuracy_hand_case() -> None:
    assert topk_accuracy(HAND_SCORES, HAND_LABELS, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(HAND_SCORES, HAND_LABELS, 2) == pytest.approx(2 / 3)
    assert topk_accuracy(HAND_SCORES, HAND_LABELS, 3) == 1.0
    assert topk_accuracy(HAND_SCORES, HAND_LABELS, 10) == 1.0


def test_topk_ties_break_towards_lower_index_like_argmax() -> None:
    scores = np.array([[0.5, 0.5], [0.5, 0.5]])
    assert topk_accuracy(scores, np.array([0, 0]), 1) == 1.0
    assert topk_accuracy(scores, np.array([1, 1]), 1) == 0.0
    assert topk_accuracy(scores, np.array([1, 1]), 2) == 1.0


@pytest.mark.parametrize("k", [1, 3])
def test_topk_accuracy_matches_sklearn(k: int) -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(300, 6))
    labels = rng.integers(0, 6, 300)
    expected = top_k_accuracy_score(labels, scores, k=k, labels=range(6))
    assert topk_accuracy(scores, labels, k) == pytest.approx(expected)


def test_confusion_rows_are_true_classes() -> None:
    matrix = confusion(np.array([0, 2, 1, 1]), np.array([0, 1, 1, 2]), 3)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 1], [0, 1, 0]])


def test_confusion_matches_sklearn_with_absent_classes() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 200)
    preds = rng.integers(0, 5, 200)
    expected = confusion_matrix(labels, preds, labels=range(5))
    np.testing.assert_array_equal(confusion(preds, labels, 5), expected)


@pytest.mark.parametrize("seed", range(5))
def test_sparse_confusion_holds_exactly_the_non_zero_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(1, 40))
    labels = rng.integers(0, n_classes, 60)
    preds = np.where(rng.random(60) < 0.5, labels, rng.integers(0, n_classes, 60))
    sparse = sparse_confusion(preds, labels, n_classes)
    expected = confusion_matrix(labels, preds, labels=range(n_classes))
    assert sparse["n_classes"] == n_classes and len(sparse["cells"]) == np.count_nonzero(expected)
    np.testing.assert_array_equal(dense_confusion(sparse), expected)
    assert json.loads(json.dumps(sparse)) == sparse


def test_mean_per_class_recall_ignores_absent_classes() -> None:
    # class 0: 2 of 3 right, class 1: 1 of 1 right, classes 2 and 3 have no images.
    value = mean_per_class_recall(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1]), 4)
    assert value == pytest.approx((2 / 3 + 1) / 2)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", range(6))
def test_mean_per_class_recall_matches_balanced_accuracy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    labels = rng.integers(0, 4, n)
    preds = np.where(rng.random(n) < 0.6, labels, rng.integers(0, 6, n))
    assert mean_per_class_recall(preds, labels, 6) == pytest.approx(balanced_accuracy_score(labels, preds), abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_fitted_temperature_matches_scipys_bounded_brent_search(seed: int) -> None:
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(5, 300)), int(rng.integers(2, 50))
    labels = rng.integers(0, c, n)
    scale = [0.1, 1.0, 5.0, 30.0][seed % 4]  # under- to over-confident
    logits = scale * (rng.normal(size=(n, c)) + 2.0 * np.eye(c)[labels] * rng.random((n, 1)))
    rows = np.arange(n)

    def nll(log_t: float) -> float:
        return float(-np.mean(log_softmax(logits / np.exp(log_t), axis=1)[rows, labels]))

    reference = minimize_scalar(nll, bounds=np.log([1e-3, 1e3]), method="bounded", options={"xatol": 1e-6})
    ours = fit_temperature(logits, labels)
    assert ours == pytest.approx(np.exp(reference.x), rel=1e-4)
    assert nll(np.log(ours)) <= reference.fun + 1e-9


def test_negative_log_likelihood_known_values() -> None:
    probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    assert negative_log_likelihood(probs, np.array([0, 1])) == pytest.approx((math.log(2) + math.log(4 / 3)) / 2)
    assert negative_log_likelihood(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(-math.log(1e-12))
    assert str(negative_log_likelihood(np.array([[1.0, 0.0]]), np.array([0]))) == "0.0"


def test_brier_score_known_values() -> None:
    probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    # (0.25 + 0.25 + 0.0625 + 0.0625) / 2
    assert brier_score(probs, np.array([0, 1])) == pytest.approx(0.3125)
    assert brier_score(np.array([[0.0, 1.0]]), np.array([0])) == pytest.approx(2.0)
    assert brier_score(np.array([[0.0, 1.0]]), np.array([1])) == 0.0


def test_reliability_and_ece_hand_case() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7]])
    labels = np.array([0, 1, 1])
    bins = reliability_bins(probs, labels)
    assert len(bins) == 15
    filled = {i: b for i, b in enumerate(bins) if b["count"]}
    assert sorted(filled) == [10, 13]  # 0.7 in (10/15, 11/15], 0.9 in (13/15, 14/15]
    assert filled[13]["count"] == 2
    assert filled[13]["confidence"] == pytest.approx(0.9)
    assert filled[13]["accuracy"] == pytest.approx(0.5)
    assert filled[10]["accuracy"] == 1.0
    assert bins[0] == {"lower": 0.0, "upper": 1 / 15, "count": 0, "confidence": None, "accuracy": None}
    assert expected_calibration_error(probs, labels) == pytest.approx((2 * 0.4 + 1 * 0.3) / 3)
    assert maximum_calibration_error(probs, labels) == pytest.approx(0.4)


def test_reliability_bins_are_right_closed() -> None:
    edge_row = np.array([2 / 15] + [13 / 105] * 7)  # top confidence exactly 2/15
    probs = np.vstack([edge_row, np.zeros(8), np.eye(8)[0]])
    counts = [b["count"] for b in reliability_bins(probs, np.array([0, 0, 0]))]
    assert counts[1] == 1  # (1/15, 2/15], not (2/15, 3/15]
    assert counts[2] == 0
    assert counts[0] == 1  # confidence 0 goes to the first bin
    assert counts[14] == 1  # confidence 1 goes to the last bin


def test_ece_and_mce_match_independent_computation() -> None:
    logits, labels = _overconfident(seed=4, n=2000, scale=2.0)
    probs = softmax(logits)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(int)
    edges = np.linspace(0, 1, 16)
    assert np.min(np.abs(confidence[:, None] - edges[None, :])) > 1e-9  # nothing on an edge
    prob_true, prob_pred = calibration_curve(correct, confidence, n_bins=15, strategy="uniform")
    counts = np.histogram(confidence, bins=edges)[0]
    counts = counts[counts > 0]
    expected_ece = np.sum(counts * np.abs(prob_true - prob_pred)) / counts.sum()
    assert expected_calibration_error(probs, labels) == pytest.approx(expected_ece)
    assert maximum_calibration_error(probs, labels) == pytest.approx(np.max(np.abs(prob_true - prob_pred)))
    ours = [b["count"] for b in reliability_bins(probs, labels) if b["count"]]
    np.testing.assert_array_equal(ours, counts)


def test_softmax_is_stable_for_large_logits() -> None:
    probs = softmax(np.array([[1000.0, 1001.0], [-1000.0, -1000.0]]))
    np.testing.assert_allclose(probs[0], [1 / (1 + math.e), math.e / (1 + math.e)])
    np.testing.assert_allclose(probs[1], [0.5, 0.5])


def _grid_nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """NLL of softmax(logits / T) written out directly."""
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(labels.size), labels].mean())


def test_temperature_scaling_lowers_nll_and_keeps_argmax() -> None:
    logits, labels = _overconfident(seed=5)
    temperature = fit_temperature(logits, labels)
    assert temperature > 1.0
    before, after = softmax(logits), softmax(logits / temperature)
    np.testing.assert_array_equal(before.argmax(axis=1), after.argmax(axis=1))
    assert negative_log_likelihood(after, labels) < negative_log_likelihood(before, labels) - 0.5
    grid = np.exp(np.linspace(np.log(0.5), np.log(100), 4001))
    best = grid[np.argmin([_grid_nll(logits, labels, t) for t in grid])]
    assert temperature == pytest.approx(best, rel=2e-3)


def test_temperature_below_one_for_underconfident_logits() -> None:
    logits, labels = _overconfident(seed=6, scale=0.2)
    assert fit_temperature(logits, labels) < 1.0


def test_fit_temperature_is_one_when_nll_does_not_depend_on_it() -> None:
    assert fit_temperature(np.array([[3.0], [1.0]]), np.array([0, 0])) == 1.0
    assert fit_temperature(np.array([[2.0, 2.0]]), np.array([1])) == 1.0


def test_evaluate_hand_case() -> None:
    logits = np.array([[2.0, 0.0], [0.0, 1.0]])
    labels = np.array([0, 0])
    p0, p1 = math.e**2 / (math.e**2 + 1), 1 / (1 + math.e)  # probability of class 0
    result = evaluate(logits, labels)
    assert result["n_images"] == 2
    assert result["n_classes"] == 2
    assert result["n_classes_present"] == 1
    assert result["top1"] == 0.5
    assert result["top5"] is None
    assert result["mean_per_class_recall"] == 0.5
    assert result["nll"] == pytest.approx(-(math.log(p0) + math.log(p1)) / 2)
    assert result["brier"] == pytest.approx((2 * (1 - p0) ** 2 + 2 * (1 - p1) ** 2) / 2)
    assert result["confusion"] == {"n_classes": 2, "cells": [[0, 0, 1], [0, 1, 1]]}
    # bins: 0.881 -> (13/15, 14/15] correct; 0.731 -> (10/15, 11/15] wrong
    assert result["ece"] == pytest.approx(((1 - p0) + (1 - p1)) / 2)
    assert result["mce"] == pytest.approx(1 - p1)
    assert result["calibration_note"] is None
    assert len(result["reliability"]) == 15
    json.dumps(result)  # plain JSON values only


def test_evaluate_sigmoid_note_top5_and_temperature_keys() -> None:
    logits, labels = _overconfident(seed=7, n_classes=6)
    result = evaluate(logits, labels, probability_kind="sigmoid")
    assert "softmax" in result["calibration_note"]
    assert result["top5"] == pytest.approx(top_k_accuracy_score(labels, logits, k=5, labels=range(6)))
    assert result["temperature"] > 1.0
    assert result["nll_after_temperature"] < result["nll"]
    assert result["ece_after_temperature"] < result["ece"]


def test_evaluate_single_image_and_single_class() -> None:
    one_class = evaluate(np.array([[0.3], [0.9]]), np.array([0, 0]))
    assert (one_class["top1"], one_class["nll"], one_class["brier"], one_class["temperature"]) == (1.0, 0.0, 0.0, 1.0)
    one_image = evaluate(np.array([[0.0, 3.0, 1.0]]), np.array([2]))
    assert one_image["top1"] == 0.0
    assert one_image["mean_per_class_recall"] == 0.0
    assert one_image["confusion"] == {"n_classes": 3, "cells": [[2, 1, 1]]}


@pytest.mark.parametrize(
    ("logits", "labels"),
    [
        (np.zeros((2, 3)), np.array([0, 3])),  # label out of range
        (np.zeros((2, 3)), np.array([0])),  # one label for two images
        (np.zeros((2, 3)), np.array([0.0, 1.0])),  # float labels
        (np.zeros((0, 3)), np.array([], dtype=int)),  # no images
        (np.array([[np.nan, 1.0]]), np.array([0])),  # NaN score
    ],
)
def test_bad_arrays_raise_dataset_error(logits: np.ndarray, labels: np.ndarray) -> None:
    with pytest.raises(DatasetError):
        evaluate(logits, labels)


def test_bad_parameters_raise_value_error() -> None:
    with pytest.raises(ValueError, match="k must be"):
        topk_accuracy(HAND_SCORES, HAND_LABELS, 0)
    with pytest.raises(ValueError, match="probability_kind"):
        evaluate(HAND_SCORES, HAND_LABELS, probability_kind="linear")  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="Predictions must lie"):
        confusion(np.array([0, 5]), np.array([0, 1]), 3)


def test_wilson_interval_matches_the_closed_form_and_is_honest_on_small_samples() -> None:
    from prompting.evaluation.metrics import wilson_interval

    low, high = wilson_interval(7, 10)
    # closed form for p=0.7, n=10, z=1.96: centre 0.6445, half-width 0.2477
    assert (round(low, 3), round(high, 3)) == (0.397, 0.892)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_evaluate_flags_a_temperature_stuck_at_the_bound() -> None:
    from prompting.evaluation.metrics import evaluate

    rng = np.random.default_rng(3)
    labels = np.arange(10) % 5
    noise = evaluate(rng.normal(size=(10, 5)) * 20, labels)  # confident and wrong at random
    informative = evaluate(np.eye(5)[labels] * 2.0 + rng.normal(scale=0.1, size=(10, 5)), labels)
    assert informative["temperature_at_limit"] is False and informative["top1"] == 1.0
    assert informative["top1_correct"] == 10
    constant_wrong = evaluate(-np.eye(5)[labels] * 5.0, labels)
    assert constant_wrong["temperature_at_limit"] is True
    assert noise["top1_correct"] == round(noise["top1"] * 10)
