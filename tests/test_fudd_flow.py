"""FuDD in the app's service layer: look-alike pairs of a stored run, limits, generation merged
into the page's JSON, FuDD added beside the run and its A/B against the base (tiny real models)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fake_llm_server import FakeLLMServer, Recorded, Reply, fast_config

from components.report import render_html_report
from prompting.classes import parse_class_list
from prompting.errors import DescriptionsError, StrategyError
from prompting.evaluation.compare import ImageInput
from prompting.service.config import RunLimits
from prompting.service.fudd_flow import (
    add_fudd,
    base_keys,
    clamp_k,
    default_base,
    described_pairs,
    fudd_trial,
    generate_descriptions,
    latest_fudd,
    look_alike_pairs,
    pair_changes,
)
from prompting.service.workflows import (
    StrategyInputs,
    build_specs,
    model_tags,
    read_pairs,
    run_models,
)
from prompting.strategies.fudd import Evidence, FuddChange
from prompting.strategies.fudd_pairs import Difference, PairDescriptions, pairs_to_json
from tests.conftest import make_image

CLASSES = parse_class_list("crane | crane bird\nheron\nexcavator")
TEXT = pairs_to_json([
    PairDescriptions("crane", "heron", [Difference("neck", "a photo of a crane bird, straight neck.",
                                                   "a photo of a heron, S-curved neck.")]),
    PairDescriptions("heron", "excavator", [Difference("kind", "a photo of a heron, a bird.",
                                                       "a photo of a excavator, a machine.")]),
])


def inputs(tmp_path: Path, labels: list[int | None]) -> list[ImageInput]:
    return [ImageInput(str(make_image(tmp_path / f"im{i}.png", seed=40 + i)), label, name=f"im{i}.png")
            for i, label in enumerate(labels)]


@pytest.fixture
def record(tmp_path: Path, tiny_clip_dir: Path):
    specs, _ = build_specs(["classname", "template"], StrategyInputs(templates_text="a photo of a {}."))
    return run_models([str(tiny_clip_dir)], inputs(tmp_path, [0, 1, 2, 1, 0]), CLASSES, specs)


def test_the_runs_base_choices_pairs_and_k(record) -> None:
    assert base_keys(record) == ["classname", "template"]
    assert default_base(record) == "template"  # the paper's "a photo of a {}."
    assert default_base(replace(record, sources={"classname": record.sources["classname"]})) == "classname"
    assert (clamp_k(None, 3), clamp_k(None, 50), clamp_k(7, 50), clamp_k(1, 50)) == (3, 10, 7, 2)
    pairs = look_alike_pairs(record, "template", 2)
    order = record.comparison.strategies["template"].predictions(2)
    expected: dict[tuple[int, int], int] = {}
    for a, b in order.tolist():
        key = (min(a, b), max(a, b))
        expected[key] = expected.get(key, 0) + 1
    assert {(p.first, p.second): p.images for p in pairs} == expected
    assert [p.images for p in pairs] == sorted(expected.values(), reverse=True)
    assert described_pairs(record, TEXT) == {(0, 1), (1, 2)} and described_pairs(record, "{oops") == set()


def test_fudd_joins_the_run_and_its_ab_shows_what_changed_and_why(record) -> None:
    extended, key = add_fudd(record, "template", TEXT, 3)
    assert key == "fudd" and list(extended.comparison.strategies) == ["classname", "template", "fudd"]
    fudd = extended.comparison.strategies["fudd"]
    assert fudd.label == "FuDD (k=3) · Template" and not fudd.fudd.base_computed
    assert extended.sources["fudd"].spec.fudd.base == extended.sources["template"].spec
    assert latest_fudd(extended) == ("fudd", "template") and latest_fudd(record) is None
    trial = fudd_trial(extended, "template", "fudd")
    before = extended.comparison.strategies["template"].probabilities.argmax(axis=1)
    after = fudd.probabilities.argmax(axis=1)
    assert trial.table.changed == int((before != after).sum()) == len(trial.changes)
    assert trial.table.headers[-1].startswith("Why") and len(trial.table.rows) == 5
    for i, row in enumerate(trial.table.rows):
        assert bool(row[-1]) == (before[i] != after[i])  # a reason exactly where the top class moved
    assert trial.summary().startswith(f"FuDD (k=3) · Template changed the top prediction of {trial.table.changed} "
                                      "of 5 images compared with Template; correct: ")
    assert "1 look-alike pairs had no descriptions" in trial.summary()  # crane / excavator
    names = [c.display for c in CLASSES]
    moved = [f"im{c.image}.png: {names[c.before]} → {names[c.after]}" for c in trial.changes
             if {c.before, c.after} == {0, 1}]
    assert pair_changes(trial, 0, 1, names) == moved
    again, second = add_fudd(extended, "classname", TEXT, 2)
    assert second == "fudd-2" and latest_fudd(again) == ("fudd-2", "classname")


def test_the_report_lists_what_fudd_changed_and_why_escaped(record) -> None:
    extended, key = add_fudd(record, "template", TEXT, 3)
    fudd = extended.comparison.strategies[key]
    planted = [
        FuddChange(image=1, before=0, after=1, before_cosine=0.21, after_cosine=0.25, evidence=[
            Evidence("<b>neck</b>", "a heron, S-curved <neck>", 0.251, "a crane & a straight neck", 0.2),
            Evidence("legs", "long legs", 0.24, "short legs", 0.23),
            Evidence("third", "never shown", 0.2, "never shown either", 0.2),
        ]),
        FuddChange(image=3, before=2, after=0, before_cosine=0.3, after_cosine=0.31, evidence=[]),
    ]
    comparison = replace(extended.comparison, strategies={
        **extended.comparison.strategies, key: replace(fudd, fudd=replace(fudd.fudd, changes=planted))})
    html = render_html_report(comparison)
    section = html[html.index("<h2>What FuDD changed: FuDD (k=3) · Template</h2>"):]
    section = section[: section.index("</table>")]
    assert "FuDD changed the top class of 2 of 5 images from Template&#x27;s" in section
    assert "&lt;b&gt;neck&lt;/b&gt;: “a heron, S-curved &lt;neck&gt;” 0.251 vs “a crane &amp; a straight neck” 0.200" \
        in section and "<b>neck" not in section
    assert "legs: “long legs” 0.240 vs “short legs” 0.230" in section and "never shown" not in section
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td><td>([^<]+)</td><td>([^<]+)</td>", section)
    assert rows == [("2", "im1.png", "crane → ✓ heron"), ("4", "im3.png", "excavator → crane")]
    assert "crane 0.310 vs excavator 0.300 (no descriptions for this pair)" in section
    assert "What FuDD changed" not in render_html_report(record.comparison)


def test_fudd_is_added_for_the_bases_model_when_the_run_has_two(tmp_path: Path, tiny_clip_dir: Path,
                                                                tiny_siglip_dir: Path) -> None:
    specs, _ = build_specs(["template"], StrategyInputs(templates_text="a photo of a {}."))
    models = [str(tiny_clip_dir), str(tiny_siglip_dir)]
    record = run_models(models, inputs(tmp_path, [0, 1, None]), CLASSES, specs)
    tags = model_tags(models)
    base = f"template@{tags[str(tiny_siglip_dir)]}"
    extended, key = add_fudd(record, base, TEXT, 2)
    assert key == f"fudd@{tags[str(tiny_siglip_dir)]}" and extended.sources[key].model == str(tiny_siglip_dir)
    assert extended.comparison.strategies[key].probability_kind == "sigmoid"
    assert latest_fudd(extended) is not None


def test_limits_and_bad_inputs_are_refused_with_reasons(record) -> None:
    tight = RunLimits(max_fudd_pairs=1, max_fudd_differences=1)
    with pytest.raises(DescriptionsError, match="cover 2 pairs; this server uses at most 1"):
        read_pairs(TEXT, tight)
    crowded = pairs_to_json([PairDescriptions("crane", "heron", [Difference("a", "x", "y"), Difference("b", "p", "q")])])
    with pytest.raises(DescriptionsError, match="crane \\| heron has 2 descriptions; .* at most 1 per pair"):
        read_pairs(crowded, tight)
    with pytest.raises(StrategyError, match="from 2 to 10"):
        add_fudd(record, "template", TEXT, 11)
    with pytest.raises(StrategyError, match="one of this run's strategies"):
        add_fudd(record, "nope", TEXT, 3)
    with pytest.raises(DescriptionsError, match="empty"):
        add_fudd(record, "template", "", 3)


def test_generation_asks_prompt_names_and_merges_under_shown_names(record) -> None:
    def reply(request: Recorded) -> Reply:
        first, second = re.match(r"First class: (.*?)\. Second class: (.*?)\. ", request.last_user_message).groups()
        return Reply.text(json.dumps({"differences": [{"attribute": "shape", "first": f"a photo of a {first}, tall.",
                                                       "second": f"a photo of a {second}, wide."}]}))

    limits = RunLimits(max_fudd_generate=2)
    with FakeLLMServer(responder=reply) as server:
        text, report = generate_descriptions(record, [(0, 2)], fast_config(server.url), TEXT, limits)
        with pytest.raises(StrategyError, match="at most 2 pairs"):
            generate_descriptions(record, [(0, 1), (0, 2), (1, 2)], fast_config(server.url), TEXT, limits)
    assert [r.last_user_message.split(".")[0] for r in server.requests] == ["First class: crane bird"]
    assert report.requested == 1 and not report.failures
    pairs = json.loads(text)["pairs"]
    assert [p["classes"] for p in pairs] == [["crane", "heron"], ["heron", "excavator"], ["crane", "excavator"]]
    assert pairs[2]["descriptions"] == [{"attribute": "shape", "crane": "a photo of a crane bird, tall.",
                                         "excavator": "a photo of a excavator, wide."}]
    assert described_pairs(record, text) == {(0, 1), (1, 2), (0, 2)}
    assert np.isfinite(add_fudd(record, "template", text, 3)[0].comparison.strategies["fudd"].logits).all()


def test_descriptions_for_other_classes_are_refused_before_any_scoring(record) -> None:
    other = pairs_to_json([PairDescriptions("owl", "hawk", [Difference("", "a photo of an owl.", "a photo of a hawk.")])])
    with pytest.raises(DescriptionsError, match=r"None of the FuDD pairs .*\(unknown: owl, hawk\)"):
        add_fudd(record, "template", other, 3, loader=lambda name: pytest.fail("no model may be loaded"))


def test_fudd_without_descriptions_says_where_they_go() -> None:
    specs, errors = build_specs(["classname", "fudd"], StrategyInputs())
    assert [spec.name for spec in specs] == ["classname"]
    assert "as options.fudd.pairs" in errors["FuDD"] and "Class names tab" in errors["FuDD"]
