"""WaffleCLIP descriptors: the reference's word and character pools, sizing from the class names,
its seeded draw sequence (checked against prompts WaffleCLIP's own code produced), prompts,
validation."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from prompting.errors import ClassListError, StrategyError
from prompting.strategies.descriptors import descriptor_clause, reference_clause
from prompting.strategies.waffle import (
    DEFAULT_CHARACTERS,
    WORDS_FILE,
    WaffleOptions,
    character_pool_from,
    load_word_list,
    waffle_class_prompts,
    waffle_descriptors,
    word_pool_from,
)

DATA = Path(__file__).parent / "data"
# 2, 2, 1 words -> 2 words per descriptor; mean word lengths 7.5, 4, 5 -> cut to 6 letters;
# 1, 1, 0 spaces -> 2 character groups; longest words 9, 5, 5 -> ceil(6.33) = 7, padded to 8
# -> groups of 4 characters.
NAMES = ["golden retriever", "tabby cat", "tiger"]
LONG_WORDS = ["abcdefghij", "klmnopqrst", "uvwxyzabcd"]
CHAR = "[^\\s,]"
CHAR_GROUP = f"{CHAR}{{4}}"
# DCLIP's descriptor-file format (one line), written for these tests: an empty list, repeats,
# quotes, brackets, commas and full stops.
DCLIP_EXCERPT = {
    "tench": ["freshwater fish", "olive-green (or brown) body", '"spotted" fins, often.', "freshwater fish"],
    "donuts": [],
    "Ram C/V": ["boxy  van"],
}


def _split(descriptors: list[str]) -> tuple[list[str], list[str]]:
    """Word descriptors sit at even positions, character ones at odd positions (equal counts)."""
    return descriptors[0::2], descriptors[1::2]


def _reference_loop(names: list[str], n_words: int, n_chars: int, seed: int, words: list[str], chars: str) -> list[str]:
    """WaffleCLIP's draw loop written out plainly (waffle_tools.py, mode 'waffle'): every class
    draws its descriptors with choice(..., 1, replace=False), then one class's list is used."""
    rng = np.random.RandomState(seed)
    spoken = [n.replace("_", " ").split(" ") for n in names]
    n_per = int(max(np.round(np.mean([len(w) for w in spoken])), 1))
    length = int(np.round(np.mean([np.mean([len(x) for x in w]) for w in spoken])))
    cut = [w[:length] for w in words]
    groups = int(np.round(np.mean([n.count(" ") for n in names]))) + 1
    longest = int(np.ceil(np.mean([max(len(x) for x in n.split(" ")) for n in names])))
    longest += groups - longest % groups
    per_class = []
    for _ in names:
        drawn = []
        for index in range(max(n_words, n_chars)):
            if index < n_words:
                drawn.append(" ".join(rng.choice(cut, 1, replace=False)[0] for _ in range(n_per)))
            if index < n_chars:
                drawn.append(", ".join("".join(rng.choice(list(chars), 1, replace=False)[0]
                                               for _ in range(longest // groups)) for _ in range(groups)))
        per_class.append(drawn)
    return per_class[rng.choice(len(names))]


def test_word_list_is_the_reference_vocabulary() -> None:
    words = load_word_list()
    assert len(words) == 4330 and words[0] == "" and words[:3] == ["", "06-12", "10"]
    assert words == sorted(set(words))
    assert all(w == w.lower() and not set(w) & set(',."()') for w in words)
    # the file WORDS_SOURCE.md describes (the built list, byte for byte)
    assert hashlib.sha256(WORDS_FILE.read_bytes()).hexdigest() == (
        "762dcec878af5c82b47d7a86139dde9f8c1e550a0108f1d499c9fe89765a716a"
    )


def test_word_list_is_a_fresh_copy() -> None:
    first = load_word_list()
    first.clear()
    assert len(load_word_list()) == 4330


def test_word_pool_rule_on_an_excerpt() -> None:
    assert word_pool_from(DCLIP_EXCERPT.values()) == [
        "", "body", "boxy", "brown", "fins", "fish", "freshwater", "often", "olive-green", "or", "spotted", "van",
    ]


def test_character_pool_rule_on_an_excerpt() -> None:
    # the distinct characters of the words without "," and "."; brackets, quotes and "-" stay
    assert character_pool_from(DCLIP_EXCERPT.values()) == '"()-abdefghilnoprstvwxy'
    assert len(DEFAULT_CHARACTERS) == 66 and DEFAULT_CHARACTERS == "".join(sorted(set(DEFAULT_CHARACTERS)))


def test_counts_and_interleaving() -> None:
    descriptors = waffle_descriptors(NAMES, n_words=4, n_chars=3, seed=0, words=LONG_WORDS)
    assert len(descriptors) == 7
    kinds = ["chars" if re.fullmatch(f"{CHAR_GROUP}, {CHAR_GROUP}", d) else "words" for d in descriptors]
    assert kinds == ["words", "chars", "words", "chars", "words", "chars", "words"]


def test_word_and_character_descriptor_shape() -> None:
    words, chars = _split(waffle_descriptors(NAMES, n_words=15, n_chars=15, seed=3, words=LONG_WORDS))
    truncated = {w[:6] for w in LONG_WORDS}
    assert len(words) == 15 and len(chars) == 15
    assert all(len(d.split(" ")) == 2 and set(d.split(" ")) <= truncated for d in words)
    assert all(re.fullmatch(f"{CHAR_GROUP}, {CHAR_GROUP}", d) and set(d) - set(", ") <= set(DEFAULT_CHARACTERS)
               for d in chars)


def test_single_word_names_follow_reference_padding() -> None:
    # one group; longest word 4 is already a multiple of 1, yet the reference pads to 5
    descriptors = waffle_descriptors(["abcd", "efgh"], n_words=0, n_chars=5, seed=1)
    assert len(descriptors) == 5
    assert all(re.fullmatch(f"{CHAR}{{5}}", d) for d in descriptors)


def test_three_word_names() -> None:
    names = ["red panda bear", "snow leopard cub"]  # 3 words, 2 spaces, longest 5 and 7
    words, chars = _split(waffle_descriptors(names, n_words=6, n_chars=6, seed=2, words=LONG_WORDS))
    # mean word lengths 4 and 4.67 -> 4.33 -> 4; longest ceil(6) = 6, padded to 9 -> 3 groups of 3
    assert all(len(d.split(" ")) == 3 for d in words)
    assert all(len(part) == 4 for d in words for part in d.split(" "))
    assert all(re.fullmatch(f"{CHAR}{{3}}, {CHAR}{{3}}, {CHAR}{{3}}", d) for d in chars)


def test_character_groups_are_sized_on_raw_names_as_the_reference_does() -> None:
    spaced = waffle_descriptors(["aquarium fish", "maple tree"], n_words=3, n_chars=3, seed=5, words=LONG_WORDS)
    underscored = waffle_descriptors(["aquarium_fish", "maple_tree"], n_words=3, n_chars=3, seed=5, words=LONG_WORDS)
    # words: 2 per descriptor either way ("_" is a space for word statistics)
    assert [len(d.split(" ")) for d in spaced[0::2]] == [len(d.split(" ")) for d in underscored[0::2]] == [2, 2, 2]
    # characters: 1 space -> 2 groups, longest 8 and 5 -> 7 -> padded to 8: groups of 4;
    # no space -> 1 group, longest 13 and 10 -> 12 -> padded to 13 (Places365's "groups of 13")
    assert all(re.fullmatch(f"{CHAR}{{4}}, {CHAR}{{4}}", d) for d in spaced[1::2])
    assert all(re.fullmatch(f"{CHAR}{{13}}", d) for d in underscored[1::2])


def test_default_word_list_is_used_and_truncated() -> None:
    words, _ = _split(waffle_descriptors(NAMES, n_words=10, n_chars=10, seed=0))
    prefixes = {w[:6] for w in load_word_list()}
    for descriptor in words:
        parts = descriptor.split(" ")
        assert len(parts) == 2
        assert all(part in prefixes and len(part) <= 6 for part in parts)


@pytest.mark.parametrize(("names", "n_words", "n_chars", "seed"), [
    (NAMES, 15, 15, 0), (NAMES, 4, 2, 9), (["a_b c", "dd", "eee ffff gg", "h"], 2, 5, 123),
    ([f"class {i}" for i in range(40)], 3, 3, 2**32 - 1),
])
def test_draws_equal_the_plain_reference_loop(names: list[str], n_words: int, n_chars: int, seed: int) -> None:
    words = load_word_list()[:500]
    expected = _reference_loop(names, n_words, n_chars, seed, words, DEFAULT_CHARACTERS)
    assert waffle_descriptors(names, n_words, n_chars, seed, words=words) == expected


@pytest.mark.parametrize("case", json.loads((DATA / "waffle_reference.json").read_text(encoding="utf-8"))["cases"],
                         ids=lambda case: f"{case['dataset']}-seed{case['seed']}")
def test_prompts_equal_those_of_waffleclips_own_code(case: dict) -> None:
    published = json.loads((DATA / "published_keys.json").read_text(encoding="utf-8"))["files"]
    keys = next(f["keys"] for f in published if f["name"] == case["keys_file"])
    options = WaffleOptions(seeds=(case["seed"],), concept=case["concept"], characters=case["characters"])
    prompts = dict(zip(keys, waffle_class_prompts(keys, options, case["seed"])))
    for key, expected in case["prompts"].items():
        assert prompts[key] == expected


def test_the_global_numpy_random_state_is_left_alone() -> None:
    np.random.seed(11)
    before = np.random.get_state()[1].copy()
    waffle_descriptors(["x y", "z"], n_words=2, n_chars=2, seed=3)
    assert np.array_equal(np.random.get_state()[1], before)


def test_same_seed_same_descriptors_and_seeds_differ() -> None:
    assert waffle_descriptors(NAMES, seed=7) == waffle_descriptors(NAMES, seed=7)
    assert len({tuple(waffle_descriptors(NAMES, seed=seed)) for seed in range(5)}) == 5


def test_only_words_or_only_characters() -> None:
    only_words = waffle_descriptors(NAMES, n_words=3, n_chars=0, seed=0, words=LONG_WORDS)
    only_chars = waffle_descriptors(NAMES, n_words=0, n_chars=3, seed=0, words=LONG_WORDS)
    assert [len(d.split(" ")) for d in only_words] == [2, 2, 2]
    assert all(re.fullmatch(f"{CHAR_GROUP}, {CHAR_GROUP}", d) for d in only_chars)


def test_class_prompts_share_descriptors_with_the_reference_wording() -> None:
    prompts = waffle_class_prompts(NAMES, WaffleOptions(n_words=2, n_chars=2), seed=4)
    descriptors = waffle_descriptors(NAMES, 2, 2, seed=4)
    assert len(descriptors) == 4
    for name, per_class in zip(NAMES, prompts):
        assert per_class == [f"A photo of a {name}, {reference_clause(d)}." for d in descriptors]
    # the reference's prefix test: a random word starting with "a" reads "which is" (DCLIP
    # prompts test the whole first word and say "which has")
    assert waffle_descriptors(["tabby cat"], 1, 0, 0, words=["apricots"]) == ["apri apri"]
    assert reference_clause("apri apri") == "which is apri apri"
    assert descriptor_clause("apri apri") == "which has apri apri"


def test_class_prompts_with_concept_and_underscores() -> None:
    prompts = waffle_class_prompts(["ramen", "pho_bo"], WaffleOptions(n_words=1, n_chars=1, concept="food"), seed=0)
    assert all(p.startswith("A photo of a food: a ramen, which ") for p in prompts[0])
    assert all(p.startswith("A photo of a food: a pho bo, which ") for p in prompts[1])


def test_options_defaults() -> None:
    assert WaffleOptions() == WaffleOptions(n_words=15, n_chars=15, seeds=(0,), concept=None, characters=None)
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


SEED_RANGE = r"WaffleCLIP seeds must be whole numbers from 0 to 2\*\*32 - 1 \(got {}\)\.$"


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ((), r"WaffleCLIP needs at least one seed\.$"),
        ((-1,), SEED_RANGE.format("-1")),
        ((2**32,), SEED_RANGE.format(str(2**32))),
        ((0, 1.5), SEED_RANGE.format(r"1\.5")),
        ((0, "1"), SEED_RANGE.format("'1'")),
        ((True,), SEED_RANGE.format("True")),
    ],
)
def test_bad_seeds(seeds: tuple, message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        WaffleOptions(seeds=seeds)


def test_negative_seed_rejected() -> None:
    with pytest.raises(StrategyError, match="^" + SEED_RANGE.format("-3")):
        waffle_descriptors(NAMES, seed=-3)


@pytest.mark.parametrize("characters", ["", "ab c", "\n"])
def test_bad_character_pool(characters: str) -> None:
    with pytest.raises(StrategyError, match="character pool must be non-empty and hold no whitespace"):
        WaffleOptions(characters=characters)


@pytest.mark.parametrize("names", [["", "  "], [], ["_", " _ "]])
def test_empty_class_list(names: list[str]) -> None:
    with pytest.raises(ClassListError, match=r"^WaffleCLIP needs at least one non-empty class name\.$"):
        waffle_descriptors(names, seed=0)


def test_empty_word_list() -> None:
    with pytest.raises(StrategyError, match=r"^WaffleCLIP's word list is empty\.$"):
        waffle_descriptors(NAMES, seed=0, words=[])


def test_build_script_writes_the_pool_of_the_files_given(tmp_path: Path, capsys) -> None:
    from scripts.build_waffle_words import main

    first, second, bad = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "bad.json"
    first.write_text(json.dumps({"tench": DCLIP_EXCERPT["tench"], "donuts": []}), encoding="utf-8")
    second.write_text(json.dumps({"Ram C/V": DCLIP_EXCERPT["Ram C/V"]}), encoding="utf-8")
    bad.write_text(json.dumps({"tench": "freshwater fish"}), encoding="utf-8")
    out = tmp_path / "words.json"
    assert main([str(first), str(second), "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == word_pool_from(DCLIP_EXCERPT.values())
    assert "wrote 12 words from 2 files" in capsys.readouterr().out
    assert main([str(bad), "--out", str(tmp_path / "other.json")]) == 2
    assert "bad.json is not a DCLIP descriptor file" in capsys.readouterr().err
    assert not (tmp_path / "other.json").exists()
