"""Matching description keys to classes: tiers, shared keys, aliases, forgiving normalisation,
reports, and every preset against the keys of every published file for its data set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompting.classes import ClassName, as_class_names
from prompting.strategies.classsets import get_class_set
from prompting.strategies.matching import aliases, loose_key, match_descriptions

DATA = Path(__file__).parent / "data"
PUBLISHED = json.loads((DATA / "published_keys.json").read_text(encoding="utf-8"))["files"]

# What matching reports for each published file with a preset (anything not listed: every class
# matched its own key by prompt name, no key unused).
ALIAS = {
    "descriptors_imagenet.json": {"newt": "eft", "tights": "maillot"},
    "descriptors_flowers102.json": {"pink and yellow dahlia": "pink-yellow dahlia", "lotus": "lotus lotus",
                                    "air plant": "ball moss"},
}
NORMALISED = {
    "descriptors_flowers102.json": {"globe flower": "globe-flower"},
    "cars_prompts_base.json": {"Ram C/V Cargo Van Minivan 2012": "Ram CV Cargo Van Minivan 2012"},
    "cars_prompts_full.json": {"Ram C/V Cargo Van Minivan 2012": "Ram CV Cargo Van Minivan 2012"},
}
CASE_ONLY = {"pet_prompts_base.json": 25, "pets_prompts_full.json": 25, "descriptors_pets.json": 25}
CUPL_IMAGENET_SHARED = {"missile": ["missile", "projectile"], "sunglasses": ["sunglass", "sunglasses"]}
SHARED = {"imagenet_prompts_base.json": CUPL_IMAGENET_SHARED, "imagenet_prompts_full.json": CUPL_IMAGENET_SHARED}
# ImageNet classes whose display name is the key: both classes of OpenAI's duplicated names in
# DCLIP's file, and the first of each pair in CuPL's (the second shares it).
BY_DISPLAY = {"descriptors_imagenet.json": 4, "imagenet_prompts_base.json": 2, "imagenet_prompts_full.json": 2}


def _fake_file(entry: dict) -> dict[str, list[str]]:
    """A file with the published keys in order; an empty list where the published one is empty."""
    return {key: ([] if key in entry["empty"] else [f"about {key}"]) for key in entry["keys"]}


def _with_presets() -> list[dict]:
    files = [f for f in PUBLISHED if f["preset"]]
    base = next(f for f in files if f["name"] == "imagenet_prompts_base.json")
    # CuPL's full ImageNet file (>= 4 MiB) could not be fetched; classify_imagenet.py looks its
    # prompts up with the same 1000 names as the base file's, so its keys are the base file's.
    return files + [dict(base, name="imagenet_prompts_full.json (keys as the base file's)")]


@pytest.mark.parametrize("entry", _with_presets(), ids=lambda e: f"{e['preset']}-{e['name']}")
def test_every_preset_matches_every_published_file_for_all_classes(entry: dict) -> None:
    classes = get_class_set(entry["preset"]).class_names()
    name = entry["name"].split(" ")[0]
    match = match_descriptions(classes, _fake_file(entry))
    assert match.missing == [] and match.extra == []
    assert {m.display: m.key for m in match.inexact if m.kind == "alias"} == ALIAS.get(name, {})
    assert {m.display: m.key for m in match.inexact if m.kind == "normalised" and not m.case_only} == NORMALISED.get(
        name, {})
    assert sum(m.case_only for m in match.inexact) == CASE_ONLY.get(name, 0)
    assert match.shared_keys == SHARED.get(name, {})
    assert match.empty == entry["empty"]
    counts = match.counts()
    assert counts["display"] == BY_DISPLAY.get(name, 0)
    assert counts["prompt"] + counts["display"] + counts["alias"] + counts["normalised"] == len(classes)
    # every class gets its own key's entries (or the shared key's)
    assert all(items == ([] if m.key in entry["empty"] else [f"about {m.key}"])
               for m, items in zip(match.classes, match.per_class))


def test_imagenet_duplicate_names_follow_each_published_list() -> None:
    classes = get_class_set("imagenet1k").class_names()
    index = {c.display: i for i, c in enumerate(classes)}
    files = {f["name"]: _fake_file(f) for f in PUBLISHED}
    dclip = match_descriptions(classes, files["descriptors_imagenet.json"])
    cupl = match_descriptions(classes, files["imagenet_prompts_base.json"])
    for display, dclip_key, cupl_key in [("missile", "missile", "missile"), ("projectile", "projectile", "missile"),
                                         ("sunglass", "sunglass", "sunglasses"),
                                         ("sunglasses", "sunglasses", "sunglasses"), ("newt", "eft", "newt")]:
        assert dclip.classes[index[display]].key == dclip_key
        assert cupl.classes[index[display]].key == cupl_key
    assert cupl.per_class[index["projectile"]] == cupl.per_class[index["missile"]] == ["about missile"]
    assert cupl.classes[index["projectile"]].shared_with == ("missile",)


def test_prompt_name_first_then_display_name() -> None:
    classes = [ClassName("crane bird", "crane"), ClassName("heron", "grey heron")]
    match = match_descriptions(classes, {"crane bird": ["long legs"], "crane": ["a bird"], "heron": ["grey"]})
    assert [(m.key, m.kind) for m in match.classes] == [("crane", "prompt"), ("heron", "display")]
    assert match.extra == ["crane bird"]
    assert match.summary() == "Descriptions for 2 of 2 classes (2 by exact name); 1 entries match no class: crane bird."


def test_classes_asking_for_one_key_in_one_tier_try_their_next_names_first() -> None:
    # DCLIP-shaped: each class has a key of its own
    classes = as_class_names(["missile", "projectile | missile", "sunglass | sunglasses", "sunglasses"])
    own = match_descriptions(classes, {"missile": ["m"], "projectile": ["p"], "sunglass": ["s"], "sunglasses": ["ss"]})
    assert own.per_class == [["m"], ["p"], ["s"], ["ss"]] and own.shared_keys == {}
    assert own.notes() == []
    # CuPL-shaped: one key per name; both classes of a pair share it
    shared = match_descriptions(classes, {"missile": ["m"], "sunglasses": ["ss"]})
    assert shared.per_class == [["m"], ["m"], ["ss"], ["ss"]]
    assert shared.shared_keys == {"missile": ["missile", "projectile"], "sunglasses": ["sunglass", "sunglasses"]}
    assert shared.notes() == ["2 keys serve several classes, which get the same entries: 'missile' (missile, "
                              "projectile), 'sunglasses' (sunglass, sunglasses)"]


@pytest.mark.parametrize(
    ("class_line", "key"),
    [
        ("Ram C/V Cargo Van Minivan 2012", "Ram CV Cargo Van Minivan 2012"),
        ("globe flower", "globe-flower"),
        ("great white shark", "great_white_shark"),
        ("crème brûlée", "creme brulee"),
        ("jack-o'-lantern", "Jack O Lantern"),
        ("Bazaar (indoor)", "bazaar-indoor"),
        ("American Bulldog", "american bulldog"),
        ("  Great   Dane ", "great dane"),
    ],
)
def test_forgiving_normalisation_is_reported(class_line: str, key: str) -> None:
    match = match_descriptions(as_class_names([class_line]), {key: ["x"]})
    (found,) = match.classes
    assert (found.key, found.kind) == (key, "normalised")
    assert match.inexact == [found]
    assert match.as_dict()["inexact"] == [{"class": class_line.strip(), "key": key, "how": "normalised",
                                          "shared_with": []}]
    assert key in match.summary()


def test_aliases_work_both_ways_and_loosely() -> None:
    assert aliases("Newt") == ("eft",) and aliases("eft") == ("newt",) and aliases("tench") == ()
    match = match_descriptions(as_class_names(["Eft", "maillot"]), {"newt": ["n"], "Tights": ["t"]})
    assert [(m.key, m.kind) for m in match.classes] == [("newt", "alias"), ("Tights", "alias")]
    assert match.notes() == ["2 matched by another published name: Eft → 'newt', maillot → 'Tights'"]


def test_exact_names_win_over_loose_ones_and_the_rest_is_reported() -> None:
    match = match_descriptions([ClassName.plain("great white shark")],
                               {"great_white_shark": ["a"], "Great White Shark": ["b"]})
    assert match.per_class == [["a"]]
    assert match.extra == ["Great White Shark"]
    exact = match_descriptions([ClassName.plain("Great White Shark")], {"great_white_shark": ["a"],
                                                                        "Great White Shark": ["b"]})
    assert exact.per_class == [["b"]] and exact.classes[0].kind == "prompt"


def test_report_of_empty_missing_and_unused() -> None:
    classes = as_class_names(["donuts", "mussels", "tiramisu", "Apple Pie"])
    match = match_descriptions(classes, {"donuts": [], "mussels": [], "apple pie": ["a pie dish"], "pho": ["soup"]})
    assert match.missing == ["tiramisu"] and match.empty == ["donuts", "mussels"] and match.extra == ["pho"]
    assert match.counts() == {"prompt": 2, "display": 0, "alias": 0, "normalised": 1, "missing": 1, "empty": 2}
    assert match.summary() == (
        "Descriptions for 3 of 4 classes (2 by exact name); 1 matched ignoring case only: Apple Pie → 'apple pie'; "
        "2 have an empty or blank list: donuts, mussels; 1 have no entry: tiramisu; 1 entries match no class: pho."
    )
    assert match.as_dict() == {
        "classes": 4,
        "counts": match.counts(),
        "inexact": [{"class": "Apple Pie", "key": "apple pie", "how": "normalised", "shared_with": []}],
        "shared_keys": {},
        "empty": ["donuts", "mussels"],
        "missing": ["tiramisu"],
        "unused_keys": ["pho"],
    }


def test_long_lists_are_shortened_in_notes() -> None:
    names = [f"Class {i}" for i in range(12)]
    match = match_descriptions(as_class_names(names), {name.lower(): ["x"] for name in names})
    assert match.notes() == ["12 matched ignoring case only: " + ", ".join(
        f"Class {i} → 'class {i}'" for i in range(8)) + " and 4 more"]


def test_loose_key() -> None:
    assert loose_key("Ram C/V  Cargo-Van_2012!") == loose_key("ram cv cargovan 2012") == "ramcvcargovan2012"
    assert loose_key("Crème Brûlée") == "cremebrulee"
