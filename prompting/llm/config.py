"""Which OpenAI-compatible endpoint and model to ask, and how patiently.

The operator chooses the endpoint with ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` and the model
with ``ZSP_LLM_MODEL`` (CLI flags override them). ``ZSP_LLM_MODELS`` lists the models a web
page may pick among; a page never supplies a URL. ``ZSP_LLM_TIMEOUT``, ``ZSP_LLM_CONCURRENCY``,
``ZSP_LLM_MAX_RETRIES`` and ``ZSP_LLM_BACKOFF`` (first backoff wait, seconds) tune patience.

Secrets (the API key, a ``user:password@`` in the URL, and every form they take on the wire:
``Bearer <key>``, ``Basic base64(user:password)``) are kept out of ``repr`` and ``describe()``;
``redact()`` removes them from any text (server replies, error messages, answers). URL
credentials are sent as a Basic ``Authorization`` header, never inside the URL, so no request
URL that a library logs carries them.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

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
REDACTED = "[redacted]"
# Shorter secrets cannot be told apart from ordinary words, so they are not searched for.
MIN_SECRET_CHARS = 4
# Secret-shaped text whatever the configuration: an ``Authorization`` header with its value,
# OpenAI-style keys, and an authorization scheme followed by a token-like word (8+ characters
# with a digit, ``=``, ``+``, ``/`` or a capital after a small letter), so that prose such as
# "basic shape" in an answer is left alone.
SECRET_PATTERNS = (
    re.compile(r"(?i)\bauthorization[\"']?\s*[:=]\s*[\"']?[^\s\"',;]+(\s+[^\s\"',;]+)?"),
    re.compile(r"\b(?:[Bb]earer|[Bb]asic|BEARER|BASIC)(?:\s+|%20)"
               r"(?=\S*[0-9=+/]|\S*[a-z]\S*[A-Z])[A-Za-z0-9._~+/\-]{7,}[A-Za-z0-9_~+/\-]=*"),
    re.compile(r"\bsk-[A-Za-z0-9_\-*.]{2,}[A-Za-z0-9_\-*]"),
)


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
        """The base URL handed to the HTTP client: no credentials (they go in ``auth_headers``),
        query kept, trailing slash dropped."""
        parts = urlsplit(self.base_url.strip())
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), parts.query, ""))

    @property
    def auth_headers(self) -> dict[str, str]:
        """``Authorization: Basic ...`` for credentials given in the URL (what an HTTP client
        would send for them); empty otherwise, leaving the client's ``Bearer <key>``."""
        basic = self._basic_credentials()
        if basic is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(basic.encode("utf-8")).decode("ascii")}

    def _basic_credentials(self) -> str | None:
        """``user:password`` from the URL (percent-decoded), or None without credentials."""
        parts = urlsplit(self.base_url.strip())
        if parts.username is None and parts.password is None:
            return None
        return f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"

    def secrets(self) -> tuple[str, ...]:
        """Every form of this configuration's secrets that could appear in text: the key, the
        URL's password and ``user:password`` (raw and percent-encoded), their base64, and the
        URL's query values."""
        found: list[str] = []
        if self.api_key != PLACEHOLDER_API_KEY:
            found.append(self.api_key)
        parts = urlsplit(self.base_url.strip())
        found += [value for _, value in parse_qsl(parts.query)]  # e.g. ?key=..., kept out of messages too
        basic = self._basic_credentials()
        if basic is not None:
            password = unquote(parts.password or "")
            encoded = base64.b64encode(basic.encode("utf-8")).decode("ascii")
            found += [basic, password, parts.password or "", quote(password, safe=""), encoded, encoded.rstrip("=")]
        unique = {secret for secret in found if len(secret) >= MIN_SECRET_CHARS}
        return tuple(sorted(unique, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` without this configuration's secrets or anything shaped like a secret."""
        return redact_secrets(text, self.secrets())

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


def redact_secrets(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` with every secret-shaped token (``Authorization: ...``, ``Bearer ...``,
    ``Basic ...``, ``sk-...``) and each of ``secrets`` (longest first) replaced by ``[redacted]``."""
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, REDACTED)
    return text


def _numeric_env(env: Mapping[str, str], name: str, field_name: str, kind: type) -> dict[str, object]:
    """``{field_name: value}`` from env var ``name`` if set; a bad number is an LLMError."""
    raw = env.get(name, "").strip()
    if not raw:
        return {}
    try:
        return {field_name: kind(raw)}
    except ValueError as exc:
        raise LLMError(f"{name}={raw!r} is not a valid {kind.__name__}.") from exc
