"""Each strategy's prompts and aggregation rule, checked exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompting.classes import ClassName, as_class_names, spoken_name
from prompting.errors import DescriptionsError, StrategyError
from prompting.strategies.classsets import get_class_set
from prompting.strategies.descriptions import load_descriptions
from prompting.strategies.registry import STRATEGIES, StrategySpec, build_prompts, get_strategy, list_strategies
from prompting.strategies.templates import IMAGENET_TEMPLATES, IMAGENET_TEMPLATES_7
from prompting.strategies.waffle import WaffleOptions

CLASSES = [ClassName("crane", "crane bird"), ClassName.plain("heron")]
DATA = Path(__file__).parent / "data"


def test_registry_lists_every_strategy_with_its_aggregation() -> None:
    assert list_strategies() == ["classname", "template", "ensemble80", "ensemble7", "cupl", "dclip", "waffle", "zpe",
                                 "autoclip", "selected", "fudd"]
    rules = {name: STRATEGIES[name].aggregation for name in list_strategies()}
    assert rules["dclip"] == rules["waffle"] == "mean_score"
    assert {rules[n] for n in ("classname", "template", "ensemble80", "ensemble7", "cupl", "selected")} == {
        "mean_embedding"}
    assert (rules["zpe"], rules["autoclip"], rules["fudd"]) == ("zpe", "autoclip", "fudd")
    with pytest.raises(StrategyError, match="Unknown strategy 'nope'.*classname"):
        get_strategy("nope")


def test_classname_and_ensembles_use_the_prompt_name() -> None:
    assert build_prompts(StrategySpec("classname"), CLASSES).prompts == [["crane bird"], ["heron"]]
    ensemble = build_prompts(StrategySpec("ensemble80"), CLASSES).prompts
    assert len(ensemble[0]) == 80 and ensemble[0][0] == "a bad photo of a crane bird."
    assert ensemble[1] == [t.replace("{}", "heron") for t in IMAGENET_TEMPLATES]
    seven = build_prompts(StrategySpec("ensemble7"), CLASSES).prompts
    assert seven[0] == [t.replace("{}", "crane bird") for t in IMAGENET_TEMPLATES_7] and len(seven[0]) == 7


def test_template_strategy_defaults_and_validates() -> None:
    assert build_prompts(StrategySpec("template"), CLASSES).prompts[1] == ["a photo of a heron."]
    plan = build_prompts(StrategySpec("template", templates=["itap of a {}.", "{} in the wild"]), CLASSES)
    assert plan.prompts[0] == ["itap of a crane bird.", "crane bird in the wild"]
    with pytest.raises(StrategyError, match="exactly one"):
        build_prompts(StrategySpec("template", templates=["no placeholder"]), CLASSES)


def test_cupl_matches_classes_by_name_and_reports_missing() -> None:
    data = {"Crane": ["A crane is a tall bird.", "A crane is a tall bird."], "heron": ["A grey heron."], "owl": ["x"]}
    plan = build_prompts(StrategySpec("cupl", descriptions=data), CLASSES)
    # repeats are kept: they weight the class mean, as in CuPL's reference code
    assert plan.prompts == [["A crane is a tall bird.", "A crane is a tall bird."], ["A grey heron."]]
    assert plan.aggregation == "mean_embedding"
    assert plan.notes == ["1 matched ignoring case only: crane → 'Crane'", "1 entries match no class: owl"]
    with pytest.raises(DescriptionsError, match="heron"):
        build_prompts(StrategySpec("cupl", descriptions={"crane": ["a"]}), CLASSES)
    with pytest.raises(StrategyError, match="needs descriptions"):
        build_prompts(StrategySpec("cupl"), CLASSES)


def test_dclip_prompts_follow_the_rule_and_keep_the_files_wording() -> None:
    # an imported file is used as written: no cleaning, repeats kept (they weight the mean),
    # a trailing period kept; LLM replies are cleaned when they are parsed (llm/parsing.py)
    data = {"crane": ["- a long neck", "has grey feathers", "antennae", "a long neck.", "has grey feathers"],
            "heron": ["long legs"]}
    plan = build_prompts(StrategySpec("dclip", descriptions=data), CLASSES)
    assert plan.aggregation == "mean_score"
    assert plan.prompts[0] == [
        "crane bird, which has - a long neck",
        "crane bird, which has grey feathers",
        "crane bird, which has antennae",
        "crane bird, which is a long neck.",
        "crane bird, which has grey feathers",
    ]
    assert plan.prompts[1] == ["heron, which has long legs"]
    assert plan.notes == []


# DCLIP's descriptors_*.json format (one line), written for this test: an empty list (Food-101
# has five), a hyphenated key (Places365's "bazaar-indoor", whose list repeats descriptors) and
# a key spelt differently from the class list ("Ram CV" vs "Ram C/V").
DCLIP_EXCERPT = (
    '{"donuts": [], "bazaar-indoor": ["market stalls", "hanging lanterns", "market stalls", "crowds of people."], '
    '"Ram CV Cargo Van Minivan 2012": ["boxy shape", "sliding side door"]}'
)


def test_dclip_published_shapes_empty_lists_repeats_and_fuzzy_keys() -> None:
    classes = as_class_names(["donuts", "bazaar indoor", "Ram C/V Cargo Van Minivan 2012"])
    plan = build_prompts(StrategySpec("dclip", descriptions=load_descriptions(DCLIP_EXCERPT)), classes)
    assert plan.prompts == [
        ["donuts, which has "],
        ["bazaar indoor, which has market stalls", "bazaar indoor, which has hanging lanterns",
         "bazaar indoor, which has market stalls", "bazaar indoor, which has crowds of people."],
        ["Ram C/V Cargo Van Minivan 2012, which has boxy shape",
         "Ram C/V Cargo Van Minivan 2012, which has sliding side door"],
    ]
    assert plan.notes == [
        "2 matched ignoring case, spaces or punctuation: bazaar indoor → 'bazaar-indoor', "
        "Ram C/V Cargo Van Minivan 2012 → 'Ram CV Cargo Van Minivan 2012'",
        "1 have an empty or blank list: donuts",
        "1 classes have no descriptors and are scored with the one prompt '{class}, which has ', as DCLIP's code "
        "does: donuts",
    ]


def test_dclip_prompts_end_with_a_full_stop_for_imagenet() -> None:
    classes = get_class_set("imagenet1k").class_names()
    keys = next(f["keys"] for f in json.loads((DATA / "published_keys.json").read_text(encoding="utf-8"))["files"]
                if f["name"] == "descriptors_imagenet.json")
    plan = build_prompts(StrategySpec("dclip", descriptions={key: ["a long tail"] for key in keys}), classes)
    assert all(p == [f"{spoken_name(c.prompt)}, which is a long tail."] for c, p in zip(classes, plan.prompts))
    assert plan.notes == ["2 matched by another published name: newt → 'eft', tights → 'maillot'"]
    small = build_prompts(StrategySpec("dclip", descriptions={"tench": ["a fish"]}), as_class_names(["tench"]))
    assert small.prompts == [["tench, which is a fish"]]


# CuPL's all_prompts/*.json format (indent 4, leading spaces and newlines kept), written for this
# test: OpenAI's ImageNet list names classes 657 and 744 "missile", so CuPL's file has one key.
CUPL_EXCERPT = """{
    "missile": [
        " A missile is a long, thin rocket.",
        "\\nA missile has fins at the back."
    ],
    "tench": [
        "A tench is a green fish."
    ]
}"""


def test_cupl_key_serving_two_classes_gives_both_its_sentences() -> None:
    classes = as_class_names(["missile", "projectile | missile", "tench"])
    plan = build_prompts(StrategySpec("cupl", descriptions=load_descriptions(CUPL_EXCERPT)), classes)
    sentences = ["A missile is a long, thin rocket.", "A missile has fins at the back."]
    assert plan.prompts == [sentences, sentences, ["A tench is a green fish."]]
    assert plan.notes == ["1 keys serve several classes, which get the same entries: 'missile' (missile, projectile)"]
    with pytest.raises(DescriptionsError, match="The CuPL descriptions list no sentences for: tench"):
        build_prompts(StrategySpec("cupl", descriptions={"missile": ["x"], "tench": []}), classes)


def test_waffle_uses_the_same_descriptors_for_every_class_and_concatenates_seeds() -> None:
    classes = as_class_names(["crane", "heron", "barn owl"])
    options = WaffleOptions(n_words=3, n_chars=2, seeds=(1, 2), concept="bird")
    plan = build_prompts(StrategySpec("waffle", waffle=options), classes)
    assert plan.seeds == [1, 2] and len(plan.seed_groups) == 2
    assert all(len(p) == 2 * 5 for p in plan.prompts)
    first = plan.seed_groups[0]
    assert first[0][0].startswith("A photo of a bird: a crane, which")
    tails = [[p.split(", which", 1)[1] for p in class_prompts] for class_prompts in first]
    assert tails[0] == tails[1] == tails[2]
    assert plan.seed_groups[0][0] != plan.seed_groups[1][0]
    assert build_prompts(StrategySpec("waffle", waffle=options), classes).prompts == plan.prompts


def test_underscores_in_class_names_become_spaces_in_every_strategy() -> None:
    classes = as_class_names(["great_white_shark", "tiger_shark"])
    assert build_prompts(StrategySpec("classname"), classes).prompts[0] == ["great white shark"]
    assert build_prompts(StrategySpec("ensemble7"), classes).prompts[1][0] == "itap of a tiger shark."
    dclip = build_prompts(StrategySpec("dclip", descriptions={"great_white_shark": ["a large fin"],
                                                              "tiger shark": ["stripes"]}), classes)
    assert dclip.prompts == [["great white shark, which is a large fin"], ["tiger shark, which has stripes"]]
    waffle = build_prompts(StrategySpec("waffle", waffle=WaffleOptions(n_words=1, n_chars=1)), classes)
    assert all(p.startswith("A photo of a great white shark, which") for p in waffle.prompts[0])


def test_zpe_and_autoclip_fill_every_class_from_one_template_pool() -> None:
    plan = build_prompts(StrategySpec("zpe"), CLASSES)
    assert plan.templates == list(IMAGENET_TEMPLATES) and plan.aggregation == "zpe"
    assert plan.prompts[1] == [t.replace("{}", "heron") for t in IMAGENET_TEMPLATES]
    own = build_prompts(StrategySpec("autoclip", templates=["itap of a {}.", "art of the {}.", "itap of a {}."]),
                        CLASSES)
    assert own.templates == ["itap of a {}.", "art of the {}."] and own.prompts[0][1] == "art of the crane bird."
    with pytest.raises(StrategyError, match="at least two templates"):
        build_prompts(StrategySpec("zpe", templates=["itap of a {}."]), CLASSES)


def test_selected_needs_its_templates_and_warns_about_in_sample_accuracy() -> None:
    with pytest.raises(StrategyError, match="run template selection first"):
        build_prompts(StrategySpec("selected"), CLASSES)
    plan = build_prompts(StrategySpec("selected", templates=["itap of a {}."]), CLASSES)
    assert plan.prompts == [["itap of a crane bird."], ["itap of a heron."]]
    assert "optimistic" in plan.warnings[0]
