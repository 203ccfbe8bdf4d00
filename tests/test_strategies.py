"""Each strategy's prompts and aggregation rule, checked exactly."""

from __future__ import annotations

import pytest

from prompting.classes import ClassName, as_class_names
from prompting.errors import DescriptionsError, StrategyError
from prompting.strategies.registry import STRATEGIES, StrategySpec, build_prompts, get_strategy, list_strategies
from prompting.strategies.templates import IMAGENET_TEMPLATES, IMAGENET_TEMPLATES_7
from prompting.strategies.waffle import WaffleOptions

CLASSES = [ClassName("crane", "crane bird"), ClassName.plain("heron")]


def test_registry_lists_all_seven_strategies_with_their_aggregation() -> None:
    assert list_strategies() == ["classname", "template", "ensemble80", "ensemble7", "cupl", "dclip", "waffle"]
    rules = {name: STRATEGIES[name].aggregation for name in list_strategies()}
    assert rules["dclip"] == rules["waffle"] == "mean_score"
    assert {rules[n] for n in ("classname", "template", "ensemble80", "ensemble7", "cupl")} == {"mean_embedding"}
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
    assert plan.aggregation == "mean_embedding" and "owl" in plan.notes[0]
    with pytest.raises(DescriptionsError, match="heron"):
        build_prompts(StrategySpec("cupl", descriptions={"crane": ["a"]}), CLASSES)
    with pytest.raises(StrategyError, match="needs descriptions"):
        build_prompts(StrategySpec("cupl"), CLASSES)


def test_dclip_prompts_follow_the_rule_with_cleaning() -> None:
    data = {"crane": ["- a long neck", "has grey feathers", "antennae", "1. It is a wading bird"], "heron": ["long legs"]}
    plan = build_prompts(StrategySpec("dclip", descriptions=data), CLASSES)
    assert plan.aggregation == "mean_score"
    assert plan.prompts[0] == [
        "crane bird, which is a long neck",
        "crane bird, which has grey feathers",
        "crane bird, which has antennae",
        "crane bird, which is a wading bird",
    ]
    assert plan.prompts[1] == ["heron, which has long legs"]


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
