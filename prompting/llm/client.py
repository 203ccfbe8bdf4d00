"""One chat-completions call to an OpenAI-compatible endpoint, with bounded retries.

The ``openai`` client's own retries are switched off (``max_retries=0``) so that retrying is
done here, the same way for every server, and stays testable: timeouts, refused or dropped
connections, 408/409/429/5xx and malformed bodies are retried with exponential backoff
(``Retry-After`` / ``retry-after-ms`` honoured, capped at ``backoff_max``); 401/403/404 and
other 4xx are not. The final failure is an ``LLMError`` naming the endpoint and the cause.
Servers that reject ``response_format`` or ``n`` are asked again without them, and servers
that ignore ``n`` are asked again for the missing answers.

``timeout`` is a deadline for each attempt as a whole (connect, headers and body), not a
limit per socket read: a server dripping one byte a second is cut off when it passes. Requests
run on the client's own event-loop thread so that the deadline can cancel an attempt at any
point of the exchange; connections are kept between requests. The configuration's secrets
(``LLMConfig.redact``) are removed from every message, log line and answer text, so a key
echoed by the server never reaches a caller, a cache or a file.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import random
import re
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Self, TypeVar

import openai

from prompting.errors import LLMError
from prompting.llm.config import API_KEY_ENV, LLMConfig
from prompting.llm.prompts import Prompt

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
DETAIL_CHARS = 200
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)


class FatalLLMError(LLMError):
    """The endpoint refuses every request (bad key, bad URL or model, server down): asking
    again for other classes is pointless."""


class MalformedReplyError(Exception):
    """The server answered 200 with a body that is not a chat completion."""


@dataclass(frozen=True)
class Completion:
    """One generated answer: its text and why generation stopped ("stop", "length", ...)."""

    text: str
    finish_reason: str


class ChatClient:
    """Chat completions against ``config``'s endpoint; safe to share between threads."""

    def __init__(self, config: LLMConfig) -> None:
        self._config = config
        self._json_supported = config.json_mode
        self._n_supported = True
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="llm-http", daemon=True)
        self._thread.start()
        self._client = self._run(self._open())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ChatClient({self._config.describe()})"

    def close(self) -> None:
        """Release the HTTP connections and stop the event-loop thread (idempotent)."""
        if self._loop.is_closed():
            return
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the client's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _open(self) -> openai.AsyncOpenAI:
        config = self._config
        return openai.AsyncOpenAI(
            base_url=config.client_base_url, api_key=config.api_key, default_headers=config.auth_headers,
            timeout=config.timeout, max_retries=0,
        )

    def complete(self, prompt: Prompt, n: int, temperature: float, max_tokens: int | None = None) -> list[Completion]:
        """Exactly ``n`` completions; servers that return fewer choices are asked for the rest."""
        completions: list[Completion] = []
        while len(completions) < n:
            missing = n - len(completions)
            completions.extend(self._request(prompt, missing, temperature, max_tokens or prompt.max_tokens)[:missing])
        return [Completion(self._redact(c.text), c.finish_reason) for c in completions]

    def _request(self, prompt: Prompt, n: int, temperature: float, max_tokens: int) -> list[Completion]:
        """One request, retried on transient faults; at least one completion or an LLMError."""
        attempts = self._config.max_retries + 1
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send(prompt, n, temperature, max_tokens)
            except (openai.APITimeoutError, TimeoutError):
                cause, delay, fatal = f"timed out after {self._config.timeout:g} s", None, False
            except openai.APIConnectionError as exc:
                cause, delay, fatal = self._redact(_connection_cause(exc)), None, True
            except openai.APIStatusError as exc:
                if exc.status_code in (400, 422) and self._degrade(prompt, n, exc):
                    attempt -= 1
                    continue
                if exc.status_code not in RETRYABLE_STATUSES:
                    raise self._status_error(exc) from None
                cause, delay, fatal = self._status_cause(exc), _retry_after(exc), False
            except MalformedReplyError as exc:
                cause, delay, fatal = f"returned a malformed reply: {self._redact(str(exc))}", None, False
            if attempt >= attempts:
                error = FatalLLMError if fatal else LLMError
                raise error(f"LLM endpoint {self._config.endpoint} {cause}; gave up after {_tries(attempt)}.") from None
            wait = self._backoff(attempt, delay)
            log.info("LLM endpoint %s %s; retrying in %.2f s (%s)", self._config.endpoint, cause, wait, _tries(attempt))
            time.sleep(wait)

    def _send(self, prompt: Prompt, n: int, temperature: float, max_tokens: int) -> list[Completion]:
        """POST /chat/completions once and validate the body."""
        options: dict[str, Any] = {
            "model": self._config.model,
            "messages": prompt.as_chat(),
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if n > 1 and self._n_supported:
            options["n"] = n
        if prompt.json_reply and self._json_supported:
            options["response_format"] = {"type": "json_object"}
        return _completions(self._run(self._post(options)))

    async def _post(self, options: dict[str, Any]) -> str:
        """The body of one POST, within ``timeout`` seconds from connecting to the last byte
        (``TimeoutError`` past it)."""
        async with asyncio.timeout(self._config.timeout):
            raw = await self._client.chat.completions.with_raw_response.create(**options)
            return raw.text

    def _degrade(self, prompt: Prompt, n: int, exc: openai.APIStatusError) -> bool:
        """After a 400/422, drop ``response_format`` then ``n`` for this endpoint; True if dropped."""
        detail = self._detail(exc)
        if prompt.json_reply and self._json_supported:
            self._json_supported = False
            log.info("LLM endpoint %s rejected JSON mode (%s); asking for plain text", self._config.endpoint, detail)
            return True
        if n > 1 and self._n_supported:
            self._n_supported = False
            log.info("LLM endpoint %s rejected n=%d (%s); asking one at a time", self._config.endpoint, n, detail)
            return True
        return False

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before the next attempt: the server's wish or jittered exponential."""
        cap = self._config.backoff_max
        if retry_after is not None:
            return min(max(retry_after, 0.0), cap)
        return min(cap, self._config.backoff_base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

    def _status_cause(self, exc: openai.APIStatusError) -> str:
        """``answered 503 Service Unavailable: <server detail>``."""
        status = exc.status_code
        detail = self._detail(exc)
        rate = " (rate limited)" if status == 429 else ""
        return f"answered {_status_text(status)}{rate}" + (f": {detail}" if detail else "")

    def _status_error(self, exc: openai.APIStatusError) -> LLMError:
        """The error for a status that is not retried; auth and not-found are fatal."""
        status, endpoint, model = exc.status_code, self._config.endpoint, self._config.model
        detail = self._detail(exc)
        suffix = f" ({detail})" if detail else ""
        if status == 401:
            return FatalLLMError(f"LLM endpoint {endpoint} answered {_status_text(status)}: check {API_KEY_ENV}.")
        if status == 403:
            return FatalLLMError(
                f"LLM endpoint {endpoint} answered {_status_text(status)}: the key may not have access to "
                f"model '{model}'{suffix}."
            )
        if status == 404:
            return FatalLLMError(
                f"LLM endpoint {endpoint} answered {_status_text(status)}: check the base URL (usually ending "
                f"in /v1) and that model '{model}' exists there{suffix}."
            )
        explained = f": {detail}." if detail else "."
        return LLMError(f"LLM endpoint {endpoint} answered {_status_text(status)}{explained}")

    def _detail(self, exc: openai.APIStatusError) -> str:
        """The server's own short explanation, with anything key-like removed."""
        body = exc.body
        if isinstance(body, dict):
            body = body.get("message") or body.get("error") or body.get("detail") or ""
        text = " ".join(str(body or "").split())
        if len(text) > DETAIL_CHARS:
            text = text[:DETAIL_CHARS] + "…"
        return self._redact(text)

    def _redact(self, text: str) -> str:
        """``text`` without the configuration's secrets or secret-shaped strings."""
        return self._config.redact(text)


def _completions(body_text: str) -> list[Completion]:
    """Validate a chat-completion body and return its choices (at least one)."""
    try:
        body = json.loads(body_text)
    except json.JSONDecodeError:
        snippet = " ".join(body_text.split())[:60]
        raise MalformedReplyError(f"body is not JSON (starts {snippet!r})") from None
    if not isinstance(body, dict):
        raise MalformedReplyError("body is not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        error = body.get("error")
        reason = f"error {error!r}" if error else "no 'choices' list"
        raise MalformedReplyError(f"{reason} in the body")
    completions = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(message, dict) or not isinstance(content, (str, type(None))):
            raise MalformedReplyError("a choice has no message with text content")
        text = _THINKING.sub("", content or "").strip()
        completions.append(Completion(text=text, finish_reason=str(choice.get("finish_reason") or "stop")))
    return completions


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date), if given."""
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) / scale
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return None


def _connection_cause(exc: openai.APIConnectionError) -> str:
    """'connection refused' or a short description of why the server could not be reached."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    if any(isinstance(e, ConnectionRefusedError) or "refused" in str(e).lower() for e in chain):
        return "is not reachable: connection refused (is the server running?)"
    root = chain[-1]
    return f"is not reachable: {type(root).__name__}: {' '.join(str(root).split())[:DETAIL_CHARS]}"


def _status_text(status: int) -> str:
    """``"429 Too Many Requests"``."""
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _tries(attempt: int) -> str:
    """``"1 attempt"`` / ``"4 attempts"``."""
    return "1 attempt" if attempt == 1 else f"{attempt} attempts"
