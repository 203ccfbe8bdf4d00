"""WaffleCLIP: seeded random-word and random-character descriptors shared by every class.

Reproduces ``load_gpt_descriptions(mode='waffle')`` of ExplainableML/WaffleCLIP
(``waffle_tools.py``), so a seed gives the reference's own prompts:

* **Words** come from ``assets/words.json``, the vocabulary of DCLIP's seven GPT descriptor
  files, identical to the reference's ``word_list.pkl`` (``word_pool_from``; see
  ``assets/WORDS_SOURCE.md``). Each is cut to the class names' mean word length; a word
  descriptor joins ``round(mean words per name)`` (at least 1) of them with spaces.
* **Characters** are drawn from a pool of characters. The reference takes its pool from the data
  set's own descriptor file (``character_pool_from``); without such a file we use the pool of
  DCLIP's ImageNet file (``DEFAULT_CHARACTERS``). A character descriptor has
  ``round(mean spaces per raw name) + 1`` groups joined by ", "; with ``c = ceil(mean longest
  word of the raw name)``, padded up by ``groups - c % groups`` (a full ``groups`` when already
  divisible), each group gets ``c // groups`` characters. Raw names keep their underscores, as
  the reference's keys do (Places365's "airplane_cabin" counts as one word).
* **Draws**: numpy's legacy ``RandomState(seed)`` (a private one: the global state is never
  touched; the reference seeds the global one, which is the same stream). For every class in
  order, for each of the descriptor pairs, one word descriptor then one character descriptor,
  each word and character a ``choice(pool, 1, replace=False)``; then one class is picked with
  ``choice(classes)`` and its descriptors go to every class. Only that class's draws are kept;
  the others are replayed for their effect on the stream (a shuffle of a buffer the pool's size
  consumes the stream exactly as ``choice(..., replace=False)`` does).

Deliberate difference: the reference builds the picked class's prompts and then replaces its
name with each class's name everywhere in the text, which also rewrites random words that happen
to contain that name; here the class name only goes in its slot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from prompting.classes import spoken_name
from prompting.errors import ClassListError, StrategyError
from prompting.strategies.descriptors import waffle_prompt

WORDS_FILE = Path(__file__).resolve().parents[2] / "assets" / "words.json"
# The characters of DCLIP's descriptors_imagenet.json, as the reference collects them (66).
DEFAULT_CHARACTERS = "\"'()-/0123456789:ABCDEFGIJKLMNOPQRSTUVWZabcdefghijklmnopqrstuvwxyz"
GROUP_SEPARATOR = ", "
_REMOVED_FROM_WORDS = ',."()'
_REMOVED_FROM_CHARACTERS = ",."


@dataclass(frozen=True)
class WaffleOptions:
    """How many word and character descriptors to draw, for which seeds, with which concept,
    from which characters (None: ``DEFAULT_CHARACTERS``)."""

    n_words: int = 15
    n_chars: int = 15
    seeds: tuple[int, ...] = (0,)
    concept: str | None = None
    characters: str | None = None

    def __post_init__(self) -> None:
        _check_counts(self.n_words, self.n_chars)
        if not self.seeds:
            raise StrategyError("WaffleCLIP needs at least one seed.")
        for seed in self.seeds:
            _check_seed(seed)
        if self.characters is not None:
            _character_pool(self.characters)


@dataclass(frozen=True)
class _NameShape:
    """Statistics of the class names that size the random descriptors."""

    words_per_descriptor: int
    word_length: int
    char_groups: int
    group_length: int


def _check_counts(n_words: int, n_chars: int) -> None:
    """Reject negative counts and a request for no descriptors at all."""
    if n_words < 0 or n_chars < 0:
        raise StrategyError(
            f"WaffleCLIP descriptor counts must not be negative (got {n_words} words, {n_chars} characters)."
        )
    if n_words + n_chars == 0:
        raise StrategyError("WaffleCLIP needs at least one random-word or random-character descriptor.")


def _check_seed(seed: int) -> None:
    """Seeds are non-negative integers below 2**32 (numpy's legacy seeding accepts no others)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise StrategyError(f"WaffleCLIP seeds must be whole numbers from 0 to 2**32 - 1 (got {seed!r}).")


def _character_pool(characters: str) -> str:
    """The distinct characters of ``characters``, sorted (as ``np.unique``); no whitespace."""
    pool = "".join(sorted(set(characters)))
    if not pool or any(ch.isspace() for ch in pool):
        raise StrategyError("WaffleCLIP's character pool must be non-empty and hold no whitespace.")
    return pool


def word_pool_from(descriptor_lists: Iterable[Iterable[str]]) -> list[str]:
    """The reference's word list built from descriptor lists: every descriptor split on " ",
    each piece without , . " ( ) and lower-cased; distinct, sorted ("" included, as in the
    reference's list)."""
    words = {
        piece.translate(str.maketrans("", "", _REMOVED_FROM_WORDS)).lower()
        for descriptors in descriptor_lists
        for descriptor in descriptors
        for piece in descriptor.split(" ")
    }
    return sorted(words)


def character_pool_from(descriptor_lists: Iterable[Iterable[str]]) -> str:
    """The reference's character pool of a descriptor file: the characters of its distinct
    " "-separated words with "," and "." removed, sorted."""
    pieces = {piece for descriptors in descriptor_lists for descriptor in descriptors for piece in descriptor.split(" ")}
    stripped = "".join(piece.translate(str.maketrans("", "", _REMOVED_FROM_CHARACTERS)) for piece in pieces)
    return _character_pool(stripped)


@lru_cache(maxsize=1)
def _word_pool() -> tuple[str, ...]:
    """The packaged word list (a JSON array of strings), read once."""
    try:
        words = json.loads(WORDS_FILE.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StrategyError(f"WaffleCLIP's word list '{WORDS_FILE.name}' cannot be read: {exc.strerror or exc}.") from exc
    except json.JSONDecodeError as exc:
        raise StrategyError(f"WaffleCLIP's word list '{WORDS_FILE.name}' is not valid JSON: {exc.msg}.") from exc
    if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
        raise StrategyError(f"WaffleCLIP's word list '{WORDS_FILE.name}' must be a non-empty JSON array of strings.")
    return tuple(words)


def load_word_list() -> list[str]:
    """The word list in ``assets/words.json`` (read once; a fresh list each call)."""
    return list(_word_pool())


def _name_shape(class_names: list[str]) -> _NameShape:
    """Size descriptors as the reference does: word statistics on the names with "_" read as
    " ", character groups on the raw names (names blank once "_" is a space are left out)."""
    raw = [name for name in class_names if name.replace("_", " ").strip()]
    if not raw:
        raise ClassListError("WaffleCLIP needs at least one non-empty class name.")
    spoken = [name.replace("_", " ").split(" ") for name in raw]
    words_per_descriptor = max(int(np.round(np.mean([len(words) for words in spoken]))), 1)
    word_length = max(int(np.round(np.mean([np.mean([len(w) for w in words]) for words in spoken]))), 1)
    char_groups = int(np.round(np.mean([name.count(" ") for name in raw]))) + 1
    longest = int(np.ceil(np.mean([max(len(w) for w in name.split(" ")) for name in raw])))
    padded = longest + char_groups - longest % char_groups
    return _NameShape(words_per_descriptor, word_length, char_groups, padded // char_groups)


@lru_cache(maxsize=32)
def _shared_descriptors(
    names: tuple[str, ...], n_words: int, n_chars: int, seed: int, words: tuple[str, ...], characters: str
) -> tuple[str, ...]:
    """The descriptors every class gets, drawn as in the module notes."""
    shape = _name_shape(list(names))
    cut = [word[: shape.word_length] for word in words]
    rng = np.random.RandomState(seed)
    word_buffer = np.arange(len(cut), dtype=np.int64)
    char_buffer = np.arange(len(characters), dtype=np.int64)
    chars_per_descriptor = shape.char_groups * shape.group_length
    pairs = max(n_words, n_chars)
    starts = []
    for _ in names:
        starts.append(rng.get_state())
        for index in range(pairs):
            for _ in range(shape.words_per_descriptor if index < n_words else 0):
                rng.shuffle(word_buffer)
            for _ in range(chars_per_descriptor if index < n_chars else 0):
                rng.shuffle(char_buffer)
    rng.set_state(starts[int(rng.choice(len(names)))])

    def pick(size: int) -> int:
        return int(rng.choice(size, 1, replace=False)[0])

    descriptors: list[str] = []
    for index in range(pairs):
        if index < n_words:
            descriptors.append(" ".join(cut[pick(len(cut))] for _ in range(shape.words_per_descriptor)))
        if index < n_chars:
            drawn = "".join(characters[pick(len(characters))] for _ in range(chars_per_descriptor))
            groups = [drawn[g : g + shape.group_length] for g in range(0, chars_per_descriptor, shape.group_length)]
            descriptors.append(GROUP_SEPARATOR.join(groups))
    return tuple(descriptors)


def waffle_descriptors(
    class_names: list[str],
    n_words: int = 15,
    n_chars: int = 15,
    seed: int = 0,
    words: list[str] | None = None,
    characters: str | None = None,
) -> list[str]:
    """The ``n_words`` random-word and ``n_chars`` random-character descriptors WaffleCLIP gives
    every class of ``class_names`` (raw names, in order) for ``seed``, interleaved word,
    characters, word, ...; the same inputs always give the same descriptors."""
    _check_counts(n_words, n_chars)
    _check_seed(seed)
    pool = _word_pool() if words is None else tuple(words)
    if not pool:
        raise StrategyError("WaffleCLIP's word list is empty.")
    chars = _character_pool(DEFAULT_CHARACTERS if characters is None else characters)
    names = tuple(name.strip() for name in class_names)
    return list(_shared_descriptors(names, n_words, n_chars, int(seed), pool, chars))


def waffle_class_prompts(class_names: list[str], options: WaffleOptions, seed: int) -> list[list[str]]:
    """WaffleCLIP prompts per class for one seed: the shared descriptors after each class's
    name ("_" read as " ", as the reference's ``wordify``)."""
    descriptors = waffle_descriptors(class_names, options.n_words, options.n_chars, seed, characters=options.characters)
    return [[waffle_prompt(spoken_name(name), phrase, options.concept) for phrase in descriptors] for name in class_names]
