"""Paired comparison of two strategies on the same images: McNemar, bootstrap intervals, Holm,
checked against statsmodels and against a plain resampling bootstrap, and for coverage."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from prompting.classes import as_class_names
from prompting.evaluation.paired import (
    bootstrap_differences,
    holm_adjust,
    images_needed,
    mcnemar_exact_p,
    paired_comparison,
    paired_comparisons,
)
from prompting.evaluation.results import Comparison, ImageRecord, StrategyResult


def correlated_outcomes(rng: np.random.Generator, n: int, p_a: float, p_b: float, classes: int = 5) -> tuple:
    """Per-image correctness of two strategies that agree on most images, and class labels."""
    shared = rng.random(n)
    correct_a = shared < p_a
    correct_b = np.where(rng.random(n) < 0.7, shared < p_b, rng.random(n) < p_b)
    return correct_a, correct_b, rng.integers(0, classes, n)


@pytest.mark.parametrize("table", [[[30, 9], [2, 59]], [[10, 0], [0, 5]], [[4, 1], [7, 3]], [[50, 40], [12, 8]]])
def test_mcnemar_matches_statsmodels_exact(table: list[list[int]]) -> None:
    expected = mcnemar(np.array(table), exact=True).pvalue
    assert mcnemar_exact_p(table[0][1], table[1][0]) == pytest.approx(expected if table[0][1] + table[1][0] else 1.0)


def test_mcnemar_by_hand() -> None:
    # 9 vs 2 discordant: P(X <= 2 | n=11, 1/2) = (1 + 11 + 55) / 2048, doubled.
    assert mcnemar_exact_p(9, 2) == pytest.approx(2 * 67 / 2048)
    assert mcnemar_exact_p(0, 0) == 1.0


def test_holm_matches_statsmodels() -> None:
    p = [0.01, 0.04, 0.03, 0.5, 0.005, 0.2]
    assert holm_adjust(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())


def test_bootstrap_agrees_with_resampling_images() -> None:
    rng = np.random.default_rng(3)
    correct_a, correct_b, labels = correlated_outcomes(rng, 300, 0.7, 0.6)
    delta, recall = bootstrap_differences(correct_a, correct_b, labels, resamples=4000, seed=1)
    index = np.random.default_rng(2).integers(0, 300, size=(4000, 300))
    naive = correct_a[index].mean(axis=1) - correct_b[index].mean(axis=1)
    assert np.percentile(delta, [2.5, 97.5]) == pytest.approx(np.percentile(naive, [2.5, 97.5]), abs=0.01)
    assert delta.std() == pytest.approx(naive.std(), rel=0.05)

    def recall_gap(rows: np.ndarray) -> float:
        picked = labels[rows]
        present = np.unique(picked)
        a = np.mean([correct_a[rows][picked == c].mean() for c in present])
        b = np.mean([correct_b[rows][picked == c].mean() for c in present])
        return float(a - b)

    naive_recall = np.array([recall_gap(rows) for rows in index[:1500]])
    assert recall.mean() == pytest.approx(naive_recall.mean(), abs=0.005)
    assert recall.std() == pytest.approx(naive_recall.std(), rel=0.1)


def test_bootstrap_interval_covers_the_true_difference_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(12345)
    p_a, p_b, trials, covered = 0.72, 0.65, 500, 0
    for trial in range(trials):
        correct_a, correct_b, labels = correlated_outcomes(rng, 200, p_a, p_b)
        delta, _ = bootstrap_differences(correct_a, correct_b, labels, seed=trial)
        low, high = np.percentile(delta, [2.5, 97.5])
        covered += low <= p_a - p_b <= high
    assert 0.93 <= covered / trials <= 0.97


def test_paired_comparison_values_and_determinism() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2, 0, 1, 2, 0])
    correct_a = np.array([1, 1, 1, 1, 1, 0, 1, 1, 0, 1], dtype=bool)
    correct_b = np.array([1, 0, 0, 1, 0, 0, 1, 0, 0, 1], dtype=bool)
    pair = paired_comparison("x", "y", "X", "Y", correct_a, correct_b, labels)
    assert (pair.top1_a, pair.top1_b, pair.delta_top1) == pytest.approx((0.8, 0.4, 0.4))
    assert (pair.a_only, pair.b_only) == (4, 0)
    assert pair.mcnemar_p == pytest.approx(0.125)
    recall_a = np.mean([4 / 4, 3 / 3, 1 / 3])
    recall_b = np.mean([3 / 4, 1 / 3, 0 / 3])
    assert pair.delta_recall == pytest.approx(recall_a - recall_b)
    assert pair.ci95[0] <= pair.delta_top1 <= pair.ci95[1]
    assert pair == paired_comparison("x", "y", "X", "Y", correct_a, correct_b, labels)
    with pytest.raises(ValueError):
        paired_comparison("x", "y", "X", "Y", correct_a[:3], correct_b, labels)


def test_images_needed_follows_connor() -> None:
    correct_a = np.array([True] * 30 + [False] * 10 + [True] * 60)
    correct_b = np.array([False] * 30 + [True] * 10 + [True] * 60)
    # p10 = 0.3, p01 = 0.1: n = (1.96 sqrt(0.4) + 0.8416 sqrt(0.36))^2 / 0.04
    expected = (1.959964 * 0.4**0.5 + 0.841621 * 0.36**0.5) ** 2 / 0.04
    assert images_needed(correct_a, correct_b) == int(np.ceil(expected))
    assert images_needed(correct_a, correct_a) is None


def _result(key: str, predictions: list[int], classes: int = 3) -> StrategyResult:
    logits = np.full((len(predictions), classes), -1.0)
    logits[np.arange(len(predictions)), predictions] = 1.0
    return StrategyResult(key, key.upper(), logits, logits, logits, "softmax", [], [])


def test_paired_comparisons_cover_every_pair_with_holm() -> None:
    labels = [0, 1, 2, 0, 1, 2, 0, 1]
    images = [ImageRecord(f"{i}.png", f"{i}.png", label) for i, label in enumerate(labels)]
    results = {
        "good": _result("good", labels),
        "half": _result("half", [0, 1, 2, 0, 0, 0, 0, 0]),
        "bad": _result("bad", [1, 2, 0, 1, 2, 0, 1, 2]),
    }
    comparison = Comparison("m", as_class_names(["a", "b", "c"]), images, results)
    pairs = paired_comparisons(comparison)
    assert [(p.a, p.b) for p in pairs] == [("good", "half"), ("good", "bad"), ("half", "bad")]
    assert all(p.holm_p >= p.mcnemar_p for p in pairs)
    assert [p.holm_p for p in pairs] == pytest.approx(multipletests([p.mcnemar_p for p in pairs], method="holm")[1])
    good_bad = pairs[1]
    assert good_bad.delta_top1 == pytest.approx(1.0) and good_bad.decided
    assert set(good_bad.as_dict()) >= {"a", "b", "delta_top1", "ci95", "mcnemar_p", "holm_p"}
    comparison.images[0].label = None  # only labelled images count
    assert paired_comparisons(comparison)[0].n_images == 7
    assert paired_comparisons(Comparison("m", comparison.classes, images, {"good": results["good"]})) == []
