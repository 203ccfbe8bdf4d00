"""The page's descriptions generation against a scripted OpenAI-compatible server."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from components.panels.descriptions_panel import _check, _generator
from prompting.llm.generate import generate_dclip
from tests.fake_llm_server import (
    SECRET_KEY,
    FakeLLMServer,
    Recorded,
    Reply,
    fast_config,
)


def _replies(request: Recorded) -> Reply:
    if "dog" in request.last_user_message:
        return Reply.error(401, "invalid key")
    return Reply.text("- fins\n- a long tail")


def test_generation_merges_into_the_editor_and_a_failure_keeps_the_rest() -> None:
    with FakeLLMServer(responder=_replies) as server:
        run = _generator(fast_config(server.url, concurrency=1), generate_dclip, "DCLIP descriptors")
        with pytest.warns(UserWarning, match="2 classes got no DCLIP descriptors: small dog: .*401") as caught:
            text = run("cat\ndog | small dog\nbird", "test-model", '{"horse": ["a mane"]}')
        port = server.url.split(":")[-1].split("/")[0]
        shown = " ".join(str(warning.message) for warning in caught)
        assert "The language-model server answered" in shown and f":{port}" not in shown
    data = json.loads(text)
    assert data["horse"] == ["a mane"]
    assert data["cat"] == ["fins", "a long tail"] and "small dog" not in data
    assert SECRET_KEY not in text


def test_only_operator_models_can_be_asked() -> None:
    run = _generator(fast_config("http://127.0.0.1:9/v1"), generate_dclip, "DCLIP descriptors")
    with pytest.raises(gr.Error, match="not offered"):
        run("cat", "someone-elses-model", "")


def test_the_check_escapes_llm_text_and_reports_missing_classes() -> None:
    check, preview = _check('{"cat": ["<img src=x onerror=alert(1)> see http://evil.example"]}', "cat\ndog")
    assert r"none for\: dog" in check
    assert "<img" not in preview and "&lt;img" in preview and "http\\://" in preview


def test_failures_shown_to_visitors_name_the_model_not_the_endpoint() -> None:
    from components.panels.descriptions_panel import public_llm_message

    config = fast_config("http://user:pw@10.1.2.3:8000/v1/")
    message = public_llm_message(f"LLM endpoint {config.endpoint} answered 401 Unauthorized.", config)
    assert message == "The language-model server answered 401 Unauthorized."
    assert "10.1.2.3" not in public_llm_message(f"could not reach {config.client_base_url}", config)
    with pytest.raises(gr.Error) as caught:
        _generator(config, generate_dclip, "DCLIP descriptors")("cat", "someone-elses-model", "")
    assert "10.1.2.3" not in str(caught.value)
