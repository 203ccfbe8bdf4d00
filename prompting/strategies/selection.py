"""Greedy forward template selection on labelled images, validated by k-fold cross-validation.

As the CLIP notebook picked its 7 of 80 ImageNet templates: start from no template and keep
adding the candidate that most improves top-1 accuracy on the selection images (ties broken by
the mean log-probability of the true class), until no candidate improves either or the size
limit is reached. A set's class vector is the normalised mean of its normalised prompt
embeddings, as CLIP's ensemble builds it.

Everything works from arrays computed once: per-template prompt embeddings (T x C x D) and the
images' cosines with them (T x N x C). Cross-validation re-runs the selection on each fold's
training images and scores the chosen set (and fixed baseline sets) on the held-out images, so
the accuracy reported for the procedure is never measured on the images it chose from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

CHUNK_CELLS = 4_000_000  # candidates x images x classes scored at once
LOGPROB_TOLERANCE = 1e-9
Step = Callable[[int], None]
Splits = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class TemplateArrays:
    """What selection works from: normalised prompt embeddings ``vectors`` (T x C x D: template
    t filled with class c) and the images' cosines with them ``cosines`` (T x N x C)."""

    vectors: np.ndarray
    cosines: np.ndarray

    @staticmethod
    def from_embeddings(template_vectors: np.ndarray, image_vectors: np.ndarray) -> TemplateArrays:
        """Compute the cosines of every image with every (template, class) prompt once."""
        vectors = np.asarray(template_vectors, dtype=np.float32)
        cosines = np.einsum("nd,tcd->tnc", np.asarray(image_vectors, dtype=np.float32), vectors)
        return TemplateArrays(vectors, cosines)


@dataclass
class SelectionPath:
    """Templates in the order they were added, with the selection images' top-1 accuracy and mean
    log-probability of the true class after each addition."""

    templates: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    mean_logprob: list[float] = field(default_factory=list)


def subset_scores(arrays: TemplateArrays, subset: Sequence[int], images: np.ndarray | None = None) -> np.ndarray:
    """Cosines (n x C) of the images with the normalised mean embedding of the ``subset``."""
    chosen = list(subset)
    if not chosen:
        raise ValueError("A template set needs at least one template.")
    cosines = arrays.cosines[chosen] if images is None else arrays.cosines[chosen][:, images]
    norms = np.linalg.norm(arrays.vectors[chosen].astype(np.float64).sum(axis=0), axis=-1)
    return cosines.astype(np.float64).sum(axis=0) / np.maximum(norms, 1e-12)


def greedy_select(
    arrays: TemplateArrays,
    labels: np.ndarray,
    images: np.ndarray,
    candidates: Sequence[int],
    logit_scale: float,
    max_templates: int,
    on_step: Step | None = None,
) -> SelectionPath:
    """Forward selection from ``candidates`` on ``images`` (indices) with their ``labels``.

    Each step adds the candidate with the most correct images, ties broken by the higher mean
    log-probability of the true class (softmax over ``logit_scale * cosine``), then by pool
    order. It stops when the best addition improves neither, or at ``max_templates``.
    ``on_step(size)`` is called after each addition (e.g. to report progress or cancel).
    """
    images = np.asarray(images)
    truth = np.asarray(labels)[images]
    rows = np.arange(len(images))
    remaining = list(dict.fromkeys(candidates))
    total = np.zeros((len(images), arrays.cosines.shape[2]))
    summed = np.zeros(arrays.vectors.shape[1:])
    path = SelectionPath()
    best_key: tuple[int, float] | None = None
    while remaining and len(path.templates) < max_templates:
        correct, logprob = _candidate_scores(arrays, remaining, images, truth, rows, total, summed, logit_scale)
        pick = max(range(len(remaining)), key=lambda i: (correct[i], logprob[i], -i))
        key = (int(correct[pick]), float(logprob[pick]))
        if best_key is not None and not _improves(key, best_key):
            break
        chosen = remaining.pop(pick)
        best_key = key
        total += arrays.cosines[chosen][images]
        summed += arrays.vectors[chosen]
        path.templates.append(chosen)
        path.accuracy.append(key[0] / len(images))
        path.mean_logprob.append(key[1])
        if on_step:
            on_step(len(path.templates))
    return path


def _improves(key: tuple[int, float], best: tuple[int, float]) -> bool:
    return key[0] > best[0] or (key[0] == best[0] and key[1] > best[1] + LOGPROB_TOLERANCE)


def _candidate_scores(
    arrays: TemplateArrays, candidates: list[int], images: np.ndarray, truth: np.ndarray, rows: np.ndarray,
    total: np.ndarray, summed: np.ndarray, logit_scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Correct images and mean true-class log-probability of the current set plus each candidate."""
    from scipy.special import log_softmax  # imported here: only selection needs scipy (start-up time)

    correct = np.empty(len(candidates), dtype=int)
    logprob = np.empty(len(candidates))
    chunk = max(1, CHUNK_CELLS // max(total.size, 1))
    for start in range(0, len(candidates), chunk):
        block = candidates[start : start + chunk]
        sums = summed[None] + arrays.vectors[block]
        norms = np.maximum(np.linalg.norm(sums, axis=-1), 1e-12)
        scores = (total[None] + arrays.cosines[block][:, images]) / norms[:, None, :]
        correct[start : start + len(block)] = (scores.argmax(axis=-1) == truth[None]).sum(axis=1)
        logprob[start : start + len(block)] = log_softmax(logit_scale * scores, axis=-1)[:, rows, truth].mean(axis=1)
    return correct, logprob


@dataclass
class Fold:
    """One fold: its image counts, the templates selected on its training images, and the held-out
    correct count of each set (``"selected"`` and the baselines)."""

    train: int
    test: int
    selected: list[int]
    correct: dict[str, int]


@dataclass
class CrossValidation:
    """Per-fold results, each set's out-of-fold prediction for every image, and how the folds were
    made (``stratified`` by class, or plain shuffled k-fold with ``note`` saying why)."""

    folds: list[Fold]
    predictions: dict[str, np.ndarray]
    stratified: bool
    note: str | None = None

    def correct(self, name: str) -> int:
        """Held-out correct images of set ``name`` over all folds (each image is held out once)."""
        return sum(fold.correct[name] for fold in self.folds)

    def accuracy(self, name: str) -> float:
        """Held-out top-1 of set ``name``: correct over all images."""
        return self.correct(name) / sum(fold.test for fold in self.folds)


def fold_splits(labels: np.ndarray, folds: int, seed: int) -> tuple[Splits, bool, str | None]:
    """Seeded (train, test) index pairs; stratified by class when every class present has at
    least ``folds`` images, else shuffled k-fold with a sentence saying why."""
    from sklearn.model_selection import KFold, StratifiedKFold  # imported here: only selection needs it

    labels = np.asarray(labels)
    if folds < 2:
        raise ValueError(f"Cross-validation needs at least 2 folds, got {folds}.")
    if len(labels) < folds:
        raise ValueError(f"{folds} folds need at least {folds} labelled images, got {len(labels)}.")
    counts = np.bincount(labels)
    fewest = int(counts[counts > 0].min())
    if fewest >= folds:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(labels)), labels)), True, None
    note = (
        f"Some class has only {fewest} image{'s' if fewest != 1 else ''}, fewer than the {folds} folds, so the folds "
        "are shuffled without stratifying by class."
    )
    return list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(labels)), False, note


def cross_validate(
    arrays: TemplateArrays,
    labels: np.ndarray,
    candidates: Sequence[int],
    baselines: Mapping[str, Sequence[int]],
    folds: int,
    seed: int,
    logit_scale: float,
    max_templates: int,
    on_step: Callable[[int, int], None] | None = None,
) -> CrossValidation:
    """Held-out accuracy of the selection procedure and of fixed ``baselines`` on the same folds.

    ``on_step(fold, size)`` is called after each addition in each fold's selection.
    """
    labels = np.asarray(labels)
    splits, stratified, note = fold_splits(labels, folds, seed)
    names = ["selected", *baselines]
    predictions = {name: np.full(len(labels), -1) for name in names}
    results: list[Fold] = []
    for number, (train, test) in enumerate(splits):
        step = (lambda size, number=number: on_step(number, size)) if on_step else None
        path = greedy_select(arrays, labels, train, candidates, logit_scale, max_templates, step)
        sets = {"selected": path.templates, **baselines}
        correct = {}
        for name in names:
            predicted = subset_scores(arrays, sets[name], test).argmax(axis=1)
            predictions[name][test] = predicted
            correct[name] = int((predicted == labels[test]).sum())
        results.append(Fold(len(train), len(test), list(path.templates), correct))
    return CrossValidation(results, predictions, stratified, note)
