"""DCLIP descriptor wording: cleaning raw phrases and "{class}, which is/has {phrase}" prompts.

The wording follows ``make_descriptor_sentence`` of Menon & Vondrick's DCLIP release
(sachit-menon/classify_by_description_release), with two deliberate differences:

* Rules match the whole first word, case-insensitively. The reference tests string prefixes,
  so "antennae" became "which is antennae" and "hasp" "which hasp"; here they read
  "which has antennae" and "which has hasp".
* A phrase starting with "is" reads "which is ..." (the reference gave "which has is ..."), so
  that cleaned sentences such as "It is red" keep their meaning.
"""

from __future__ import annotations

import re
from typing import Iterable

MAX_DESCRIPTOR_CHARS = 200

ARTICLES = frozenset({"a", "an"})
DIRECT_VERBS = frozenset({"has", "is", "often", "typically", "may", "can"})
PASSIVE_STARTS = frozenset({"used"})

_BULLET = re.compile(r"^(?:[-*•·‣◦–—+>]+\s*|\(?\d{1,3}[.):]\s+)")
_QUOTES = "\"'`“”‘’«»"
_SUBJECT = r"(?:it|they|this|these)"
_IS_SENTENCE = re.compile(rf"^{_SUBJECT}(?:\s+(?:is|are)\s+|\s*['’](?:s|re)\s+)(?P<rest>.+)$", re.IGNORECASE)
_HAS_SENTENCE = re.compile(rf"^{_SUBJECT}\s+(?:has|have)\s+(?P<rest>.+)$", re.IGNORECASE)


def _first_word(phrase: str) -> str:
    """The phrase's first whitespace-separated word, lower-cased, without trailing punctuation."""
    words = phrase.split(maxsplit=1)
    return words[0].rstrip(",;:.!?").casefold() if words else ""


def descriptor_clause(phrase: str) -> str:
    """The "which ..." clause DCLIP appends to a class name, e.g. "which is a long tail"."""
    text = phrase.strip()
    first = _first_word(text)
    if first in ARTICLES or first in PASSIVE_STARTS:
        return f"which is {text}"
    if first in DIRECT_VERBS:
        return f"which {text}"
    return f"which has {text}"


def dclip_prompt(class_name: str, phrase: str) -> str:
    """DCLIP's default prompt: "{class}, which is/has {phrase}" (no "A photo of" primer)."""
    return f"{class_name}, {descriptor_clause(phrase)}"


def waffle_prompt(class_name: str, phrase: str, concept: str | None = None) -> str:
    """WaffleCLIP's prompt, "A photo of a {class}, which ... ."; a concept adds "{concept}: a "."""
    primer = f"A photo of a {concept.strip()}: a " if concept and concept.strip() else "A photo of a "
    return f"{primer}{class_name}, {descriptor_clause(phrase)}."


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
