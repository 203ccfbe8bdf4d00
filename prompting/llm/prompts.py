"""The texts sent to the language model: CuPL questions, the DCLIP prompt, the concept prompt and
our FuDD-style prompt for differential descriptions of a class pair.

Each builder returns a ``Prompt``: chat messages (system + user, plus DCLIP's few-shot turns),
whether a JSON reply is requested and a token limit. ``Prompt.text`` is the exact wording and
is part of the cache key, so editing a question never reuses answers to the old one.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from prompting.classes import spoken_name
from prompting.errors import StrategyError

CLASS_SLOT = "{}"
ARTICLE_SLOT = "a(n) {}"

# CuPL (Pratt et al. 2023), generate_image_prompts.py: the five ImageNet questions.
CUPL_IMAGENET_QUESTIONS: tuple[str, ...] = (
    "Describe what a(n) {} looks like",
    "How can you identify a(n) {}?",
    "What does a(n) {} look like?",
    "Describe an image from the internet of a(n) {}",
    "A caption of an image of a(n) {}:",
)

# Named question sets; add per-dataset sets here (each question has one "{}" slot).
CUPL_QUESTION_SETS: dict[str, tuple[str, ...]] = {"imagenet": CUPL_IMAGENET_QUESTIONS}

CUPL_SYSTEM = (
    "Answer with one short sentence (at most 40 words) about the appearance of the thing named. "
    'Reply with a JSON object of the form {"sentence": "..."}.'
)
# The reference stops at the first "." with max_tokens=50; one JSON-wrapped sentence needs a
# little more room, and "St. Bernard"-style names must not end the answer early.
CUPL_MAX_TOKENS = 100

# DCLIP (Menon & Vondrick 2023), generate_descriptors.py: the few-shot prompt, split into chat turns.
DCLIP_EXAMPLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "lemur",
        (
            "four-limbed primate",
            "black, grey, white, brown, or red-brown",
            "wet and hairless nose with curved nostrils",
            "long tail",
            "large eyes",
            "furry bodies",
            "clawed hands and feet",
        ),
    ),
    (
        "television",
        (
            "electronic device",
            "black or grey",
            "a large, rectangular screen",
            "a stand or mount to support the screen",
            "one or more speakers",
            "a power cord",
            "input ports for connecting to other devices",
            "a remote control",
        ),
    ),
)
DCLIP_EXAMPLE_QUESTION = "Q: What are useful visual features for distinguishing a {} in a photo?"
# The reference asks the final question without "visual"; kept as published.
DCLIP_QUESTION = "Q: What are useful features for distinguishing a(n) {} in a photo?"
DCLIP_ANSWER_LEAD = "A: There are several useful visual features to tell there is a(n) {} in a photo:"
DCLIP_SYSTEM = (
    "Answer like the examples: the sentence 'There are several useful visual features to tell "
    "there is ... in a photo:' followed by short phrases, one per line, each starting with '- '."
)
DCLIP_MAX_TOKENS = 300  # reference: 100 completion tokens after the primed "-"

# WaffleCLIP (Roth et al. 2023), generate_concepts.py.
CONCEPT_QUESTION = "Q: Tell me in five words or less what {} have in common. It may be nothing."
CONCEPT_SYSTEM = (
    "Complete the answer 'A: They are all ...' in five words or fewer. "
    'Reply with a JSON object of the form {"concept": "..."}.'
)
CONCEPT_MAX_TOKENS = 60
CONCEPT_SAMPLE_SIZE = 25

# Letters whose spoken name starts with a vowel sound (for acronyms such as "an MRI", "a CD").
_VOWEL_SOUND_LETTERS = frozenset("aefhilmnorsx")
# Vowel-initial words read with a "y"/"w" sound, and silent-h words read with a vowel sound.
_CONSONANT_SOUND_PREFIXES = (
    "eu", "ewe", "one", "once", "uni", "use", "usu", "uti", "ute", "uto", "ura", "ure", "uri",
    "uro", "uku", "ubiq", "uga",
)
_NOT_CONSONANT_SOUND_PREFIXES = ("unim", "unin", "unid", "onei")
_SILENT_H_PREFIXES = ("hour", "honest", "honor", "honour", "heir")


@dataclass(frozen=True)
class Prompt:
    """One chat request: ``messages`` as (role, content) pairs, reply format and length."""

    messages: tuple[tuple[str, str], ...]
    json_reply: bool
    max_tokens: int

    @property
    def text(self) -> str:
        """The exact wording of every message, one string (used in cache keys)."""
        return json.dumps([list(m) for m in self.messages], ensure_ascii=False)

    def as_chat(self) -> list[dict[str, str]]:
        """Messages in the chat-completions shape."""
        return [{"role": role, "content": content} for role, content in self.messages]


def article(name: str) -> str:
    """``"a"`` or ``"an"`` for ``name`` by its first sound (vowels of either case, acronyms,
    "an hour", "a unicorn", "a European", "an 8-ball")."""
    word = re.split(r"[\s\-/]", name.strip(), maxsplit=1)[0] if name.strip() else ""
    if not word:
        return "a"
    if word[0].isdigit():
        return "an" if re.match(r"(8|11|18)(\D|$)", word) else "a"
    letters = re.sub(r"[^A-Za-z]", "", word)
    if not letters:
        return "a"
    if len(letters) == 1 or (len(letters) > 1 and letters.isupper()):
        return "an" if letters[0].lower() in _VOWEL_SOUND_LETTERS else "a"
    lower = letters.lower()
    if lower.startswith(_SILENT_H_PREFIXES):
        return "an"
    if lower.startswith(_CONSONANT_SOUND_PREFIXES) and not lower.startswith(_NOT_CONSONANT_SOUND_PREFIXES):
        return "a"
    return "an" if lower[0] in "aeiou" else "a"


def fill(question: str, name: str) -> str:
    """Put ``name`` into ``question``: ``a(n) {}`` gets the right article, ``{}`` the bare name."""
    name = spoken_name(name)
    return question.replace(ARTICLE_SLOT, f"{article(name)} {name}").replace(CLASS_SLOT, name)


def validate_questions(questions: Sequence[str]) -> tuple[str, ...]:
    """Trimmed, non-empty questions with exactly one ``{}`` slot each; raise StrategyError."""
    kept = tuple(q.strip() for q in questions if q.strip())
    if not kept:
        raise StrategyError("The CuPL question set is empty: give at least one question with '{}'.")
    for number, question in enumerate(kept, start=1):
        if question.count(CLASS_SLOT) != 1:
            raise StrategyError(
                f"CuPL question {number} '{question}' must contain '{{}}' exactly once "
                "where the class name goes (write 'a(n) {}' for an automatic article)."
            )
    return kept


def parse_questions(text: str) -> tuple[str, ...]:
    """Parse an edited question set written one question per line (blank and # lines skipped)."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("#")]
    return validate_questions(lines)


def cupl_prompt(question: str, name: str) -> Prompt:
    """The chat request for one CuPL question about one class."""
    return Prompt(
        messages=(("system", CUPL_SYSTEM), ("user", fill(question, name))),
        json_reply=True,
        max_tokens=CUPL_MAX_TOKENS,
    )


def dclip_prompt(name: str) -> Prompt:
    """The DCLIP few-shot request: the two worked examples as earlier turns, then the class."""
    messages: list[tuple[str, str]] = [("system", DCLIP_SYSTEM)]
    for example, features in DCLIP_EXAMPLES:
        answer = "\n".join([fill(DCLIP_ANSWER_LEAD, example)] + [f"- {f}" for f in features])
        messages += [("user", DCLIP_EXAMPLE_QUESTION.format(example)), ("assistant", answer)]
    messages.append(("user", fill(DCLIP_QUESTION, name)))
    return Prompt(messages=tuple(messages), json_reply=False, max_tokens=DCLIP_MAX_TOKENS)


def concept_sample(names: Sequence[str], size: int = CONCEPT_SAMPLE_SIZE, seed: int = 0) -> list[str]:
    """Up to ``size`` class names drawn without replacement by a seeded generator."""
    spoken = [spoken_name(n) for n in names]
    return random.Random(seed).sample(spoken, min(size, len(spoken)))


def concept_prompt(names: Sequence[str]) -> Prompt:
    """The WaffleCLIP question: what do these class names have in common?"""
    return Prompt(
        messages=(("system", CONCEPT_SYSTEM), ("user", CONCEPT_QUESTION.format(", ".join(names)))),
        json_reply=True,
        max_tokens=CONCEPT_MAX_TOKENS,
    )


# FuDD (Esfandiarpoor & Bach 2024): the authors' prompt is not published in their code, so this
# chat prompt is ours. It asks for the shape of their published descriptions: per pair, a few
# visual attributes, each with one caption per class ("a photo of a <class>, <detail>.").
FUDD_SYSTEM = (
    "You help an image classifier that matches photos with captions tell two similar classes apart. "
    "List the visual attributes that differ most between the two classes (for example shape, size, colour, "
    "pattern, texture, parts or typical setting). For each attribute write one short caption per class, "
    "starting 'a photo of a(n) <class name>,' and ending with how that class looks for this attribute, so "
    "the two captions differ exactly where the classes do. Give 3 to 5 attributes. Reply with JSON only: "
    '{"differences": [{"attribute": "...", "first": "caption for the first class", '
    '"second": "caption for the second class"}]}.'
)
FUDD_QUESTION = (
    "First class: {first}. Second class: {second}. "
    "What visual differences tell a photo of {first_article} {first} from a photo of {second_article} {second}?"
)
FUDD_EXAMPLE: tuple[tuple[str, str], tuple[tuple[str, str, str], ...]] = (
    ("cheetah", "leopard"),
    (
        ("coat pattern", "a photo of a cheetah, with small solid round black spots.",
         "a photo of a leopard, with clustered rosette-shaped spots."),
        ("face", "a photo of a cheetah, with black tear-like stripes from the eyes to the mouth.",
         "a photo of a leopard, with a plain spotted face and no tear stripes."),
        ("build", "a photo of a cheetah, with a slender body and long thin legs.",
         "a photo of a leopard, with a stocky muscular body and shorter legs."),
    ),
)
FUDD_MAX_TOKENS = 700
FUDD_MAX_DIFFERENCES = 8


def fudd_question(first: str, second: str) -> str:
    """The user turn for one pair (names as they go into prompts)."""
    first, second = spoken_name(first), spoken_name(second)
    return FUDD_QUESTION.format(first=first, second=second, first_article=article(first),
                                second_article=article(second))


def fudd_prompt(first: str, second: str) -> Prompt:
    """The FuDD-style request for one pair: our system prompt, one worked example, then the pair."""
    (example_first, example_second), rows = FUDD_EXAMPLE
    answer = json.dumps({"differences": [{"attribute": a, "first": f, "second": s} for a, f, s in rows]})
    return Prompt(
        messages=(
            ("system", FUDD_SYSTEM),
            ("user", fudd_question(example_first, example_second)),
            ("assistant", answer),
            ("user", fudd_question(first, second)),
        ),
        json_reply=True,
        max_tokens=FUDD_MAX_TOKENS,
    )
