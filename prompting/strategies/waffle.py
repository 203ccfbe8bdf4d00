"""WaffleCLIP: seeded random-word and random-character descriptors shared by every class.

Follows ``load_gpt_descriptions(mode='waffle')`` in ExplainableML/WaffleCLIP (waffle_tools.py),
computed from the class (prompt) names:

* a word descriptor is ``round(mean words per name)`` words (at least 1) drawn from
  ``assets/words.txt``, each cut to ``round(mean over names of the mean word length)`` letters;
* a character descriptor has ``round(mean spaces per name) + 1`` groups joined by ", " (the
  reference joins them with ", ", not a space). With ``c = ceil(mean over names of the longest
  word's length)``, the reference pads ``c`` up by ``groups - c % groups`` (a full ``groups``
  when already divisible) and gives each group ``c // groups`` characters; so does this module.

Deliberate differences: the reference draws characters from the characters of its GPT
descriptions file; here they come from lowercase ASCII letters and digits, so no descriptions are
needed. The reference draws per class and then copies one class's list to all; here one list is
drawn and shared, which is the same distribution. Words and characters are drawn with
replacement from ``numpy.random.default_rng(seed)`` (the reference seeds numpy's global state),
and the list interleaves word and character descriptors as the reference's pairs do.
Prompts use our DCLIP wording rule (``descriptors.descriptor_clause``), which matches whole
first words: the reference's ``startswith('a')`` says "which is" for random strings such as
"acetox bullba" (about 4% of descriptors), where we say "which has".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import mean

import numpy as np

from prompting.errors import ClassListError, StrategyError
from prompting.strategies.descriptors import waffle_prompt

WORDS_FILE = Path(__file__).resolve().parents[2] / "assets" / "words.txt"
CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
GROUP_SEPARATOR = ", "


@dataclass(frozen=True)
class WaffleOptions:
    """How many word and character descriptors to draw, for which seeds, with which concept."""

    n_words: int = 15
    n_chars: int = 15
    seeds: tuple[int, ...] = (0,)
    concept: str | None = None

    def __post_init__(self) -> None:
        _check_counts(self.n_words, self.n_chars)
        if not self.seeds:
            raise StrategyError("WaffleCLIP needs at least one seed.")
        for seed in self.seeds:
            _check_seed(seed)


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
    """Seeds are non-negative integers (numpy's requirement)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise StrategyError(f"WaffleCLIP seeds must be non-negative integers (got {seed!r}).")


@lru_cache(maxsize=1)
def _word_pool() -> tuple[str, ...]:
    """The packaged word list, read once."""
    try:
        text = WORDS_FILE.read_text(encoding="utf-8")
    except OSError as exc:
        raise StrategyError(f"WaffleCLIP's word list '{WORDS_FILE}' cannot be read: {exc.strerror or exc}.") from exc
    words = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not words:
        raise StrategyError(f"WaffleCLIP's word list '{WORDS_FILE}' is empty.")
    return words


def load_word_list() -> list[str]:
    """The English word list in ``assets/words.txt`` (read once; a fresh list each call)."""
    return list(_word_pool())


def _name_shape(class_names: list[str]) -> _NameShape:
    """Size descriptors like the reference: mean word count, word length and longest word."""
    split_names = [name.replace("_", " ").split() for name in class_names]
    split_names = [words for words in split_names if words]
    if not split_names:
        raise ClassListError("WaffleCLIP needs at least one non-empty class name.")
    words_per_descriptor = max(int(np.round(mean(len(words) for words in split_names))), 1)
    word_length = max(int(np.round(mean(mean(len(w) for w in words) for words in split_names))), 1)
    char_groups = int(np.round(mean(len(words) - 1 for words in split_names))) + 1
    longest = math.ceil(mean(max(len(w) for w in words) for words in split_names))
    padded = longest + char_groups - longest % char_groups
    return _NameShape(words_per_descriptor, word_length, char_groups, padded // char_groups)


def waffle_descriptors(
    class_names: list[str],
    n_words: int = 15,
    n_chars: int = 15,
    seed: int = 0,
    words: list[str] | None = None,
) -> list[str]:
    """Draw ``n_words`` random-word and ``n_chars`` random-character descriptors for a class list.

    The result interleaves the two kinds (word, characters, word, ...) and is the same for every
    class; the same names, counts, seed and word list always give the same descriptors.
    """
    _check_counts(n_words, n_chars)
    _check_seed(seed)
    pool = _word_pool() if words is None else tuple(w.strip() for w in words if w.strip())
    if not pool:
        raise StrategyError("WaffleCLIP's word list is empty.")
    shape = _name_shape(class_names)
    rng = np.random.default_rng(seed)
    word_picks = rng.integers(len(pool), size=(n_words, shape.words_per_descriptor))
    char_picks = rng.integers(len(CHARACTERS), size=(n_chars, shape.char_groups, shape.group_length))
    word_descriptors = [" ".join(pool[i][: shape.word_length] for i in row) for row in word_picks]
    char_descriptors = [
        GROUP_SEPARATOR.join("".join(CHARACTERS[i] for i in group) for group in row) for row in char_picks
    ]
    interleaved: list[str] = []
    for index in range(max(n_words, n_chars)):
        interleaved.extend(kind[index] for kind in (word_descriptors, char_descriptors) if index < len(kind))
    return interleaved


def waffle_class_prompts(class_names: list[str], options: WaffleOptions, seed: int) -> list[list[str]]:
    """WaffleCLIP prompts per class for one seed: the shared descriptors, each class's name."""
    descriptors = waffle_descriptors(class_names, options.n_words, options.n_chars, seed)
    return [[waffle_prompt(name, phrase, options.concept) for phrase in descriptors] for name in class_names]
