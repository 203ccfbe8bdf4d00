"""A scripted OpenAI-compatible server on 127.0.0.1 for offline LLM tests.

``POST /v1/chat/completions`` answers with the next queued ``Reply`` (or ``responder(request)``
when the queue is empty): content and finish_reason per choice, an HTTP status with headers,
a delay before answering, or a raw body. Every request's JSON body and headers are recorded.
The ``openai`` client uses httpx2, which respx cannot intercept, so tests talk real HTTP.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from prompting.llm.config import LLMConfig

SECRET_KEY = "sk-test-SECRET-0123456789abcdef"


@dataclass
class Reply:
    """One scripted answer. ``contents`` become choices (one per string) unless ``raw_body``
    is given; with ``echo_n`` the first content is repeated to match the request's ``n``.
    With ``drip`` seconds, the response is sent one byte at a time, ``drip`` apart: the body
    only, or the status line and headers too with ``drip_headers`` (a slow-drip server)."""

    contents: tuple[str, ...] = ("ok",)
    finish_reason: str = "stop"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw_body: bytes | None = None
    echo_n: bool = False
    drip: float = 0.0
    drip_headers: bool = False

    @classmethod
    def text(cls, content: str, **kwargs: Any) -> Reply:
        return cls(contents=(content,), **kwargs)

    @classmethod
    def error(cls, status: int, message: str = "error", **kwargs: Any) -> Reply:
        body = json.dumps({"error": {"message": message, "type": "server_error"}}).encode()
        return cls(status=status, raw_body=body, **kwargs)


@dataclass
class Recorded:
    """A request the server received."""

    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def last_user_message(self) -> str:
        return [m["content"] for m in self.body["messages"] if m["role"] == "user"][-1]


def completion_body(contents: list[str], finish_reason: str, model: str) -> bytes:
    """A chat-completion JSON body with one choice per content string."""
    choices = [
        {"index": i, "message": {"role": "assistant", "content": c}, "finish_reason": finish_reason}
        for i, c in enumerate(contents)
    ]
    body = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model, "choices": choices}
    return json.dumps(body).encode()


class FakeLLMServer:
    """Context manager running the fake endpoint; ``url`` is the ``.../v1`` base URL."""

    def __init__(self, responder: Callable[[Recorded], Reply] | None = None) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self.responder = responder
        self.dropped = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def queue(self, *replies: Reply) -> FakeLLMServer:
        """Append scripted replies, answered in order."""
        with self._lock:
            self.replies.extend(replies)
        return self

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _next_reply(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            if self.replies:
                return self.replies.popleft()
        if self.responder is not None:
            return self.responder(recorded)
        return Reply.error(500, "no scripted reply left")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                recorded = Recorded(body=body, headers={k.lower(): v for k, v in self.headers.items()})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, Reply.error(404, f"unknown path {self.path}").raw_body or b"", {})
                    return
                reply = server._next_reply(recorded)
                if reply.delay and server._closing.wait(reply.delay):
                    return
                payload = reply.raw_body
                if payload is None:
                    contents = list(reply.contents)
                    if reply.echo_n:
                        contents = contents[:1] * int(body.get("n") or 1)
                    payload = completion_body(contents, reply.finish_reason, body.get("model", ""))
                if reply.drip:
                    self._drip(reply, payload)
                    return
                self._send(reply.status, payload, reply.headers)

            def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def _drip(self, reply: Reply, payload: bytes) -> None:
                head = (f"HTTP/1.1 {reply.status} OK\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(payload)}\r\n\r\n").encode()
                try:
                    if not reply.drip_headers:
                        self.wfile.write(head)
                        self.wfile.flush()
                        head = b""
                    for byte in head + payload:
                        if server._closing.wait(reply.drip):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    server.dropped += 1  # the client hung up, as a deadline should make it

        return Handler


def unused_port() -> int:
    """A local port nothing listens on (for connection-refused tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fast_config(url: str, **overrides: Any) -> LLMConfig:
    """A config with tiny timeouts and backoff so fault tests take milliseconds."""
    values: dict[str, Any] = {
        "base_url": url,
        "api_key": SECRET_KEY,
        "model": "test-model",
        "timeout": 2.0,
        "max_retries": 2,
        "backoff_base": 0.001,
        "backoff_max": 0.05,
        "concurrency": 3,
    }
    values.update(overrides)
    return LLMConfig(**values)
