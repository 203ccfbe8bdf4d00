"""Greedy template selection and its cross-validation on constructed embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax

from prompting.strategies.selection import (
    TemplateArrays,
    cross_validate,
    fold_splits,
    greedy_select,
    subset_scores,
)
from prompting.vectors import normalise_rows

SCALE = 100.0


def constructed(seed: int = 0, classes: int = 5, per_class: int = 10, dim: int = 32):
    """Template 0 carries no class signal (noise), template 1 carries it strongly, templates 2-5
    carry it weakly under a shared offset; images sit near their class's centroid."""
    rng = np.random.default_rng(seed)
    centroids = normalise_rows(rng.normal(size=(classes, dim)))
    labels = np.repeat(np.arange(classes), per_class)
    images = normalise_rows(centroids[labels] + 2.0 * rng.normal(size=(len(labels), dim)) / np.sqrt(dim))
    noise = normalise_rows(rng.normal(size=(classes, dim)))
    signal = normalise_rows(centroids + 0.1 * rng.normal(size=(classes, dim)) / np.sqrt(dim))
    weak = [normalise_rows(0.5 * centroids + rng.normal(size=dim) / np.sqrt(dim)
                           + 0.8 * rng.normal(size=(classes, dim)) / np.sqrt(dim)) for _ in range(4)]
    vectors = np.stack([noise, signal, *weak]).astype(np.float32)
    return TemplateArrays.from_embeddings(vectors, images.astype(np.float32)), labels


def test_subset_scores_are_cosines_with_the_normalised_mean_embedding() -> None:
    arrays, _ = constructed()
    class_vectors = normalise_rows(arrays.vectors[[1, 3]].sum(axis=0))
    rng = np.random.default_rng(0)
    probe = normalise_rows(rng.normal(size=(3, arrays.vectors.shape[2]))).astype(np.float32)
    probe_arrays = TemplateArrays.from_embeddings(arrays.vectors, probe)
    np.testing.assert_allclose(subset_scores(probe_arrays, [1, 3]), probe @ class_vectors.T, atol=1e-5)


def test_the_signal_template_is_chosen_first_and_the_noise_template_never() -> None:
    arrays, labels = constructed()
    everyone = np.arange(len(labels))
    path = greedy_select(arrays, labels, everyone, range(6), SCALE, max_templates=6)
    assert path.templates[0] == 1
    assert 0 not in path.templates
    assert path.accuracy == sorted(path.accuracy)  # each addition improved accuracy or, at equal, log-probability
    # the recorded numbers are the set's own accuracy and mean true-class log-probability
    scores = subset_scores(arrays, path.templates)
    assert path.accuracy[-1] == pytest.approx((scores.argmax(1) == labels).mean())
    logprob = log_softmax(SCALE * scores, axis=1)[everyone, labels].mean()
    assert path.mean_logprob[-1] == pytest.approx(logprob)


def test_selection_stops_at_the_size_limit_and_calls_back_each_step() -> None:
    arrays, labels = constructed()
    sizes: list[int] = []
    path = greedy_select(arrays, labels, np.arange(len(labels)), range(6), SCALE, max_templates=2,
                         on_step=sizes.append)
    assert len(path.templates) <= 2 and sizes == list(range(1, len(path.templates) + 1))


def test_selection_stops_when_nothing_helps() -> None:
    """Two identical perfect templates: after the first, the second changes nothing."""
    arrays, labels = constructed()
    twin = TemplateArrays(arrays.vectors[[1, 1]], arrays.cosines[[1, 1]])
    path = greedy_select(twin, labels, np.arange(len(labels)), [0, 1], SCALE, max_templates=5)
    assert path.templates == [0]


def test_chunked_candidate_scoring_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    arrays, labels = constructed(seed=3)
    whole = greedy_select(arrays, labels, np.arange(len(labels)), range(6), SCALE, 6)
    monkeypatch.setattr("prompting.strategies.selection.CHUNK_CELLS", 1)
    assert greedy_select(arrays, labels, np.arange(len(labels)), range(6), SCALE, 6).templates == whole.templates


def test_cross_validation_holds_out_every_image_once_and_beats_the_noise_baseline() -> None:
    arrays, labels = constructed(seed=1)
    result = cross_validate(arrays, labels, range(6), {"all": list(range(6)), "noise": [0]}, folds=5, seed=0,
                            logit_scale=SCALE, max_templates=4)
    assert result.stratified and result.note is None
    assert sum(fold.test for fold in result.folds) == len(labels)
    assert all(fold.train + fold.test == len(labels) for fold in result.folds)
    for name in ("selected", "all", "noise"):
        assert (result.predictions[name] >= 0).all()
        assert result.accuracy(name) == pytest.approx((result.predictions[name] == labels).mean())
    assert all(0 not in fold.selected and fold.selected[0] == 1 for fold in result.folds)
    assert result.accuracy("selected") > result.accuracy("noise") + 0.3
    # baselines are fixed sets: their held-out predictions are their plain predictions
    np.testing.assert_array_equal(result.predictions["all"], subset_scores(arrays, range(6)).argmax(1))


def test_folds_are_stratified_seeded_and_fall_back_with_a_note() -> None:
    labels = np.repeat(np.arange(3), 4)
    splits, stratified, note = fold_splits(labels, 4, seed=0)
    assert stratified and note is None
    for _, test in splits:
        assert sorted(labels[test].tolist()) == [0, 1, 2]
    again, _, _ = fold_splits(labels, 4, seed=0)
    other, _, _ = fold_splits(labels, 4, seed=1)
    assert all((a[1] == b[1]).all() for a, b in zip(splits, again))
    assert any((a[1] != b[1]).any() for a, b in zip(splits, other))
    sparse = np.array([0, 0, 0, 0, 0, 1, 1, 2, 2, 2])
    splits, stratified, note = fold_splits(sparse, 3, seed=0)
    assert not stratified and "only 2 images, fewer than the 3 folds" in note
    assert sorted(np.concatenate([test for _, test in splits]).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="at least 5 labelled images"):
        fold_splits(labels[:4], 5, seed=0)
