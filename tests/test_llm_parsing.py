"""Replies to sentences, descriptor phrases and concepts: JSON first, then bullets and lines."""

from __future__ import annotations

import pytest

from prompting.llm.parsing import (
    parse_concept,
    parse_descriptors,
    parse_json,
    parse_sentence,
    singularize,
)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"sentence": "A tench is a greenish freshwater fish."}', "A tench is a greenish freshwater fish."),
        ('```json\n{"sentence": "Pink gills"}\n```', "Pink gills."),
        ('{"caption": "A koi pond!"}', "A koi pond."),
        ("The axolotl has feathery gills. It lives in lakes.", "The axolotl has feathery gills."),
        ('Sure! Here is a caption:\n"A St. Bernard resting in the snow." It is big.', "A St. Bernard resting in the snow."),
        ("A fish with e.g. red eyes and a T. rex tail. More.", "A fish with e.g. red eyes and a T. rex tail."),
        ("The axolotl has feathery gills, a wide head and\nlidless eyes", "The axolotl has feathery gills, a wide head and lidless eyes."),
        ("- A small fish", "A small fish."),
        ("A caption of an image of a tench: a tench in a net", "A caption of an image of a tench: a tench in a net."),
        ("What is a tench?", None),
        ("I'm sorry, but I can't describe that.", None),
        ("...", None),
        ("", None),
        ('{"sentence": ""}', None),
    ],
)
def test_parse_sentence(reply: str, expected: str | None) -> None:
    assert parse_sentence(reply) == expected


def test_parse_json() -> None:
    assert parse_json('{"a": 1}') == {"a": 1}
    assert parse_json("```\n[1, 2]\n```") == [1, 2]
    assert parse_json("not json") is None
    assert parse_json('{"cut off": ') is None


DCLIP_REPLY = """There are several useful visual features to tell there is a tench in a photo:
- olive-green body
- red eyes.
- small scales

Q: What are useful features for distinguishing a goldfish in a photo?
A: There are several useful visual features to tell there is a goldfish in a photo:
- orange"""


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (DCLIP_REPLY, ["olive-green body", "red eyes", "small scales"]),
        ('{"features": ["long tail ", "large eyes."]}', ["long tail", "large eyes"]),
        ('["long tail", 3, "Long tail"]', ["long tail"]),
        ("1. long tail\n2) big ears", ["long tail", "big ears"]),
        ("A: There are several:\n* **red eyes**\n• slimy skin", ["red eyes", "slimy skin"]),
        ("Q: What are?\nA: There are several:\n- a beak\n- wings\nQ: next\n- fins", ["a beak", "wings"]),
        ("long tail\nlarge eyes", ["long tail", "large eyes"]),
        ("I'm sorry, I don't know that animal.", []),
        ("There are several useful visual features:", []),
        ("", []),
    ],
)
def test_parse_descriptors(reply: str, expected: list[str]) -> None:
    assert parse_descriptors(reply) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("They are all birds.", "bird"),
        ("A: They are all animals", "animal"),
        ('{"concept": "Dog breeds"}', "dog breed"),
        ('{"concept": "types of flowers"}', "type of flowers"),
        ("Edible fungi?", "edible fungi"),
        ("butterflies", "butterfly"),
        ("the foods", "food"),
        ("Nothing.", ""),
        ('{"concept": "nothing in common"}', ""),
        ("They are all types of aircraft models used in wars", None),
        ("", None),
    ],
)
def test_parse_concept(reply: str, expected: str | None) -> None:
    assert parse_concept(reply) == expected


@pytest.mark.parametrize(
    ("plural", "singular"),
    [
        ("birds", "bird"), ("butterflies", "butterfly"), ("boxes", "box"), ("glasses", "glass"),
        ("watches", "watch"), ("horses", "horse"), ("species", "species"), ("people", "person"),
        ("cactus", "cactus"), ("bus", "bus"), ("Aircraft", "Aircraft"), ("electronics", "electronics"),
    ],
)
def test_singularize(plural: str, singular: str) -> None:
    assert singularize(plural) == singular
