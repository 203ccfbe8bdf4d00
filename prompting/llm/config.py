"""Which OpenAI-compatible endpoint and model to ask, and how patiently.

The operator chooses the endpoint with ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` and the model
with ``ZSP_LLM_MODEL`` (CLI flags override them). ``ZSP_LLM_MODELS`` lists the models a web
page may pick among; a page never supplies a URL. ``ZSP_LLM_TIMEOUT``, ``ZSP_LLM_CONCURRENCY``,
``ZSP_LLM_MAX_RETRIES`` and ``ZSP_LLM_BACKOFF`` (first backoff wait, seconds) tune patience.
The API key is kept out of ``repr`` and
``describe()``, and credentials embedded in the URL are dropped from everything displayed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from prompting.errors import LLMError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
# Local servers (Ollama, vLLM, llama.cpp, LM Studio) accept any key, but the client needs one.
PLACEHOLDER_API_KEY = "no-key-required"

BASE_URL_ENV = "OPENAI_BASE_URL"
API_KEY_ENV = "OPENAI_API_KEY"
MODEL_ENV = "ZSP_LLM_MODEL"
MODELS_ENV = "ZSP_LLM_MODELS"
TIMEOUT_ENV = "ZSP_LLM_TIMEOUT"
CONCURRENCY_ENV = "ZSP_LLM_CONCURRENCY"
MAX_RETRIES_ENV = "ZSP_LLM_MAX_RETRIES"
BACKOFF_ENV = "ZSP_LLM_BACKOFF"


def redact_url(url: str) -> str:
    """``url`` without user:password, query or fragment, and without a trailing slash."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class LLMConfig:
    """Endpoint, credentials and request policy for one generation run.

    ``timeout`` is seconds per HTTP request; ``max_retries`` is how many times a failed
    request (or an unusable reply) is tried again; waits grow as ``backoff_base * 2**attempt``
    and never exceed ``backoff_max`` (also the cap on a server's Retry-After); ``concurrency``
    is how many classes are requested at once; ``json_mode`` asks the server for a JSON reply
    (dropped automatically when a server rejects it).
    """

    base_url: str = DEFAULT_BASE_URL
    api_key: str = PLACEHOLDER_API_KEY
    model: str = DEFAULT_MODEL
    timeout: float = 60.0
    max_retries: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    concurrency: int = 4
    json_mode: bool = True
    allowed_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LLMError(
                f"LLM base URL '{redact_url(self.base_url)}' is not an http(s) URL; "
                f"set {BASE_URL_ENV} or --base-url, e.g. http://127.0.0.1:11434/v1."
            )
        if not self.model.strip():
            raise LLMError(f"No LLM model name given; set {MODEL_ENV} or --llm-model.")
        if self.timeout <= 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise LLMError("LLM timeout must be positive and backoff times must not be negative.")
        if self.max_retries < 0 or self.concurrency < 1:
            raise LLMError("LLM max_retries must be >= 0 and concurrency >= 1.")

    def __repr__(self) -> str:
        return (
            f"LLMConfig(endpoint={self.endpoint!r}, model={self.model!r}, timeout={self.timeout}, "
            f"max_retries={self.max_retries}, concurrency={self.concurrency}, api_key=<hidden>)"
        )

    @property
    def endpoint(self) -> str:
        """The base URL as shown in messages and used in cache keys (no credentials)."""
        return redact_url(self.base_url)

    @property
    def client_base_url(self) -> str:
        """The base URL handed to the HTTP client (credentials kept, trailing slash dropped)."""
        return self.base_url.strip().rstrip("/")

    def describe(self) -> str:
        """A one-line summary safe to display: ``endpoint URL, model NAME``."""
        return f"endpoint {self.endpoint}, model {self.model}"

    def with_allowed_model(self, model: str) -> LLMConfig:
        """Switch to ``model`` if the operator allowed it (the web page's only choice)."""
        allowed = self.allowed_models or (self.model,)
        if model not in allowed:
            raise LLMError(f"Model '{model}' is not offered; choose one of: {', '.join(allowed)}.")
        return replace(self, model=model)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> LLMConfig:
        """Build from the environment; keyword overrides (e.g. CLI flags) win when not None."""
        env = os.environ if env is None else env
        allowed = tuple(m.strip() for m in env.get(MODELS_ENV, "").split(",") if m.strip())
        model = env.get(MODEL_ENV, "").strip() or (allowed[0] if allowed else DEFAULT_MODEL)
        if model not in allowed:
            allowed = (model, *allowed)
        values: dict[str, object] = {
            "base_url": env.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL,
            "api_key": env.get(API_KEY_ENV, "").strip() or PLACEHOLDER_API_KEY,
            "model": model,
            "allowed_models": allowed,
        }
        values.update(_numeric_env(env, TIMEOUT_ENV, "timeout", float))
        values.update(_numeric_env(env, CONCURRENCY_ENV, "concurrency", int))
        values.update(_numeric_env(env, MAX_RETRIES_ENV, "max_retries", int))
        values.update(_numeric_env(env, BACKOFF_ENV, "backoff_base", float))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _numeric_env(env: Mapping[str, str], name: str, field_name: str, kind: type) -> dict[str, object]:
    """``{field_name: value}`` from env var ``name`` if set; a bad number is an LLMError."""
    raw = env.get(name, "").strip()
    if not raw:
        return {}
    try:
        return {field_name: kind(raw)}
    except ValueError as exc:
        raise LLMError(f"{name}={raw!r} is not a valid {kind.__name__}.") from exc
