"""LLMConfig from the environment and overrides; the key stays out of every display."""

from __future__ import annotations

import base64

import pytest
from fake_llm_server import SECRET_KEY

from prompting.errors import LLMError
from prompting.llm.config import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    PLACEHOLDER_API_KEY,
    LLMConfig,
)


def test_defaults_without_environment() -> None:
    config = LLMConfig.from_env()
    assert config.base_url == DEFAULT_BASE_URL
    assert config.model == DEFAULT_MODEL
    assert config.api_key == PLACEHOLDER_API_KEY
    assert config.allowed_models == (DEFAULT_MODEL,)


def test_environment_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("ZSP_LLM_MODEL", "llama3")
    monkeypatch.setenv("ZSP_LLM_TIMEOUT", "7.5")
    monkeypatch.setenv("ZSP_LLM_CONCURRENCY", "2")
    monkeypatch.setenv("ZSP_LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("ZSP_LLM_BACKOFF", "0.25")
    config = LLMConfig.from_env()
    assert (config.api_key, config.model, config.timeout, config.concurrency) == (SECRET_KEY, "llama3", 7.5, 2)
    assert (config.max_retries, config.backoff_base) == (0, 0.25)
    assert config.describe() == "endpoint http://127.0.0.1:11434/v1, model llama3"
    overridden = LLMConfig.from_env(model="qwen2.5", base_url="http://localhost:8000/v1", timeout=None)
    assert (overridden.model, overridden.endpoint, overridden.timeout) == ("qwen2.5", "http://localhost:8000/v1", 7.5)


def test_key_never_displayed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://user:hunter2@llm.example.com/v1?token=abc")
    config = LLMConfig.from_env()
    for text in (repr(config), str(config), config.describe(), config.endpoint):
        assert SECRET_KEY not in text and "hunter2" not in text and "token" not in text
    assert config.describe() == "endpoint https://llm.example.com/v1, model gpt-4o-mini"
    # the client still gets the credentials, as a Basic header rather than inside the URL
    assert "hunter2" not in config.client_base_url and config.client_base_url.endswith("/v1?token=abc")
    assert config.auth_headers == {"Authorization": "Basic " + base64.b64encode(b"user:hunter2").decode()}


def test_every_form_of_the_secrets_is_redacted() -> None:
    config = LLMConfig(base_url="http://alice:s3cr%40t-pass@llm.example.com/v1?key=qk-123456", api_key=SECRET_KEY)
    basic = base64.b64encode(b"alice:s3cr@t-pass").decode()
    leaks = [SECRET_KEY, "s3cr@t-pass", "s3cr%40t-pass", "alice:s3cr@t-pass", basic, f"Basic {basic}",
             f"Bearer {SECRET_KEY}", "qk-123456", "Authorization: Bearer abcdef123456", "sk-anything-else-42"]
    text = config.redact("echo: " + " | ".join(leaks))
    for leak in leaks:
        assert leak not in text
    assert text.startswith("echo: [redacted]")
    # prose that merely uses the words is kept
    assert config.redact("A basic shape, a bearer of news.") == "A basic shape, a bearer of news."


def test_allowed_models_for_the_web_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZSP_LLM_MODELS", "llama3, qwen2.5 ,")
    config = LLMConfig.from_env()
    assert config.model == "llama3"
    assert config.allowed_models == ("llama3", "qwen2.5")
    assert config.with_allowed_model("qwen2.5").model == "qwen2.5"
    with pytest.raises(LLMError, match="'gpt-5' is not offered; choose one of: llama3, qwen2.5"):
        config.with_allowed_model("gpt-5")
    monkeypatch.setenv("ZSP_LLM_MODEL", "mistral")
    assert LLMConfig.from_env().allowed_models == ("mistral", "llama3", "qwen2.5")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"base_url": "127.0.0.1:11434"}, "is not an http\\(s\\) URL"),
        ({"base_url": "ftp://host/v1"}, "is not an http\\(s\\) URL"),
        ({"model": " "}, "No LLM model name"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"concurrency": 0}, "concurrency >= 1"),
        ({"max_retries": -1}, "max_retries must be >= 0"),
    ],
)
def test_invalid_values(changes: dict, message: str) -> None:
    with pytest.raises(LLMError, match=message):
        LLMConfig(**changes)


def test_bad_numeric_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZSP_LLM_TIMEOUT", "soon")
    with pytest.raises(LLMError, match="ZSP_LLM_TIMEOUT='soon' is not a valid float"):
        LLMConfig.from_env()
