"""The FuDD section's handlers: generation against the scripted server (failures named by model,
never by endpoint; only undescribed pairs asked), and escaping of user and LLM text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gradio as gr
import pytest
from fake_llm_server import SECRET_KEY, FakeLLMServer, Recorded, Reply, fast_config

from components.panels import messages
from components.panels.descriptions_panel import LLMGuard
from components.panels.fudd_panel import _check, _pair_markdown, generator
from prompting.service.budgets import RequestBudgets
from prompting.classes import parse_class_list
from prompting.evaluation.compare import ImageInput
from prompting.service.config import RunLimits
from prompting.service.session_store import ResultStore
from prompting.service.workflows import StrategyInputs, build_specs, run_models
from prompting.strategies.fudd_pairs import Difference, PairDescriptions, pairs_to_json
from tests.conftest import make_image

EVIL = "<img src=x onerror=alert(1)> see http://evil.example"
REQUEST = gr.Request(session_hash="visitor")


def guard(per_session: int = 100) -> LLMGuard:
    return LLMGuard(RunLimits().max_classes, RequestBudgets(per_session))


@pytest.fixture
def stored(tmp_path: Path, tiny_clip_dir: Path) -> tuple[ResultStore, str]:
    classes = parse_class_list("cat\ndog\nbird")
    specs, _ = build_specs(["classname"], StrategyInputs())
    images = [ImageInput(str(make_image(tmp_path / f"p{i}.png", seed=60 + i)), None, f"p{i}.png") for i in range(3)]
    store = ResultStore()
    return store, store.put(run_models([str(tiny_clip_dir)], images, classes, specs), owner="visitor")


def answer(request: Recorded) -> Reply:
    first, second = re.match(r"First class: (.*?)\. Second class: (.*?)\. ", request.last_user_message).groups()
    if "bird" in (first, second) and "dog" in (first, second):
        return Reply.error(401, "invalid key")
    return Reply.text(json.dumps({"differences": [
        {"attribute": "fur", "first": f"a photo of a {first}, fluffy.", "second": f"a photo of a {second}, sleek."}]}))


def test_generation_asks_only_undescribed_pairs_and_names_failures_without_the_endpoint(stored) -> None:
    store, token = stored
    existing = pairs_to_json([PairDescriptions("cat", "dog", [Difference("ears", "a photo of a cat, pointy.",
                                                                         "a photo of a dog, floppy.")])])
    with FakeLLMServer(responder=answer) as server:
        generate = generator(store, fast_config(server.url, concurrency=1), RunLimits(), guard())
        with pytest.warns(UserWarning, match="1 pairs got no descriptions") as caught:
            text = generate(token, "classname", 3, "test-model", existing, REQUEST)
        port = server.url.split(":")[-1].split("/")[0]
    asked = sorted(re.match(r"First class: (.*?)\. Second class: (.*?)\. ", r.last_user_message).groups()
                   for r in server.requests)
    assert asked == [("bird", "cat"), ("bird", "dog")]  # cat / dog is described already: not asked again
    shown = " ".join(str(w.message) for w in caught)
    assert "The language-model server answered" in shown and f":{port}" not in shown
    pairs = json.loads(text)["pairs"]
    assert [p["classes"] for p in pairs] == [["cat", "dog"], ["cat", "bird"]]
    assert SECRET_KEY not in text


def test_generation_is_refused_for_models_the_operator_did_not_offer(stored) -> None:
    store, token = stored
    generate = generator(store, fast_config("http://127.0.0.1:9/v1"), RunLimits(), guard())
    with pytest.raises(gr.Error, match="not offered"):
        generate(token, "classname", 3, "someone-elses-model", "", REQUEST)


def test_user_and_llm_text_is_shown_literally(stored) -> None:
    store, token = stored
    record = store.get(token)
    text = pairs_to_json([PairDescriptions("cat", "dog", [Difference(EVIL, EVIL, "a photo of a dog.")]),
                          PairDescriptions("cat", EVIL, [Difference("", "a", "b")])])
    check = _check(record, "classname", 3, text)
    assert "1 of 3 look-alike pairs described" in check and "<img" not in check and "&lt;img" in check
    view = _pair_markdown(record, "0,1", text)
    assert "<img" not in view and "&lt;img" in view and "http\\://" in view
    assert _pair_markdown(record, "0,7", text) == "" and _pair_markdown(record, "x", text) == ""
    assert messages.toast_text(EVIL).startswith("&lt;img")
    assert _check(record, "classname", 3, "{oops").startswith("⚠️")


@pytest.mark.parametrize("names", ["cat", "cat\ndog", "cat\ndog\nbird"])
def test_the_section_renders_for_any_class_count(tmp_path: Path, tiny_clip_dir: Path, names: str) -> None:
    from components.panels.fudd_panel import render_fudd
    from prompting.strategies.fudd import MIN_K

    specs, _ = build_specs(["classname"], StrategyInputs())
    image = ImageInput(str(make_image(tmp_path / "one.png", seed=3)), None, "one.png")
    record = run_models([str(tiny_clip_dir)], [image], parse_class_list(names), specs)
    base, slider, *_ = render_fudd(record)
    assert base.value == "classname"
    # Gradio merges an update into the component's settings: the slider must stay valid
    merged = gr.Slider(minimum=MIN_K, maximum=slider.maximum, value=slider.value)
    assert merged.minimum < merged.maximum and MIN_K <= slider.value <= max(MIN_K, len(record.comparison.classes))


def test_generation_stays_within_the_sessions_request_budget(stored) -> None:
    store, token = stored
    with FakeLLMServer(responder=answer) as server:
        generate = generator(store, fast_config(server.url, concurrency=1), RunLimits(), guard(per_session=1))
        with pytest.warns(UserWarning, match="used up its language-model requests"):
            generate(token, "classname", 3, "test-model", "", REQUEST)
        assert len(server.requests) == 1
        with pytest.raises(gr.Error, match="This session has used all of its 1 language-model requests"):
            generate(token, "classname", 3, "test-model", "", REQUEST)
    assert len(server.requests) == 1


@pytest.mark.parametrize("configured", [False, True])
def test_the_ask_button_says_why_it_is_off_without_a_language_model(configured: bool) -> None:
    from components.panels.fudd_panel import NO_FUDD_LLM, build_fudd_panel
    from prompting.service.config import AppConfig

    with gr.Blocks() as page:
        panel = build_fudd_panel(AppConfig(llm=fast_config("http://127.0.0.1:9") if configured else None))
    notes = [block for block in page.blocks.values() if getattr(block, "elem_id", None) == "fudd-why"]
    assert panel.generate.interactive is configured
    assert [note.value for note in notes] == ([] if configured else [NO_FUDD_LLM])
