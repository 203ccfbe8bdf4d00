"""Turn a model's reply into a CuPL sentence, DCLIP phrases, a WaffleCLIP concept or FuDD
differences.

Every parser tries JSON first (the reply asked for, possibly inside a ``` fence) and falls
back to the plain text: bullet lines for DCLIP, the first sentence for CuPL, the first line for
a concept. FuDD differences are read from JSON only (items missing a side are left out). A reply
that yields nothing usable gives ``None`` (or an empty list), so the caller
can ask again instead of keeping garbage.
"""

from __future__ import annotations

import json
import re
from typing import Any

from prompting.classes import spoken_name
from prompting.llm.prompts import article
from prompting.strategies.descriptors import clean_descriptors

_FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.DOTALL)
_BULLET_LINE = re.compile(r"^\s*(?:[-*•·‣◦–—+]|\(?\d{1,3}[.):])\s*\S")
_PREAMBLE = re.compile(
    r"^(?:sure|certainly|of course|okay|ok)\b[!,.]*\s*|^here(?:'s| is| are)\b[^:]*:\s*", re.IGNORECASE
)
_REFUSAL = re.compile(r"^(?:i'm sorry|i am sorry|sorry,|as an ai|i cannot|i can't|i can not)\b", re.IGNORECASE)
_QUOTES = "\"'`“”‘’«»*"
_SENTENCE_END = re.compile(r"[.!?]+(?=[\s\"'”’)]|$)")
# Words after which a period does not end a sentence ("St. Bernard", "e.g. a dog").
_ABBREVIATIONS = frozenset(
    {"st", "mr", "mrs", "ms", "dr", "jr", "sr", "vs", "e.g", "i.e", "no", "approx", "ca", "mt", "ft"}
)
_ANSWER_LEADS = re.compile(
    r"^(?:a:\s*)?(?:they\s+are\s+all|they're\s+all|they\s+all\s+are|all\s+are|all\s+of\s+them\s+are)\s+"
)
_LEADING_ARTICLE = re.compile(r"^(?:a|an|the)\s+")
_NOTHING = frozenset({"nothing", "none", "nothing in common", "no common", "not related", "unrelated", "n/a"})
_IRREGULAR_PLURALS = {
    "people": "person", "children": "child", "men": "man", "women": "woman", "mice": "mouse",
    "geese": "goose", "feet": "foot", "teeth": "tooth", "species": "species", "series": "series",
}
MAX_CONCEPT_WORDS = 5

# Preferred keys of a JSON reply, per kind; otherwise the first string (or list of strings) wins.
_SENTENCE_KEYS = ("sentence", "caption", "description", "answer")
_PHRASE_KEYS = ("features", "descriptors", "descriptions", "phrases")
_CONCEPT_KEYS = ("concept", "answer", "common")


def parse_json(text: str) -> Any | None:
    """The JSON value in ``text`` (bare or in a ``` fence), or None if it is not JSON."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    if not stripped.startswith(("{", "[", '"')):
        return None
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        return None


def _json_strings(value: Any, keys: tuple[str, ...]) -> list[str] | None:
    """Strings from a JSON reply: a string, a list of strings, or an object holding one."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    if isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        ordered = [lowered[k] for k in keys if k in lowered] + list(value.values())
        for candidate in ordered:
            if isinstance(candidate, (str, list)):
                found = _json_strings(candidate, keys)
                if found:
                    return found
    return None


def _candidates(text: str, keys: tuple[str, ...]) -> list[str]:
    """The JSON strings of the reply if it is JSON holding some, else the reply itself."""
    payload = parse_json(text)
    found = _json_strings(payload, keys) if payload is not None else None
    return found if found else [text]


def _first_sentence(text: str) -> str:
    """The text up to the first sentence end that is not an abbreviation's period."""
    for match in _SENTENCE_END.finditer(text):
        before = text[: match.start()].split()
        word = before[-1].strip(_QUOTES + "(").lower() if before else ""
        rest = text[match.end():].lstrip(_QUOTES + " )")
        if match.group() == "." and (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())):
            continue
        if rest[:1].islower():
            continue
        return text[: match.end()]
    return text


def clean_sentence(raw: str) -> str | None:
    """One sentence ending in a period, or None (empty, a question, a refusal, no letters)."""
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    while len(lines) > 1 and lines[0].endswith(":"):
        lines.pop(0)
    text = " ".join(lines)
    text = _PREAMBLE.sub("", text).strip()
    text = re.sub(r"^(?:[-*•]|\d{1,3}[.)])\s+", "", text).strip().strip(_QUOTES).strip()
    if not text or _REFUSAL.match(text):
        return None
    sentence = _first_sentence(text).strip().strip(_QUOTES).strip()
    if sentence.endswith("?") or not any(ch.isalpha() for ch in sentence):
        return None
    return sentence.rstrip(".!:;, ").strip() + "."


def parse_sentence(text: str) -> str | None:
    """A CuPL answer: the first usable sentence of the reply (JSON ``sentence`` first)."""
    for candidate in _candidates(text, _SENTENCE_KEYS):
        sentence = clean_sentence(candidate)
        if sentence:
            return sentence
    return None


def _phrase_lines(text: str) -> list[str]:
    """Bullet lines of the first answer in a DCLIP-style reply (a model may go on with a new
    "Q:"); without bullets, two or more plain lines that are not a lead-in ending in ":" or a
    question. A single plain line (a refusal, a remark) is not a list of features."""
    segments = [s for s in re.split(r"(?m)^\s*Q:", text) if s.strip()] or [""]
    for segment in segments:
        lines = [line.replace("**", "").strip() for line in segment.splitlines() if line.strip()]
        bullets = [line for line in lines if _BULLET_LINE.match(line)]
        if bullets:
            return bullets
    lines = [line.strip() for line in segments[0].splitlines() if line.strip()]
    kept = [line for line in lines if not line.endswith((":", "?"))]
    if len(kept) < 2 or _REFUSAL.match(kept[0]):
        return []
    return kept


def parse_descriptors(text: str) -> list[str]:
    """DCLIP descriptor phrases from a JSON list or bullet lines, cleaned; [] if none."""
    payload = parse_json(text)
    found = _json_strings(payload, _PHRASE_KEYS) if payload is not None else None
    return clean_descriptors(found if found else _phrase_lines(text))


def singularize(word: str) -> str:
    """A simple English singular: irregulars, -ies, -sses, -xes/-ches/-shes, else drop one -s."""
    lower = word.lower()
    if lower in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[lower]
    if len(lower) <= 3 or lower.endswith(("ss", "us", "is", "ics")):
        return word
    if lower.endswith("ies"):
        return word[:-3] + "y"
    if lower.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    return word[:-1] if lower.endswith("s") else word


def clean_concept(raw: str) -> str | None:
    """Lowercase, no punctuation, no "They are all", singular, at most five words.

    ``""`` means the model answered that the classes have nothing in common; None means the
    reply is unusable (empty or longer than five words).
    """
    first = next((line for line in raw.splitlines() if line.strip()), "")
    text = re.sub(r"[.?!\"“”*`]", "", first.lower()).strip().strip("'").strip()
    text = _LEADING_ARTICLE.sub("", _ANSWER_LEADS.sub("", text)).strip()
    text = " ".join(text.split())
    if text in _NOTHING or text.startswith("nothing"):
        return ""
    words = text.split()
    if not words or len(words) > MAX_CONCEPT_WORDS or not any(ch.isalpha() for ch in text):
        return None
    if "of" in words[1:]:
        head = words.index("of", 1) - 1
        words[head] = singularize(words[head])
    else:
        words[-1] = singularize(words[-1])
    return " ".join(words)


def parse_concept(text: str) -> str | None:
    """A WaffleCLIP concept from the reply (JSON ``concept`` first); see ``clean_concept``."""
    for candidate in _candidates(text, _CONCEPT_KEYS):
        concept = clean_concept(candidate)
        if concept is not None:
            return concept
    return None


# FuDD replies: {"differences": [{"attribute", "first", "second"}]}; also accepted: a bare list,
# captions under the class names, or the authors' "attr_type" / "prompt_pair" keys.
_ATTRIBUTE_KEYS = ("attribute", "attr_type", "feature", "aspect")
_FIRST_KEYS = ("first", "class_a", "a")
_SECOND_KEYS = ("second", "class_b", "b")
_CAPTION_LEADS = re.compile(r"^(?:a|an)\s+(?:photo|photograph|picture|image|close-up)\b", re.IGNORECASE)
MAX_CAPTION_CHARS = 300


def _items(payload: Any) -> list[Any]:
    """The list of difference items in a JSON reply (a list, or the first list inside an object)."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        lists = [v for k, v in payload.items() if isinstance(v, list) and str(k).lower() == "differences"]
        lists += [v for v in payload.values() if isinstance(v, list)]
        return lists[0] if lists else []
    return []


def _pick(item: dict[str, Any], keys: tuple[str, ...]) -> Any:
    lowered = {str(k).lower(): v for k, v in item.items()}
    return next((lowered[k] for k in keys if k in lowered), None)


def clean_caption(raw: Any, name: str) -> str | None:
    """One caption for class ``name``: whitespace collapsed, quotes and bullets gone, ending in a
    period; a bare detail ("with rounded ears") is put after "a photo of a(n) <name>,". None when
    it is empty, has no letters, or is longer than MAX_CAPTION_CHARS."""
    if not isinstance(raw, str):
        return None
    text = re.sub(r"^(?:[-*•]|\d{1,3}[.)])\s+", "", " ".join(raw.split())).strip().strip(_QUOTES).strip()
    text = text.rstrip(".!;:, ").strip()
    if not text or not any(ch.isalpha() for ch in text) or len(text) > MAX_CAPTION_CHARS:
        return None
    spoken = spoken_name(name)
    if spoken.casefold() not in text.casefold() and not _CAPTION_LEADS.match(text):
        text = f"a photo of {article(spoken)} {spoken}, {text[0].lower()}{text[1:]}"
    return text + "."


def parse_differences(text: str, first: str, second: str, limit: int = 8) -> list[tuple[str, str, str]]:
    """(attribute, caption of ``first``, caption of ``second``) from a FuDD reply; items missing a
    side, or whose two captions are the same, are left out; at most ``limit``, no repeats."""
    payload = parse_json(text)
    found: dict[tuple[str, str, str], None] = {}
    names = {spoken_name(n).casefold(): side for side, n in enumerate((first, second))}
    for item in _items(payload):
        if not isinstance(item, dict):
            continue
        sides = [_pick(item, _FIRST_KEYS), _pick(item, _SECOND_KEYS)]
        pair = item.get("prompt_pair")
        if isinstance(pair, list) and len(pair) == 2:
            sides = list(pair)
        for key, value in item.items():
            side = names.get(spoken_name(str(key)).casefold())
            if side is not None:
                sides[side] = value
        captions = clean_caption(sides[0], first), clean_caption(sides[1], second)
        if captions[0] is None or captions[1] is None or captions[0].casefold() == captions[1].casefold():
            continue
        attribute = _pick(item, _ATTRIBUTE_KEYS)
        attribute = " ".join(attribute.split()) if isinstance(attribute, str) else ""
        found[(attribute, captions[0], captions[1])] = None
        if len(found) == limit:
            break
    return list(found)
