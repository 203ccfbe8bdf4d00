"""FuDD on constructed embeddings, where the right answer is known exactly: ambiguous sets, the
pooled class text, the full logits, missing pairs, and a contrastive description that flips a
wrong top-1 while a generic one does not."""

from __future__ import annotations

import numpy as np
import pytest

from prompting.classes import ClassName
from prompting.encoding.models import DualEncoder, ModelCard, ModelParts, TextSettings
from prompting.evaluation import compare as compare_module
from prompting.evaluation.compare import EncodedImages, score_strategies
from prompting.evaluation.export import comparison_to_dict
from prompting.evaluation.results import ImageRecord
from prompting.strategies.fudd import (
    FuddOptions,
    ambiguous_pairs,
    ambiguous_sets,
    check_k,
    combine_logits,
    fudd_scores,
    text_table,
)
from prompting.strategies.fudd_pairs import Difference, PairDescriptions
from prompting.strategies.registry import StrategySpec, build_prompts
from prompting.vectors import normalise_rows, softmax

DIMENSIONS = 7  # bird, crane-ness, heron-ness, S-curved neck, straight neck, machine, spare


def vec(**parts: float) -> np.ndarray:
    axes = {"bird": 0, "crane": 1, "heron": 2, "curved": 3, "straight": 4, "machine": 5, "spare": 6}
    v = np.zeros(DIMENSIONS)
    for name, value in parts.items():
        v[axes[name]] = value
    return v


TEXTS = {
    "a photo of a crane.": vec(bird=0.8, crane=0.6),
    "a photo of a heron.": vec(bird=0.8, heron=0.6),
    "a photo of a excavator.": vec(machine=1.0),
    # contrastive: each caption names what tells the two apart
    "a photo of a crane, with its neck held straight.": vec(bird=0.6, crane=0.5, straight=0.6),
    "a photo of a heron, with an S-curved neck.": vec(bird=0.6, heron=0.5, curved=0.6),
    # generic: both captions say the same thing about the two birds
    "a photo of a crane, a large wading bird.": vec(bird=0.9, crane=0.43),
    "a photo of a heron, a large wading bird.": vec(bird=0.9, heron=0.43),
    "a photo of a crane, a bird.": vec(bird=0.95, crane=0.3),
    "a photo of a excavator, a machine with a bucket.": vec(machine=0.9, crane=0.2),
    "a photo of a crane, with feathers.": vec(bird=0.9, crane=0.2, spare=0.3),
}
CLASSES = [ClassName.plain(name) for name in ("crane", "heron", "excavator")]
# A heron the base template calls a crane; a crane; an excavator.
IMAGES = normalise_rows(np.stack([vec(bird=0.8, crane=0.3, heron=0.2, curved=0.45),
                                  vec(bird=0.8, crane=0.5, straight=0.3), vec(machine=1.0, bird=0.1)]))
LABELS = [1, 0, 2]
NECK = Difference("neck", "a photo of a crane, with its neck held straight.", "a photo of a heron, with an S-curved neck.")
GENERIC = Difference("kind", "a photo of a crane, a large wading bird.", "a photo of a heron, a large wading bird.")
TEMPLATE = StrategySpec("template", templates=["a photo of a {}."])


class FakeStore:
    """Hand-made text vectors; counts what it was asked to embed."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def missing(self, texts: list[str]) -> list[str]:
        return list(dict.fromkeys(texts))

    def embed(self, texts: list[str], stats=None, progress=None) -> np.ndarray:
        self.asked += texts
        return normalise_rows(np.stack([TEXTS[t] for t in texts]))


def encoder(family: str = "clip", scale: float = 100.0, bias: float = 0.0) -> DualEncoder:
    settings = TextSettings("longest", 77, False, True)
    card = ModelCard("fake", family, family, settings, scale, bias, "fake-images", "float32", None, DIMENSIONS)
    return DualEncoder("fake", card, ModelParts(lambda: pytest.fail("nothing is encoded")), "cpu")


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore()
    monkeypatch.setattr(compare_module, "text_store", lambda enc: fake)
    return fake


def run(specs: list[StrategySpec], family: str = "clip", images: np.ndarray = IMAGES, labels=LABELS):
    records = [ImageRecord(f"img{i}.png", f"img{i}.png", label) for i, label in enumerate(labels)]
    return score_strategies(encoder(family), EncodedImages(images, records, []), CLASSES, specs)


def fudd_spec(*differences: Difference, k: int = 2, base: StrategySpec | None = None,
              extra: list[PairDescriptions] | None = None) -> StrategySpec:
    pairs = [PairDescriptions("crane", "heron", list(differences))] + (extra or [])
    return StrategySpec("fudd", fudd=FuddOptions(pairs, base, k))


def test_ambiguous_sets_are_the_base_top_k_and_pairs_are_ranked_by_images() -> None:
    scores = np.array([[0.9, 0.8, 0.1, 0.0], [0.2, 0.9, 0.8, 0.0], [0.9, 0.1, 0.85, 0.0]])
    np.testing.assert_array_equal(ambiguous_sets(scores, 2), [[0, 1], [1, 2], [0, 2]])
    assert ambiguous_sets(scores, 10).shape == (3, 4)  # k is capped by the class count
    pairs = ambiguous_pairs(ambiguous_sets(scores, 3), 4)
    # sets {0,1,2}, {1,2,0}, {0,2,1}: the three pairs of 0,1,2 in every image, nothing with class 3
    assert [(p.first, p.second, p.images) for p in pairs] == [(0, 1, 3), (0, 2, 3), (1, 2, 3)]
    pairs = ambiguous_pairs(ambiguous_sets(scores, 2), 4)
    assert [(p.first, p.second, p.images) for p in pairs] == [(0, 1, 1), (0, 2, 1), (1, 2, 1)]
    for bad in (1, 11, 2.5, True):
        with pytest.raises(ValueError, match="from 2 to 10"):
            check_k(bad)


def test_a_class_is_the_mean_of_its_captions_over_every_pair_in_the_set_each_text_once() -> None:
    names = ["crane", "heron", "excavator"]
    pair_texts = {
        (0, 1): [("neck", NECK.first, NECK.second), ("kind", GENERIC.first, GENERIC.second)],
        # the same crane caption again, against the excavator: it counts once in crane's pool
        (0, 2): [("kind", GENERIC.first, "a photo of a excavator, a machine with a bucket."),
                 ("body", "a photo of a crane, with feathers.", "a photo of a excavator, a machine with a bucket.")],
    }
    sets = np.array([[0, 1, 2]])
    table = text_table(pair_texts, {(0, 1), (0, 2), (1, 2)}, names)
    vectors = normalise_rows(np.stack([TEXTS[t] for t in table.texts]))
    scores = fudd_scores(IMAGES[:1], sets, table, vectors)
    unit = {t: normalise_rows(TEXTS[t][None])[0] for t in TEXTS}
    crane = normalise_rows(np.mean([unit[NECK.first], unit[GENERIC.first], unit["a photo of a crane, with feathers."]],
                                   axis=0)[None])[0]
    # heron: its captions against the crane, plus the fallback for the undescribed heron/excavator pair
    assert "a photo of a heron." in table.texts and "a photo of a crane." not in table.texts
    heron = normalise_rows(np.mean([unit[NECK.second], unit[GENERIC.second], unit["a photo of a heron."]],
                                   axis=0)[None])[0]
    np.testing.assert_allclose(scores[0, :2], [IMAGES[0] @ crane, IMAGES[0] @ heron])


def test_a_contrastive_description_flips_a_wrong_top1_and_a_generic_one_does_not(store: FakeStore) -> None:
    comparison = run([TEMPLATE, fudd_spec(NECK), StrategySpec("fudd", label="generic", fudd=FuddOptions(
        [PairDescriptions("crane", "heron", [GENERIC])], None, 2))])
    base, contrastive, generic = (comparison.strategies[k] for k in ("template", "fudd", "fudd-2"))
    assert base.predictions(1)[:, 0].tolist() == [0, 0, 2]  # the heron is called a crane
    assert contrastive.predictions(1)[:, 0].tolist() == [1, 0, 2]  # fixed
    assert generic.predictions(1)[:, 0].tolist() == [0, 0, 2]  # still wrong
    assert (base.metrics["top1"], contrastive.metrics["top1"], generic.metrics["top1"]) == (2 / 3, 1.0, 2 / 3)
    details = contrastive.fudd
    assert not details.base_computed and details.k == 2
    [change] = details.changes
    assert (change.image, change.before, change.after) == (0, 0, 1)
    [evidence] = change.evidence
    assert (evidence.attribute, evidence.after_text, evidence.before_text) == ("neck", NECK.second, NECK.first)
    unit = normalise_rows(np.stack([TEXTS[NECK.second], TEXTS[NECK.first]]))
    np.testing.assert_allclose([evidence.after_cosine, evidence.before_cosine], unit @ IMAGES[0])
    assert generic.fudd.changes == []
    # the images' sets: the two birds for the birds; excavator then crane for the excavator
    np.testing.assert_array_equal(details.sets, [[0, 1], [0, 1], [2, 0]])


def test_classes_outside_the_set_keep_their_probability_and_the_set_keeps_its_mass(store: FakeStore) -> None:
    comparison = run([TEMPLATE, fudd_spec(NECK)])
    base, fudd = comparison.strategies["template"], comparison.strategies["fudd"]
    np.testing.assert_allclose(fudd.probabilities.sum(axis=1), 1.0)
    sets = fudd.fudd.sets
    for n, members in enumerate(sets.tolist()):
        outside = [c for c in range(3) if c not in members]
        np.testing.assert_allclose(fudd.probabilities[n, outside], base.probabilities[n, outside])
        np.testing.assert_allclose(fudd.probabilities[n, members].sum(), base.probabilities[n, members].sum())
        inside = softmax(100.0 * fudd.fudd.set_cosines[n])
        np.testing.assert_allclose(fudd.probabilities[n, members] / fudd.probabilities[n, members].sum(), inside)
    # similarities: FuDD's cosine inside the set, the base's outside
    np.testing.assert_allclose(np.take_along_axis(fudd.similarities, sets, axis=1), fudd.fudd.set_cosines)
    assert fudd.similarities[0, 2] == base.similarities[0, 2]


def test_combined_logits_on_random_scores_keep_ranking_promises() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 12)) * 4
    for k in (2, 5, 12):
        sets = ambiguous_sets(base, k)
        inner = rng.normal(size=(200, k)) * 6
        combined = combine_logits(base, sets, inner)
        p, q = softmax(base, axis=1), softmax(combined, axis=1)
        in_set = np.zeros_like(base, dtype=bool)
        np.put_along_axis(in_set, sets, True, axis=1)
        np.testing.assert_allclose(q[~in_set], p[~in_set])
        np.testing.assert_allclose((q * in_set).sum(axis=1), (p * in_set).sum(axis=1))
        # the top class is always FuDD's choice inside the set
        np.testing.assert_array_equal(combined.argmax(axis=1), sets[np.arange(200), inner.argmax(axis=1)])
    # k = all classes: exactly FuDD's softmax
    sets = ambiguous_sets(base, 12)
    inner = rng.normal(size=(200, 12))
    full = softmax(combine_logits(base, sets, inner), axis=1)
    np.testing.assert_allclose(np.take_along_axis(full, sets, axis=1), softmax(inner, axis=1))


def test_a_missing_pair_falls_back_to_the_papers_caption_and_is_reported(store: FakeStore) -> None:
    comparison = run([fudd_spec(NECK, k=3)])
    fudd = comparison.strategies["fudd"]
    names = ["crane", "heron", "excavator"]
    assert fudd.fudd.missing_pairs == [(0, 2), (1, 2)] and fudd.fudd.images_missing == 3
    assert {"a photo of a crane.", "a photo of a heron.", "a photo of a excavator."} <= set(store.asked)
    note = next(n for n in fudd.notes if "no differential descriptions" in n)
    assert "2 of 3 look-alike pairs" in note and f"{names[0]} / {names[2]}" in note and "3 images" in note
    assert fudd.fudd.base_computed  # the template was not in this comparison
    assert any("scored for FuDD only" in n for n in fudd.notes)
    # the excavator keeps only its fallback caption, the crane its neck caption plus the fallback
    assert fudd.prompts[2] == ["a photo of a excavator."]
    assert set(fudd.prompts[0]) == {NECK.first, "a photo of a crane."}


def test_siglip_gets_the_same_logits_through_its_sigmoid(store: FakeStore) -> None:
    comparison = run([TEMPLATE, fudd_spec(NECK)], family="siglip")
    base, fudd = comparison.strategies["template"], comparison.strategies["fudd"]
    assert fudd.probability_kind == "sigmoid"
    np.testing.assert_allclose(fudd.probabilities, 1 / (1 + np.exp(-fudd.logits)))
    assert fudd.predictions(1)[:, 0].tolist() == [1, 0, 2]
    np.testing.assert_allclose(fudd.probabilities[0, 2], base.probabilities[0, 2])  # outside the set


def test_fudd_spec_checks_its_inputs_and_lists_captions_per_class() -> None:
    with pytest.raises(Exception, match="differential descriptions"):
        build_prompts(StrategySpec("fudd"), CLASSES)
    with pytest.raises(Exception, match="from 2 to 10"):
        build_prompts(fudd_spec(NECK, k=1), CLASSES)
    with pytest.raises(Exception, match="another strategy"):
        build_prompts(fudd_spec(NECK, base=StrategySpec("fudd")), CLASSES)
    with pytest.raises(Exception, match="needs descriptions"):
        build_prompts(fudd_spec(NECK, base=StrategySpec("cupl")), CLASSES)
    with pytest.raises(Exception, match="None of the FuDD pairs.*unknown: owl"):
        build_prompts(StrategySpec("fudd", fudd=FuddOptions([PairDescriptions("owl", "crane", [NECK])])), CLASSES)
    plan = build_prompts(fudd_spec(NECK, GENERIC, extra=[PairDescriptions("Crane", "owl", [NECK])]), CLASSES)
    assert plan.prompts == [[NECK.first, GENERIC.first], [NECK.second, GENERIC.second], []]
    assert "owl" in plan.notes[0]


def test_the_json_export_carries_fuddds_working(store: FakeStore) -> None:
    comparison = run([TEMPLATE, fudd_spec(NECK)])
    exported = comparison_to_dict(comparison)["strategies"]["fudd"]["fudd"]
    assert exported["k"] == 2 and exported["base"] == "Template" and exported["base_computed"] is False
    assert exported["ambiguous_sets"][2] == ["excavator", "crane"]
    assert exported["pairs"][0] == {"classes": ["crane", "heron"], "images": 2}
    assert exported["missing_pairs"] == [["crane", "excavator"]]
    [changed] = exported["changed"]
    assert (changed["image"], changed["before"], changed["after"]) == (0, "crane", "heron")
    assert changed["why"][0]["attribute"] == "neck" and changed["why"][0]["after"] == NECK.second


def test_on_many_seeded_look_alike_images_contrastive_pairs_help_and_generic_ones_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """20 classes in 10 look-alike pairs, 500 noisy images: each image carries a little of its class's
    distinguishing feature, which only the contrastive captions name."""
    from itertools import combinations

    rng = np.random.default_rng(0)
    dim, groups, per_class = 64, 10, 25
    shared, own, feature, common = (rng.normal(size=(groups, dim)), rng.normal(size=(2 * groups, dim)),
                                    rng.normal(size=(2 * groups, dim)), rng.normal(size=dim))
    names = [f"class{c}" for c in range(2 * groups)]
    texts = {}
    for c, name in enumerate(names):
        texts[f"a photo of a {name}."] = shared[c // 2] + 0.35 * own[c]
        texts[f"a photo of a {name}, distinct."] = shared[c // 2] + 0.35 * own[c] + 0.6 * feature[c]
        texts[f"a photo of a {name}, generic."] = shared[c // 2] + 0.35 * own[c] + 0.6 * common

    class Store(FakeStore):
        def embed(self, asked: list[str], stats=None, progress=None) -> np.ndarray:
            return normalise_rows(np.stack([texts[t] for t in asked]))

    monkeypatch.setattr(compare_module, "text_store", lambda enc: Store())
    labels = np.repeat(np.arange(2 * groups), per_class)
    images = normalise_rows(np.stack([shared[c // 2] + 0.15 * own[c] + 0.2 * feature[c] + 1.6 * rng.normal(size=dim)
                                      for c in labels]))
    records = [ImageRecord(f"{i}.png", f"{i}.png", int(label)) for i, label in enumerate(labels)]
    classes = [ClassName.plain(n) for n in names]

    def fudd(kind: str) -> StrategySpec:
        pairs = [PairDescriptions(names[i], names[j], [Difference("x", f"a photo of a {names[i]}, {kind}.",
                                                                  f"a photo of a {names[j]}, {kind}.")])
                 for i, j in combinations(range(len(names)), 2)]
        return StrategySpec("fudd", fudd=FuddOptions(pairs, None, 10))

    comparison = score_strategies(encoder(), EncodedImages(images, records, []), classes,
                                  [TEMPLATE, fudd("distinct"), fudd("generic")])
    base, contrastive, generic = (comparison.strategies[k].metrics["top1"] for k in ("template", "fudd", "fudd-2"))
    assert contrastive > base + 0.05 and generic <= base
    changes = comparison.strategies["fudd"].fudd.changes
    fixed = sum(1 for c in changes if c.after == labels[c.image])
    broke = sum(1 for c in changes if c.before == labels[c.image])
    assert fixed - broke == round((contrastive - base) * len(labels))
