"""Aggregation rules on controlled embeddings, where the right answer is known exactly."""

from __future__ import annotations

import numpy as np

from prompting.classes import ClassName
from prompting.evaluation.disambiguation import (
    class_similarity_matrix,
    confusable_pairs,
    top2_margins,
    with_prompt_name,
)
from prompting.evaluation.export import seed_spread
from prompting.evaluation.scoring import class_similarities
from prompting.vectors import normalise_rows


def _unit(*rows: list[float]) -> np.ndarray:
    return normalise_rows(np.array(rows, dtype=np.float64))


def test_mean_embedding_is_cosine_with_renormalised_mean() -> None:
    images = _unit([1, 0, 0], [0, 1, 0])
    prompts = [_unit([1, 0, 0], [0, 1, 0]), _unit([0, 0, 1])]
    sims, per_prompt, class_vectors = class_similarities(images, prompts, "mean_embedding")
    # class 0 vector = normalise([0.5, 0.5, 0]) = [0.7071, 0.7071, 0]
    np.testing.assert_allclose(class_vectors[0], [np.sqrt(0.5), np.sqrt(0.5), 0])
    np.testing.assert_allclose(sims, [[np.sqrt(0.5), 0.0], [np.sqrt(0.5), 0.0]])
    np.testing.assert_allclose(per_prompt[0], [[1, 0], [0, 1]])


def test_mean_score_averages_per_prompt_cosines_not_embeddings() -> None:
    images = _unit([1, 0, 0])
    prompts = [_unit([1, 0, 0], [0, 1, 0]), _unit([1, 1, 0])]
    sims, _, _ = class_similarities(images, prompts, "mean_score")
    # class 0: mean(1, 0) = 0.5 (mean-embedding would give 0.707); class 1: 0.707
    np.testing.assert_allclose(sims, [[0.5, np.sqrt(0.5)]])
    sims_embedding, _, _ = class_similarities(images, prompts, "mean_embedding")
    assert sims_embedding[0, 0] > sims[0, 0]


def test_confusable_pairs_are_ordered_by_cosine() -> None:
    vectors = _unit([1, 0, 0], [0.9, 0.1, 0], [0, 0, 1], [0, 0.2, 1])
    pairs = confusable_pairs(vectors, top=2)
    assert [(p.first, p.second) for p in pairs] == [(0, 1), (2, 3)]
    matrix = class_similarity_matrix(vectors)
    assert pairs[0].similarity == matrix[0, 1]
    np.testing.assert_allclose(np.diag(matrix), 1.0)


def test_top2_margin_and_prompt_rewrite() -> None:
    margins = top2_margins(np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]]))
    np.testing.assert_allclose(margins, [0.5, 0.05])
    classes = [ClassName.plain("crane"), ClassName.plain("heron")]
    rewritten = with_prompt_name(classes, 0, "crane, a type of bird")
    assert rewritten[0] == ClassName("crane", "crane, a type of bird") and classes[0].prompt == "crane"


def test_seed_spread_uses_population_std() -> None:
    from types import SimpleNamespace

    mean, std, *_ = seed_spread(SimpleNamespace(seed_runs=[{"top1": 0.5}, {"top1": 0.7}, {"top1": None}]))
    assert (round(mean, 6), round(std, 6)) == (0.6, 0.1)
    assert seed_spread(SimpleNamespace(seed_runs=[{"top1": None}])) is None


class _FakeStore:
    """Text vectors chosen by hand: 'bird' and 'machine' directions, crane halfway between."""

    VECTORS = {
        "a photo of a bird.": [1.0, 0.0, 0.0], "a photo of a machine.": [0.0, 1.0, 0.0],
        "a photo of a toy.": [0.0, 0.0, 1.0], "a photo of a crane.": [0.7, 0.7, 0.1],
        "a photo of a heron.": [0.95, 0.05, 0.0], "a photo of a excavator.": [0.05, 0.95, 0.0],
    }

    def embed(self, texts: list[str]) -> np.ndarray:
        return normalise_rows(np.array([self.VECTORS[t] for t in texts]))


def test_rewrites_pick_the_category_that_separates_the_confused_pair(monkeypatch) -> None:
    import prompting.evaluation.disambiguation as disambiguation

    monkeypatch.setattr(disambiguation, "text_store", lambda encoder: _FakeStore())
    classes = [ClassName.plain(n) for n in ("crane", "heron", "excavator")]
    categories = ("bird", "machine", "toy")
    versus_excavator = disambiguation.rank_categories(None, classes, 0, partner=2, categories=categories)
    versus_heron = disambiguation.rank_categories(None, classes, 0, partner=1, categories=categories)
    assert versus_excavator[0][0] == "bird" and versus_heron[0][0] == "machine"
    assert disambiguation.suggest_rewrites(None, classes, 0, partner=2, count=2, categories=categories) == [
        "crane, a type of bird", "crane, a type of machine"
    ]
