"""The page's descriptions generation against a scripted OpenAI-compatible server."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from components.panels.descriptions_panel import LLMGuard, _check, _generator
from prompting.llm.generate import generate_cupl, generate_dclip
from prompting.service.budgets import RequestBudgets
from tests.fake_llm_server import (
    SECRET_KEY,
    FakeLLMServer,
    Recorded,
    Reply,
    fast_config,
)


REQUEST = gr.Request(session_hash="session-a")


def guard(per_session: int = 100, max_classes: int = 1000) -> LLMGuard:
    return LLMGuard(max_classes, RequestBudgets(per_session))


def _replies(request: Recorded) -> Reply:
    if "dog" in request.last_user_message:
        return Reply.error(401, "invalid key")
    return Reply.text("- fins\n- a long tail")


def test_generation_merges_into_the_editor_and_a_failure_keeps_the_rest() -> None:
    with FakeLLMServer(responder=_replies) as server:
        run = _generator(fast_config(server.url, concurrency=1), generate_dclip, "DCLIP descriptors", guard())
        with pytest.warns(UserWarning, match="2 classes got no DCLIP descriptors: small dog: .*401") as caught:
            text = run("cat\ndog | small dog\nbird", "test-model", '{"horse": ["a mane"]}', REQUEST)
        port = server.url.split(":")[-1].split("/")[0]
        shown = " ".join(str(warning.message) for warning in caught)
        assert "The language-model server answered" in shown and f":{port}" not in shown
    data = json.loads(text)
    assert data["horse"] == ["a mane"]
    assert data["cat"] == ["fins", "a long tail"] and "small dog" not in data
    assert SECRET_KEY not in text


def test_only_operator_models_can_be_asked() -> None:
    run = _generator(fast_config("http://127.0.0.1:9/v1"), generate_dclip, "DCLIP descriptors", guard())
    with pytest.raises(gr.Error, match="not offered"):
        run("cat", "someone-elses-model", "", REQUEST)


def test_the_check_escapes_llm_text_and_reports_missing_classes() -> None:
    check, preview = _check('{"cat": ["<img src=x onerror=alert(1)> see http://evil.example"]}', "cat\ndog")
    assert check.startswith("⚠️") and r"1 have no entry\: dog" in check
    assert "<img" not in preview and "&lt;img" in preview and "http\\://" in preview
    assert "- **dog**: no entry" in preview


def test_the_check_and_preview_report_every_inexact_match_shared_key_and_empty_list() -> None:
    text = json.dumps({"Ram CV": ["a van"], "eft": ["orange skin"], "missile": ["a rocket"], "donuts": [],
                       "<b>x</b>": ["y"]})
    classes = "Ram C/V\nnewt\nmissile\nprojectile | missile\ndonuts"
    check, preview = _check(text, classes, "dclip")
    assert check.startswith("✓ Descriptions for 5 of 5 classes")
    assert "Ram C/V → 'Ram CV'" in check.replace("\\", "")
    assert "Classes with none are scored with the one prompt" in check.replace("\\", "")
    plain = preview.replace("\\", "")
    assert plain.startswith("**How the entries match your classes**")
    for row in ("- **Ram C/V** ← “Ram CV” (case, spaces or punctuation differ)",
                "- **newt** ← “eft” (another published name)",
                "- “missile” serves **missile**, **projectile** (same entries)",
                "- **donuts**: empty list, scored with the one prompt “{class}, which has ”, as DCLIP's code does",
                "- “&lt;b&gt;x&lt;/b&gt;” matches no class (ignored)"):
        assert row in plain
    assert "<b>" not in preview
    cupl_check, cupl_preview = _check(text, classes, "cupl")
    assert cupl_check.startswith("⚠️")  # CuPL cannot score a class without sentences
    assert "- **donuts**: empty list, add sentences or remove the class" in cupl_preview.replace("\\", "")
    exact_check, exact_preview = _check(json.dumps({"cat": ["a"]}), "cat", "dclip")
    assert exact_check == r"✓ Descriptions for 1 of 1 classes \(1 by exact name\)\."
    assert "How the entries match" not in exact_preview


def test_failures_shown_to_visitors_name_the_model_not_the_endpoint() -> None:
    from components.panels import messages

    config = fast_config("http://user:pw-secret@10.1.2.3:8000/v1/")
    with pytest.raises(gr.Error) as caught:
        _generator(config, generate_dclip, "DCLIP descriptors", guard())("cat", "someone-elses-model", "", REQUEST)
    assert "10.1.2.3" not in str(caught.value)
    message = messages.public(f"LLM endpoint {config.endpoint} answered 401 Unauthorized.")
    assert message == "The language-model server answered 401 Unauthorized."
    shown = messages.public(f"could not reach {config.base_url} with pw-secret")
    assert "10.1.2.3" not in shown and "pw-secret" not in shown


def test_more_classes_than_a_run_allows_are_refused_before_any_request() -> None:
    with FakeLLMServer(responder=_replies) as server:
        run = _generator(fast_config(server.url), generate_dclip, "DCLIP descriptors", guard(max_classes=100))
        classes = "\n".join(f"class {index}" for index in range(3000))  # the report's 3,000 pasted classes
        with pytest.raises(gr.Error, match="Too many classes to describe at once: 3000. This server asks the "
                                           "language model about at most 100 per click"):
            run(classes, "test-model", "", REQUEST)
    assert server.requests == []


def test_a_session_sends_at_most_its_request_budget() -> None:
    def sentences(request: Recorded) -> Reply:
        return Reply(contents=('{"sentence": "A thing."}',), echo_n=True)

    budget = guard(per_session=7)
    with FakeLLMServer(responder=sentences) as server:
        run = _generator(fast_config(server.url, concurrency=1), generate_cupl, "CuPL sentences", budget)
        with pytest.warns(UserWarning, match="used up its language-model requests"):
            text = run("cat\ndog\nbird", "test-model", "", REQUEST)  # 3 classes x 5 questions = 15 requests
        assert len(server.requests) == 7
        assert list(json.loads(text)) == ["cat"]  # 5 requests; dog got 2 of 5, so it failed as a whole
        with pytest.raises(gr.Error, match="This session has used all of its 7 language-model requests"):
            run("horse", "test-model", "", REQUEST)
        other = gr.Request(session_hash="session-b")  # another visitor has a budget of their own
        assert json.loads(run("cat", "test-model", "", other))["cat"]  # cached: costs nothing
        assert len(server.requests) == 7 and budget.requests.remaining("session-b") == 7


def test_a_key_echoed_in_an_answer_never_reaches_the_editor() -> None:
    with FakeLLMServer(responder=lambda r: Reply.text(f"- fins\n- my key is {SECRET_KEY}")) as server:
        run = _generator(fast_config(server.url), generate_dclip, "DCLIP descriptors", guard())
        text = run("cat", "test-model", "", REQUEST)
    assert SECRET_KEY not in text
    assert json.loads(text) == {"cat": ["fins", "my key is [redacted]"]}
