"""DCLIP descriptor wording: "{class}, which is/has {phrase}" prompts and cleaning LLM lines.

Two wording rules live here:

* ``reference_clause`` is ``make_descriptor_sentence`` of DCLIP's release
  (sachit-menon/classify_by_description_release ``loading_helpers.py``; WaffleCLIP's
  ``waffle_tools.py`` has the same): case-sensitive string prefixes, so "antennae" reads
  "which is antennae" and "mayonnaise" "which mayonnaise". WaffleCLIP's random descriptors use
  it, so their prompts equal the reference's character for character.
* ``descriptor_clause`` (DCLIP prompts) keeps the reference's cases and its case-sensitivity but
  tests the **whole first word**: "antennae" reads "which has antennae", "mayonnaise" "which has
  mayonnaise"; and a phrase starting with "is" reads "which is ..." where the reference wrote
  "which has is ...". On DCLIP's seven published files this words 90 of 10,183 descriptors
  differently (0.9%; FAITHFULNESS.md has the counts per file).

DCLIP prompts from a published file keep each descriptor's own wording (no cleaning, repeats
kept); ``clean_descriptors`` is for raw language-model replies only (``llm/parsing.py``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from prompting.classes import ClassName
from prompting.strategies.classsets import get_class_set
from prompting.strategies.matching import aliases, loose_key

MAX_DESCRIPTOR_CHARS = 200

ARTICLES = frozenset({"a", "an"})
DIRECT_VERBS = frozenset({"has", "is", "often", "typically", "may", "can"})
PASSIVE_STARTS = frozenset({"used"})
# DCLIP's load.py sets after_text = '.' for ImageNet only; every other data set ends with ''.
IMAGENET_ENDING = "."
IMAGENET_CLASSES = 1000

_BULLET = re.compile(r"^(?:[-*•·‣◦–—+>]+\s*|\(?\d{1,3}[.):]\s+)")
_QUOTES = "\"'`“”‘’«»"
_SUBJECT = r"(?:it|they|this|these)"
_IS_SENTENCE = re.compile(rf"^{_SUBJECT}(?:\s+(?:is|are)\s+|\s*['’](?:s|re)\s+)(?P<rest>.+)$", re.IGNORECASE)
_HAS_SENTENCE = re.compile(rf"^{_SUBJECT}\s+(?:has|have)\s+(?P<rest>.+)$", re.IGNORECASE)


def _first_word(phrase: str) -> str:
    """The phrase's first whitespace-separated word without trailing punctuation (case kept)."""
    words = phrase.split(maxsplit=1)
    return words[0].rstrip(",;:.!?") if words else ""


def reference_clause(descriptor: str) -> str:
    """DCLIP's ``make_descriptor_sentence``: "which is/has ..." chosen by string prefix, in the
    reference's order (its "an" test can never fire after "a")."""
    if descriptor.startswith(("a", "an")):
        return f"which is {descriptor}"
    if descriptor.startswith(("has", "often", "typically", "may", "can")):
        return f"which {descriptor}"
    if descriptor.startswith("used"):
        return f"which is {descriptor}"
    return f"which has {descriptor}"


def descriptor_clause(phrase: str) -> str:
    """The "which ..." clause of a DCLIP prompt, e.g. "which is a long tail" (whole first word,
    case-sensitive; see the module notes). An empty phrase gives "which has ", as in DCLIP."""
    text = phrase.strip()
    first = _first_word(text)
    if first in ARTICLES or first in PASSIVE_STARTS:
        return f"which is {text}"
    if first in DIRECT_VERBS:
        return f"which {text}"
    return f"which has {text}"


def dclip_prompt(class_name: str, phrase: str, ending: str = "") -> str:
    """DCLIP's prompt: "{class}, which is/has {phrase}{ending}" (no "A photo of" primer)."""
    return f"{class_name}, {descriptor_clause(phrase)}{ending}"


@lru_cache(maxsize=1)
def _imagenet_names() -> frozenset[str]:
    """Every name ImageNet-1k's classes go by: the preset's display and prompt names and the
    published aliases (DCLIP's "eft", "maillot", ...), compared loosely."""
    names = {n for c in get_class_set("imagenet1k").class_names() for n in (c.display, c.prompt)}
    return frozenset(loose_key(n) for name in names for n in (name, *aliases(name)))


def dclip_ending(classes: list[ClassName]) -> str:
    """DCLIP's sentence ending for a class list: "." for ImageNet-1k (1000 classes, each named
    as in the imagenet1k preset or DCLIP's file), "" otherwise, as ``load.py``'s after_text."""
    if len(classes) != IMAGENET_CLASSES:
        return ""
    known = _imagenet_names()
    is_imagenet = all(loose_key(c.prompt) in known or loose_key(c.display) in known for c in classes)
    return IMAGENET_ENDING if is_imagenet else ""


def waffle_prompt(class_name: str, phrase: str, concept: str | None = None) -> str:
    """WaffleCLIP's prompt, "A photo of a {class}, which ... ."; a concept adds "{concept}: a ".

    The clause is the reference's own (``reference_clause``), so prompts match WaffleCLIP's."""
    primer = f"A photo of a {concept.strip()}: a " if concept and concept.strip() else "A photo of a "
    return f"{primer}{class_name}, {reference_clause(phrase)}."


def _strip_decoration(text: str) -> str:
    """Remove bullets, numbering, surrounding quotes and trailing periods until none is left."""
    previous = None
    while text != previous:
        previous = text
        text = _BULLET.sub("", text.strip()).strip().strip(_QUOTES).strip().rstrip(".").strip()
    return text


def _bare_phrase(sentence: str) -> str:
    """Turn "It is X"/"It's X" into "X" or "is X", and "It has X"/"They have X" into "has X"."""
    is_match = _IS_SENTENCE.match(sentence)
    if is_match:
        rest = is_match.group("rest")
        return rest if _first_word(rest) in ARTICLES | PASSIVE_STARTS else f"is {rest}"
    has_match = _HAS_SENTENCE.match(sentence)
    if has_match:
        return f"has {has_match.group('rest')}"
    return sentence


def clean_descriptor(raw: str) -> str | None:
    """A usable descriptor phrase from one raw line of LLM output, or None for garbage.

    Strips bullets ("- ", "* ", "• ", "1. ", "2) "), surrounding quotes, whitespace and a
    trailing period; turns short sentences into phrases the clause rules word correctly. Returns
    None when nothing with a letter is left or the phrase is over 200 characters.
    """
    text = _strip_decoration(" ".join(raw.split()))
    text = _strip_decoration(_bare_phrase(text))
    if not text or len(text) > MAX_DESCRIPTOR_CHARS or not any(ch.isalpha() for ch in text):
        return None
    return text


def clean_descriptors(raw: Iterable[str]) -> list[str]:
    """Clean each phrase, drop garbage and repeats (case-insensitive), keeping first-seen order."""
    kept: dict[str, str] = {}
    for item in raw:
        phrase = clean_descriptor(item)
        if phrase is not None:
            kept.setdefault(phrase.casefold(), phrase)
    return list(kept.values())
