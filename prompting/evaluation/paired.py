"""Is strategy A really better than B on these images? Paired tests on the same labelled images.

For each pair of results scored on the same images:
- the difference in top-1 accuracy with a paired bootstrap 95% interval (percentile method,
  ``BOOTSTRAP_RESAMPLES`` resamples of the images, seeded);
- an exact McNemar test: a two-sided binomial test on the discordant images (A right and B
  wrong vs B right and A wrong), as ``statsmodels``' ``mcnemar(table, exact=True)`` computes it;
- the difference in mean per-class recall with its own paired bootstrap interval;
- Holm-adjusted McNemar p-values over all pairs of one comparison (several comparisons were made).

Resampling images with replacement only changes how many images fall in each cell of
(true class, A correct, B correct); both statistics depend on those counts alone. So each
bootstrap resample is drawn as one multinomial over the occupied cells, which has exactly the
distribution of the resampled counts and needs memory for the cells, not for images x resamples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np

from prompting.evaluation.results import Comparison

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
POWER = 0.8
Z_HALF_ALPHA = 1.959964  # two-sided 5%
Z_POWER = 0.841621  # 80% power


@dataclass(frozen=True)
class PairedComparison:
    """A against B on the same ``n_images`` labelled images; differences are A minus B."""

    a: str
    b: str
    label_a: str
    label_b: str
    n_images: int
    top1_a: float
    top1_b: float
    delta_top1: float
    ci95: tuple[float, float]
    a_only: int  # images A got right and B got wrong
    b_only: int  # images B got right and A got wrong
    mcnemar_p: float
    holm_p: float
    delta_recall: float
    recall_ci95: tuple[float, float]
    images_needed: int | None

    @property
    def decided(self) -> bool:
        """True when the interval for the top-1 difference excludes zero."""
        return self.ci95[0] > 0 or self.ci95[1] < 0

    def swapped(self) -> PairedComparison:
        """The same comparison read as B against A."""
        return PairedComparison(
            a=self.b, b=self.a, label_a=self.label_b, label_b=self.label_a, n_images=self.n_images,
            top1_a=self.top1_b, top1_b=self.top1_a, delta_top1=-self.delta_top1,
            ci95=(-self.ci95[1], -self.ci95[0]), a_only=self.b_only, b_only=self.a_only, mcnemar_p=self.mcnemar_p,
            holm_p=self.holm_p, delta_recall=-self.delta_recall,
            recall_ci95=(-self.recall_ci95[1], -self.recall_ci95[0]), images_needed=self.images_needed,
        )

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of the CLI's and the exports' ``"paired"`` entries."""
        return {
            "a": self.a, "b": self.b, "label_a": self.label_a, "label_b": self.label_b, "n_images": self.n_images,
            "top1_a": self.top1_a, "top1_b": self.top1_b, "delta_top1": self.delta_top1, "ci95": list(self.ci95),
            "a_only": self.a_only, "b_only": self.b_only, "mcnemar_p": self.mcnemar_p, "holm_p": self.holm_p,
            "delta_recall": self.delta_recall, "recall_ci95": list(self.recall_ci95),
            "images_needed": self.images_needed,
        }


def mcnemar_exact_p(a_only: int, b_only: int) -> float:
    """Exact two-sided McNemar p-value: a binomial test of ``a_only`` successes in the discordant
    images at probability 1/2 (1.0 when there are none)."""
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(a_only, discordant, 0.5).pvalue)


def holm_adjust(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of ``p_values`` (same order), controlling the family-wise error."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def images_needed(correct_a: np.ndarray, correct_b: np.ndarray) -> int | None:
    """About how many labelled images a McNemar test needs to detect the observed difference
    (5% two-sided, 80% power; Connor 1987), assuming the observed rates of disagreement hold.
    None when the strategies do not differ on these images."""
    n = correct_a.size
    p10 = float(np.sum(correct_a & ~correct_b)) / n
    p01 = float(np.sum(correct_b & ~correct_a)) / n
    delta, discordant = abs(p10 - p01), p10 + p01
    if delta == 0:
        return None
    root = Z_HALF_ALPHA * math.sqrt(discordant) + Z_POWER * math.sqrt(max(discordant - delta * delta, 0.0))
    return int(math.ceil((root / delta) ** 2))


def _percentile_interval(samples: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def _recall(correct: np.ndarray, labels: np.ndarray) -> float:
    """Mean recall over the classes present (balanced accuracy)."""
    present = np.unique(labels)
    return float(np.mean([correct[labels == c].mean() for c in present]))


def bootstrap_differences(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    labels: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap distributions of (top-1 of A - top-1 of B) and (mean per-class recall of A - of B)
    over resamples of the images (see the module notes for how they are drawn)."""
    n = correct_a.size
    cells, counts = np.unique(np.stack([labels, correct_a, correct_b], axis=1), axis=0, return_counts=True)
    draws = np.random.default_rng(seed).multinomial(n, counts / n, size=resamples)  # resamples x cells
    sign = cells[:, 1].astype(int) - cells[:, 2].astype(int)
    delta_top1 = draws @ sign / n
    starts = np.flatnonzero(np.r_[True, cells[1:, 0] != cells[:-1, 0]])  # cells are sorted by class
    per_class = np.add.reduceat(draws, starts, axis=1)
    right_a = np.add.reduceat(draws * cells[:, 1], starts, axis=1)
    right_b = np.add.reduceat(draws * cells[:, 2], starts, axis=1)
    present = per_class > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(present, (right_a - right_b) / per_class, 0.0)
    delta_recall = gap.sum(axis=1) / present.sum(axis=1)
    return delta_top1, delta_recall


def paired_comparison(
    a: str, b: str, label_a: str, label_b: str, correct_a: np.ndarray, correct_b: np.ndarray, labels: np.ndarray
) -> PairedComparison:
    """A against B from per-image correctness on the same labelled images (Holm p = raw p until
    ``paired_comparisons`` adjusts a family)."""
    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    labels = np.asarray(labels, dtype=int)
    if not correct_a.size or correct_a.shape != correct_b.shape or correct_a.shape != labels.shape:
        raise ValueError("Paired comparison needs the same non-empty set of labelled images for both strategies.")
    delta_top1, delta_recall = bootstrap_differences(correct_a, correct_b, labels)
    a_only, b_only = int(np.sum(correct_a & ~correct_b)), int(np.sum(correct_b & ~correct_a))
    p = mcnemar_exact_p(a_only, b_only)
    return PairedComparison(
        a=a, b=b, label_a=label_a, label_b=label_b, n_images=int(correct_a.size),
        top1_a=float(correct_a.mean()), top1_b=float(correct_b.mean()),
        delta_top1=float(correct_a.mean() - correct_b.mean()), ci95=_percentile_interval(delta_top1),
        a_only=a_only, b_only=b_only, mcnemar_p=p, holm_p=p,
        delta_recall=_recall(correct_a, labels) - _recall(correct_b, labels),
        recall_ci95=_percentile_interval(delta_recall),
        images_needed=images_needed(correct_a, correct_b),
    )


def paired_comparisons(comparison: Comparison) -> list[PairedComparison]:
    """Every pair of the comparison's results on its labelled images, A before B in the results'
    order, with Holm-adjusted p-values over all pairs. Empty with fewer than two results or no
    labelled image. A sampled stored set's comparison carries those of its whole set."""
    if comparison.paired is not None:
        return list(comparison.paired)
    labelled = [i for i, image in enumerate(comparison.images) if image.label is not None]
    results = comparison.strategies
    if len(results) < 2 or not labelled:
        return []
    labels = np.array([comparison.images[i].label for i in labelled], dtype=int)
    correct = {key: result.predictions(1)[labelled, 0] == labels for key, result in results.items()}
    pairs = [
        paired_comparison(a, b, results[a].label, results[b].label, correct[a], correct[b], labels)
        for a, b in combinations(results, 2)
    ]
    adjusted = holm_adjust([pair.mcnemar_p for pair in pairs])
    return [replace(pair, holm_p=p) for pair, p in zip(pairs, adjusted)]
