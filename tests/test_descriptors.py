"""DCLIP wording rules, prompt shapes and cleaning of raw LLM descriptor lines."""

from __future__ import annotations

import pytest

from prompting.strategies.descriptors import (
    clean_descriptor,
    clean_descriptors,
    dclip_prompt,
    descriptor_clause,
    waffle_prompt,
)


@pytest.mark.parametrize(
    ("phrase", "clause"),
    [
        # the reference's startswith('a') turned these into "which is ..."
        ("antennae", "which has antennae"),
        ("antlers", "which has antlers"),
        ("Antlers", "which has Antlers"),
        ("a-frame roof", "which has a-frame roof"),
        ("hasp on the lid", "which has hasp on the lid"),
        ("user manual", "which has user manual"),
        # articles
        ("an elongated body", "which is an elongated body"),
        ("a red beak", "which is a red beak"),
        ("A red beak", "which is A red beak"),
        ("An oval shape", "which is An oval shape"),
        # verbs taking "which" directly
        ("has four legs", "which has four legs"),
        ("often found in trees", "which often found in trees"),
        ("typically brown", "which typically brown"),
        ("may have spots", "which may have spots"),
        ("can fly", "which can fly"),
        ("Has stripes", "which Has stripes"),
        ("is red", "which is red"),
        # passive
        ("used for cutting", "which is used for cutting"),
        # default
        ("four legs", "which has four legs"),
        ("  long tail  ", "which has long tail"),
    ],
)
def test_descriptor_clause_rules(phrase: str, clause: str) -> None:
    assert descriptor_clause(phrase) == clause


def test_dclip_prompt_has_no_photo_primer() -> None:
    assert dclip_prompt("tiger", "a long tail") == "tiger, which is a long tail"
    assert dclip_prompt("tiger", "black stripes") == "tiger, which has black stripes"


def test_waffle_prompt_without_concept() -> None:
    assert waffle_prompt("tiger", "orange fur") == "A photo of a tiger, which has orange fur."
    assert waffle_prompt("tiger", "a big cat") == "A photo of a tiger, which is a big cat."


def test_waffle_prompt_with_concept() -> None:
    assert waffle_prompt("ramen", "gh2k, 9xq1", concept="food") == "A photo of a food: a ramen, which has gh2k, 9xq1."
    assert waffle_prompt("ramen", "broth", concept="  ") == "A photo of a ramen, which has broth."


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("- a red beak", "a red beak"),
        ("* long tail", "long tail"),
        ("• black stripes", "black stripes"),
        ("1. four legs", "four legs"),
        ("2) webbed feet", "webbed feet"),
        ("12. a curved bill", "a curved bill"),
        ('"a red beak"', "a red beak"),
        ("“pointed ears”", "pointed ears"),
        ("'short fur'.", "short fur"),
        ('- "white spots."', "white spots"),
        ("  a long   neck.  ", "a long neck"),
        ("2.5 metres tall", "2.5 metres tall"),
        ("It is a large bird.", "a large bird"),
        ("It's a small dog", "a small dog"),
        ("It’s used for cutting.", "used for cutting"),
        ("It is red", "is red"),
        ("They are usually brown.", "is usually brown"),
        ("It has four legs.", "has four legs"),
        ("They have webbed feet", "has webbed feet"),
        ("It has a long tail", "has a long tail"),
        ("Antlers", "Antlers"),
    ],
)
def test_clean_descriptor(raw: str, clean: str) -> None:
    assert clean_descriptor(raw) == clean


def test_cleaned_sentences_read_correctly() -> None:
    assert descriptor_clause(clean_descriptor("It is red") or "") == "which is red"
    assert descriptor_clause(clean_descriptor("It has a long tail") or "") == "which has a long tail"
    assert descriptor_clause(clean_descriptor("It is a large bird.") or "") == "which is a large bird"


@pytest.mark.parametrize("raw", ["", "   ", "-", "1.", "***", "12345", '""', "...", "x" * 201])
def test_clean_descriptor_rejects_garbage(raw: str) -> None:
    assert clean_descriptor(raw) is None


def test_clean_descriptor_keeps_200_chars() -> None:
    phrase = "a" + " b" * 99 + "c"
    assert len(phrase) == 200
    assert clean_descriptor(phrase) == phrase


def test_clean_descriptors_dedupes_in_order() -> None:
    raw = ["- a red beak", "long tail", "A red beak.", "", "2) long tail", "It has wings", "has wings", "42"]
    assert clean_descriptors(raw) == ["a red beak", "long tail", "has wings"]
