"""The page's descriptions generation against a scripted OpenAI-compatible server."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest

from components.descriptions_panel import _check, _generator
from prompting.llm import generate_dclip
from tests.fake_llm_server import (
    SECRET_KEY,
    FakeLLMServer,
    Recorded,
    Reply,
    fast_config,
    isolate_llm_env,
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_llm_env(monkeypatch, tmp_path)


def _replies(request: Recorded) -> Reply:
    if "dog" in request.last_user_message:
        return Reply.error(401, "invalid key")
    return Reply.text("- fins\n- a long tail")


def test_generation_merges_into_the_editor_and_a_failure_keeps_the_rest() -> None:
    with FakeLLMServer(responder=_replies) as server:
        run = _generator(fast_config(server.url, concurrency=1), generate_dclip, "DCLIP descriptors")
        with pytest.warns(UserWarning, match="2 classes got no DCLIP descriptors: small dog: .*401"):
            text = run("cat\ndog | small dog\nbird", "test-model", '{"horse": ["a mane"]}')
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
