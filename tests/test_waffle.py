"""WaffleCLIP descriptors: shape from the class names, seeding, sharing, prompts, validation."""

from __future__ import annotations

import re

import pytest

from prompting.errors import ClassListError, StrategyError
from prompting.strategies.descriptors import descriptor_clause
from prompting.strategies.waffle import WaffleOptions, load_word_list, waffle_class_prompts, waffle_descriptors

# 2, 2, 1 words -> 2 words per descriptor; mean word lengths 7.5, 4, 5 -> cut to 6 letters;
# 1, 1, 0 spaces -> 2 character groups; longest words 9, 5, 5 -> ceil(6.33) = 7, padded to 8
# -> groups of 4 characters.
NAMES = ["golden retriever", "tabby cat", "tiger"]
LONG_WORDS = ["abcdefghij", "klmnopqrst", "uvwxyzabcd"]
CHAR_GROUP = "[a-z0-9]{4}"


def _split(descriptors: list[str]) -> tuple[list[str], list[str]]:
    """Word descriptors sit at even positions, character ones at odd positions (equal counts)."""
    return descriptors[0::2], descriptors[1::2]


def test_word_list_is_lowercase_alphabetic_and_large() -> None:
    words = load_word_list()
    assert len(words) > 50_000
    assert all(w.isascii() and w.isalpha() and w.islower() and len(w) >= 3 for w in words)
    assert len(set(words)) == len(words)


def test_word_list_is_a_fresh_copy() -> None:
    first = load_word_list()
    first.clear()
    assert len(load_word_list()) > 50_000


def test_counts_and_interleaving() -> None:
    descriptors = waffle_descriptors(NAMES, n_words=4, n_chars=3, seed=0, words=LONG_WORDS)
    assert len(descriptors) == 7
    kinds = ["chars" if re.fullmatch(f"{CHAR_GROUP}, {CHAR_GROUP}", d) else "words" for d in descriptors]
    assert kinds == ["words", "chars", "words", "chars", "words", "chars", "words"]


def test_word_descriptor_shape() -> None:
    words, _ = _split(waffle_descriptors(NAMES, n_words=15, n_chars=15, seed=3, words=LONG_WORDS))
    truncated = {w[:6] for w in LONG_WORDS}
    assert len(words) == 15
    for descriptor in words:
        parts = descriptor.split(" ")
        assert len(parts) == 2
        assert all(part in truncated for part in parts)


def test_character_descriptor_shape() -> None:
    _, chars = _split(waffle_descriptors(NAMES, n_words=15, n_chars=15, seed=3, words=LONG_WORDS))
    assert len(chars) == 15
    assert all(re.fullmatch(f"{CHAR_GROUP}, {CHAR_GROUP}", d) for d in chars)


def test_single_word_names_follow_reference_padding() -> None:
    # one group; longest word 4 is already a multiple of 1, yet the reference pads to 5
    descriptors = waffle_descriptors(["abcd", "efgh"], n_words=0, n_chars=5, seed=1)
    assert len(descriptors) == 5
    assert all(re.fullmatch("[a-z0-9]{5}", d) for d in descriptors)


def test_three_word_names() -> None:
    names = ["red panda bear", "snow leopard cub"]  # 3 words, 2 spaces, longest 5 and 7
    words, chars = _split(waffle_descriptors(names, n_words=6, n_chars=6, seed=2, words=LONG_WORDS))
    # mean word lengths 4 and 4.67 -> 4.33 -> 4; longest ceil(6) = 6, padded to 9 -> 3 groups of 3
    assert all(len(d.split(" ")) == 3 for d in words)
    assert all(len(part) == 4 for d in words for part in d.split(" "))
    assert all(re.fullmatch("[a-z0-9]{3}, [a-z0-9]{3}, [a-z0-9]{3}", d) for d in chars)


def test_underscores_count_as_spaces() -> None:
    spaced = waffle_descriptors(["aquarium fish", "maple tree"], n_words=3, n_chars=3, seed=5, words=LONG_WORDS)
    underscored = waffle_descriptors(["aquarium_fish", "maple_tree"], n_words=3, n_chars=3, seed=5, words=LONG_WORDS)
    assert spaced == underscored


def test_default_word_list_is_used_and_truncated() -> None:
    words, _ = _split(waffle_descriptors(NAMES, n_words=10, n_chars=10, seed=0))
    prefixes = {w[:6] for w in load_word_list()}
    for descriptor in words:
        parts = descriptor.split(" ")
        assert len(parts) == 2
        assert all(part in prefixes and len(part) <= 6 for part in parts)


def test_same_seed_same_descriptors() -> None:
    assert waffle_descriptors(NAMES, seed=7) == waffle_descriptors(NAMES, seed=7)


def test_different_seeds_differ() -> None:
    runs = {tuple(waffle_descriptors(NAMES, seed=seed)) for seed in range(5)}
    assert len(runs) == 5


def test_only_words_or_only_characters() -> None:
    only_words = waffle_descriptors(NAMES, n_words=3, n_chars=0, seed=0, words=LONG_WORDS)
    only_chars = waffle_descriptors(NAMES, n_words=0, n_chars=3, seed=0, words=LONG_WORDS)
    assert [len(d.split(" ")) for d in only_words] == [2, 2, 2]
    assert all(re.fullmatch(f"{CHAR_GROUP}, {CHAR_GROUP}", d) for d in only_chars)


def test_class_prompts_share_descriptors() -> None:
    prompts = waffle_class_prompts(NAMES, WaffleOptions(n_words=2, n_chars=2), seed=4)
    descriptors = waffle_descriptors(NAMES, 2, 2, seed=4)
    assert len(descriptors) == 4
    for name, per_class in zip(NAMES, prompts):
        assert per_class == [f"A photo of a {name}, {descriptor_clause(d)}." for d in descriptors]
    assert prompts[1][1] == f"A photo of a tabby cat, which has {descriptors[1]}."


def test_class_prompts_with_concept() -> None:
    prompts = waffle_class_prompts(["ramen", "pho"], WaffleOptions(n_words=1, n_chars=1, concept="food"), seed=0)
    assert all(p.startswith("A photo of a food: a ramen, which ") for p in prompts[0])
    assert all(p.startswith("A photo of a food: a pho, which ") for p in prompts[1])


def test_options_defaults() -> None:
    assert WaffleOptions() == WaffleOptions(n_words=15, n_chars=15, seeds=(0,), concept=None)
    assert len(waffle_class_prompts(NAMES, WaffleOptions(), seed=0)[0]) == 30


NEGATIVE = r"WaffleCLIP descriptor counts must not be negative \(got {} words, {} characters\)\.$"
NONE_ASKED = r"WaffleCLIP needs at least one random-word or random-character descriptor\.$"


@pytest.mark.parametrize(
    ("n_words", "n_chars", "message"),
    [(-1, 5, NEGATIVE.format(-1, 5)), (5, -1, NEGATIVE.format(5, -1)), (-2, -3, NEGATIVE.format(-2, -3)),
     (0, 0, NONE_ASKED)],
)
def test_bad_counts(n_words: int, n_chars: int, message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        waffle_descriptors(NAMES, n_words=n_words, n_chars=n_chars, seed=0)
    with pytest.raises(StrategyError, match=message):
        WaffleOptions(n_words=n_words, n_chars=n_chars)


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ((), r"WaffleCLIP needs at least one seed\.$"),
        ((-1,), r"WaffleCLIP seeds must be non-negative integers \(got -1\)\.$"),
        ((0, 1.5), r"WaffleCLIP seeds must be non-negative integers \(got 1\.5\)\.$"),
        ((0, "1"), r"WaffleCLIP seeds must be non-negative integers \(got '1'\)\.$"),
        ((True,), r"WaffleCLIP seeds must be non-negative integers \(got True\)\.$"),
    ],
)
def test_bad_seeds(seeds: tuple, message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        WaffleOptions(seeds=seeds)


def test_negative_seed_rejected() -> None:
    with pytest.raises(StrategyError, match=r"^WaffleCLIP seeds must be non-negative integers \(got -3\)\.$"):
        waffle_descriptors(NAMES, seed=-3)


@pytest.mark.parametrize("names", [["", "  "], [], ["_", " _ "]])
def test_empty_class_list(names: list[str]) -> None:
    with pytest.raises(ClassListError, match=r"^WaffleCLIP needs at least one non-empty class name\.$"):
        waffle_descriptors(names, seed=0)


def test_empty_word_list() -> None:
    with pytest.raises(StrategyError, match=r"^WaffleCLIP's word list is empty\.$"):
        waffle_descriptors(NAMES, seed=0, words=["", " "])
