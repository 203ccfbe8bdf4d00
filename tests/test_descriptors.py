"""DCLIP wording rules (ours and the reference's), endings, prompt shapes and cleaning of raw
LLM descriptor lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompting.classes import as_class_names
from prompting.strategies.classsets import get_class_set
from prompting.strategies.descriptors import (
    clean_descriptor,
    clean_descriptors,
    dclip_ending,
    dclip_prompt,
    descriptor_clause,
    reference_clause,
    waffle_prompt,
)

DATA = Path(__file__).parent / "data"


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
        # case-sensitive, as the reference (WaffleCLIP's cars file: "A low stance and long wheelbase")
        ("A red beak", "which has A red beak"),
        ("An oval shape", "which has An oval shape"),
        # verbs taking "which" directly
        ("has four legs", "which has four legs"),
        ("often found in trees", "which often found in trees"),
        ("typically brown", "which typically brown"),
        ("may have spots", "which may have spots"),
        ("can fly", "which can fly"),
        ("Has stripes", "which has Has stripes"),
        ("is red", "which is red"),
        # passive
        ("used for cutting", "which is used for cutting"),
        # default
        ("four legs", "which has four legs"),
        ("  long tail  ", "which has long tail"),
        # an empty list becomes [''] in DCLIP's code
        ("", "which has "),
    ],
)
def test_descriptor_clause_rules(phrase: str, clause: str) -> None:
    assert descriptor_clause(phrase) == clause


@pytest.mark.parametrize(
    ("descriptor", "reference", "ours"),
    [
        # first words from DCLIP's published files where the two rules part
        ("antennae", "which is antennae", "which has antennae"),  # imagenet, 9 times
        ("mayonnaise", "which mayonnaise", "which has mayonnaise"),  # food101
        ("candied fruit", "which candied fruit", "which has candied fruit"),  # food101
        ("aisles of books", "which is aisles of books", "which has aisles of books"),  # places365
        ("is struck with a mallet", "which has is struck with a mallet", "which is struck with a mallet"),
        # where they agree
        ("a long tail", "which is a long tail", "which is a long tail"),
        ("used for cutting", "which is used for cutting", "which is used for cutting"),
        ("has four legs", "which has four legs", "which has four legs"),
        ("A low stance", "which has A low stance", "which has A low stance"),
        ("", "which has ", "which has "),
    ],
)
def test_reference_rule_and_where_ours_differs(descriptor: str, reference: str, ours: str) -> None:
    assert reference_clause(descriptor) == reference
    assert descriptor_clause(descriptor) == ours


def test_dclip_ending_is_a_full_stop_for_imagenet_only() -> None:
    preset = get_class_set("imagenet1k").class_names()
    assert dclip_ending(preset) == "."
    keys = next(f["keys"] for f in json.loads((DATA / "published_keys.json").read_text(encoding="utf-8"))["files"]
                if f["name"] == "descriptors_imagenet.json")
    assert dclip_ending(as_class_names(keys)) == "."  # DCLIP's own names: eft, maillot, projectile, sunglass
    assert dclip_ending(preset[:999]) == ""
    assert dclip_ending(preset[:999] + as_class_names(["dragon fruit"])) == ""
    assert dclip_ending(get_class_set("food101").class_names()) == ""
    assert dclip_prompt("tench", "a freshwater fish", ".") == "tench, which is a freshwater fish."
    assert dclip_prompt("donuts", "") == "donuts, which has "


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
    assert descriptor_clause(clean_descriptor("It is A large bird") or "") == "which is A large bird"
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
