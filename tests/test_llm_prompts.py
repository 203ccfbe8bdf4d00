"""Prompt wording: CuPL questions with proper articles, the DCLIP few-shot prompt, the concept prompt."""

from __future__ import annotations

import pytest

from prompting.errors import StrategyError
from prompting.llm.prompts import (
    CUPL_IMAGENET_QUESTIONS,
    CUPL_QUESTION_SETS,
    article,
    concept_prompt,
    concept_sample,
    cupl_prompt,
    dclip_prompt,
    fill,
    parse_questions,
    validate_questions,
)

# generate_prompt("tench") of sachit-menon/classify_by_description_release, verbatim.
DCLIP_REFERENCE_TENCH = """Q: What are useful visual features for distinguishing a lemur in a photo?
A: There are several useful visual features to tell there is a lemur in a photo:
- four-limbed primate
- black, grey, white, brown, or red-brown
- wet and hairless nose with curved nostrils
- long tail
- large eyes
- furry bodies
- clawed hands and feet

Q: What are useful visual features for distinguishing a television in a photo?
A: There are several useful visual features to tell there is a television in a photo:
- electronic device
- black or grey
- a large, rectangular screen
- a stand or mount to support the screen
- one or more speakers
- a power cord
- input ports for connecting to other devices
- a remote control

Q: What are useful features for distinguishing a tench in a photo?
A: There are several useful visual features to tell there is a tench in a photo:
-
"""



@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tench", "a"), ("axolotl", "an"), ("eft", "an"), ("Egyptian Mau", "an"), ("iPod", "an"),
        ("hourglass", "an"), ("honest broker", "an"), ("heirloom tomato", "an"), ("hotel", "a"),
        ("unicorn", "a"), ("ukulele", "a"), ("European garden spider", "a"), ("ewe", "a"),
        ("one-piece bathing suit", "a"), ("umbrella", "an"), ("uninhabited island", "an"), ("urn", "an"),
        ("CD player", "a"), ("CRT monitor", "a"), ("MRI scanner", "an"), ("X-ray film", "an"),
        ("T-shirt", "a"), ("8-ball", "an"), ("18-wheeler", "an"), ("3D printer", "a"), ("", "a"),
    ],
)
def test_article(name: str, expected: str) -> None:
    assert article(name) == expected


def test_cupl_questions_match_the_reference_wording() -> None:
    # generate_image_prompts.py builds exactly these for a consonant-initial class.
    assert [fill(q, "tench") for q in CUPL_IMAGENET_QUESTIONS] == [
        "Describe what a tench looks like",
        "How can you identify a tench?",
        "What does a tench look like?",
        "Describe an image from the internet of a tench",
        "A caption of an image of a tench:",
    ]
    assert CUPL_QUESTION_SETS["imagenet"] == CUPL_IMAGENET_QUESTIONS


def test_fill_fixes_the_references_lowercase_vowel_bug_and_underscores() -> None:
    # The reference tests only 'AEIOU' and would write "a axolotl".
    assert fill("What does a(n) {} look like?", "axolotl") == "What does an axolotl look like?"
    assert fill("A photo of {}.", "great_white_shark") == "A photo of great white shark."


def test_cupl_prompt_messages() -> None:
    prompt = cupl_prompt("How can you identify a(n) {}?", "eel")
    assert prompt.messages[-1] == ("user", "How can you identify an eel?")
    assert prompt.messages[0][0] == "system" and "JSON" in prompt.messages[0][1]
    assert prompt.json_reply
    assert prompt.text != cupl_prompt("What does a(n) {} look like?", "eel").text


def test_dclip_prompt_reproduces_the_reference_text() -> None:
    prompt = dclip_prompt("tench")
    assert not prompt.json_reply
    roles = [role for role, _ in prompt.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    turns = [content for role, content in prompt.messages if role != "system"]
    # The reference is one text: each Q with its A, blank lines between, then the primed answer.
    examples = [f"{turns[i]}\n{turns[i + 1]}" for i in (0, 2)]
    primed = "A: There are several useful visual features to tell there is a tench in a photo:\n-\n"
    rebuilt = "\n\n".join(examples + [f"{turns[4]}\n{primed}"])
    assert rebuilt == DCLIP_REFERENCE_TENCH
    assert "There are several useful visual features to tell there is" in prompt.messages[0][1]


def test_dclip_prompt_uses_the_right_article() -> None:
    assert dclip_prompt("axolotl").messages[-1][1] == "Q: What are useful features for distinguishing an axolotl in a photo?"


def test_validate_and_parse_questions() -> None:
    assert parse_questions("# mine\nWhat colour is a(n) {}?\n\n  A photo of {}  \n") == (
        "What colour is a(n) {}?",
        "A photo of {}",
    )
    with pytest.raises(StrategyError, match="question 1 'no slot' must contain"):
        validate_questions(["no slot"])
    with pytest.raises(StrategyError, match="exactly once"):
        validate_questions(["{} and {}"])
    with pytest.raises(StrategyError, match="empty"):
        parse_questions("\n# only a comment\n")


def test_concept_sample_is_seeded_and_bounded() -> None:
    names = [f"class_{i}" for i in range(40)]
    sample = concept_sample(names)
    assert len(sample) == 25 and len(set(sample)) == 25
    assert sample == concept_sample(names) != concept_sample(names, seed=1)
    assert all("_" not in name for name in sample)
    assert sorted(concept_sample(["b", "a"])) == ["a", "b"]


def test_concept_prompt_wording() -> None:
    prompt = concept_prompt(["sparrow", "blue jay"])
    assert prompt.messages[-1] == (
        "user",
        "Q: Tell me in five words or less what sparrow, blue jay have in common. It may be nothing.",
    )
    assert "They are all" in prompt.messages[0][1]
    assert prompt.json_reply
