"""ZPE and AutoCLIP on constructed embeddings where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prompting.strategies.autoclip import autoclip, entropy, entropy_matched_weights, logsumexp_gradient
from prompting.strategies.zpe import weighted_class_vectors, zpe_scores, zpe_weights
from prompting.vectors import normalise_rows

SCALE = 100.0


def constructed(seed: int = 0, classes: int = 6, per_class: int = 8, dim: int = 24, good: int = 5):
    """Images near their class's centroid; ``good`` templates that carry the class signal (with a
    template-specific offset), then one corrupted template whose embeddings are unrelated noise."""
    rng = np.random.default_rng(seed)
    centroids = normalise_rows(rng.normal(size=(classes, dim)))
    labels = np.repeat(np.arange(classes), per_class)
    images = normalise_rows(centroids[labels] + 0.6 * rng.normal(size=(len(labels), dim)) / np.sqrt(dim))
    templates = []
    for _ in range(good):
        offset = rng.normal(size=dim) / np.sqrt(dim)
        jitter = 0.2 * rng.normal(size=(classes, dim)) / np.sqrt(dim)
        templates.append(normalise_rows(centroids + 0.4 * offset + jitter))
    templates.append(normalise_rows(rng.normal(size=(classes, dim))))
    return images.astype(np.float32), np.stack(templates).astype(np.float32), labels


def test_zpe_weights_a_corrupted_template_down() -> None:
    images, templates, labels = constructed()
    scores = zpe_scores(images, templates, SCALE)
    weights = zpe_weights(scores)
    assert weights.sum() == pytest.approx(1.0)
    assert int(np.argmin(weights)) == len(templates) - 1
    assert weights[-1] < 0.01 * weights[:-1].min()
    # the weighted ensemble classifies at least as well as the uniform one here
    weighted = images @ weighted_class_vectors(templates, weights).T
    uniform = images @ weighted_class_vectors(templates, np.full(len(templates), 1 / len(templates))).T
    assert (weighted.argmax(1) == labels).mean() >= (uniform.argmax(1) == labels).mean()


def test_zpe_score_is_the_mean_max_of_test_normalised_logits_by_hand() -> None:
    rng = np.random.default_rng(3)
    images = normalise_rows(rng.normal(size=(4, 5)))
    templates = np.stack([normalise_rows(rng.normal(size=(3, 5))) for _ in range(2)])
    expected = []
    for p in range(2):
        logits = SCALE * images @ templates[p].T
        expected.append(np.mean([max(logits[n] - logits.mean(axis=0)) for n in range(4)]))
    np.testing.assert_allclose(zpe_scores(images, templates, SCALE), expected, rtol=1e-6)
    # with a reference (pretraining-like) sample, the two means are averaged ('both' mode)
    reference = normalise_rows(rng.normal(size=(7, 5)))
    both = []
    for p in range(2):
        logits = SCALE * images @ templates[p].T
        bias = 0.5 * (logits.mean(axis=0) + (SCALE * reference @ templates[p].T).mean(axis=0))
        both.append(np.mean((logits - bias).max(axis=1)))
    np.testing.assert_allclose(zpe_scores(images, templates, SCALE, reference), both, rtol=1e-6)


def test_zpe_with_one_image_gives_uniform_weights() -> None:
    images, templates, _ = constructed()
    weights = zpe_weights(zpe_scores(images[:1], templates, SCALE))
    np.testing.assert_allclose(weights, 1 / len(templates), atol=1e-5)


def test_weighted_class_vectors_give_the_weighted_mean_of_cosines() -> None:
    images, templates, _ = constructed(seed=1)
    weights = np.random.default_rng(0).dirichlet(np.ones(len(templates)))
    per_template = np.einsum("nd,pcd->pnc", images, templates)
    np.testing.assert_allclose(images @ weighted_class_vectors(templates, weights).T,
                               np.einsum("p,pnc->nc", weights, per_template), atol=1e-6)


@pytest.mark.parametrize("tau", [1.0, SCALE])
def test_autoclip_gradient_equals_autograd(tau: float) -> None:
    rng = np.random.default_rng(7)
    similarities = rng.uniform(-0.2, 0.4, size=(5, 9, 4))
    ours = logsumexp_gradient(similarities, tau)
    for n in range(len(similarities)):
        rho = torch.zeros(9, dtype=torch.float64, requires_grad=True)
        cosines = torch.tensor(similarities[n])
        objective = torch.logsumexp(tau * (torch.softmax(rho, 0)[:, None] * cosines).sum(0), 0)
        objective.backward()
        np.testing.assert_allclose(ours[n], rho.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("beta", [0.5, 0.85, 0.99])
def test_autoclip_weights_hit_the_entropy_target(beta: float) -> None:
    images, templates, _ = constructed(seed=2)
    weights, scores = autoclip(images, templates, beta=beta)
    assert weights.shape == (len(images), len(templates))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    achieved = -(weights * np.log(weights)).sum(axis=1)
    np.testing.assert_allclose(achieved, beta * np.log(len(templates)), atol=1e-6)
    per_template = np.einsum("nd,kcd->nkc", images, templates)
    np.testing.assert_allclose(scores, np.einsum("nk,nkc->nc", weights, per_template), atol=1e-6)


def test_autoclip_favours_the_templates_that_match_the_image() -> None:
    images, templates, labels = constructed(seed=4)
    weights, scores = autoclip(images, templates)
    assert (weights[:, -1] < 1 / len(templates)).all(), "the corrupted template is down-weighted for every image"
    assert (scores.argmax(1) == labels).mean() > 0.9


def test_autoclip_is_processed_in_chunks_with_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    images, templates, _ = constructed(seed=5)
    whole = autoclip(images, templates)
    monkeypatch.setattr("prompting.strategies.autoclip.CHUNK_CELLS", templates.shape[0] * templates.shape[1] * 3)
    chunked = autoclip(images, templates)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_entropy_matching_handles_flat_and_tied_gradients() -> None:
    gradient = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [3.0, 1.0, 0.5, 0.0]])
    weights = entropy_matched_weights(gradient, beta=0.3)
    np.testing.assert_allclose(weights[0], 0.25)  # identical templates: uniform
    np.testing.assert_allclose(weights[1], [0.5, 0.5, 0, 0], atol=1e-9)  # target out of reach: the tie
    assert entropy(np.log(weights[2])) == pytest.approx(0.3 * np.log(4), abs=1e-9)
    with pytest.raises(ValueError, match="beta"):
        entropy_matched_weights(gradient, beta=0.0)
