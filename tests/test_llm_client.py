"""The chat call against a real local HTTP server: replies, n, retries, faults, key hygiene."""

from __future__ import annotations

import base64
import time

import pytest
from fake_llm_server import (
    SECRET_KEY,
    FakeLLMServer,
    Reply,
    fast_config,
    unused_port,
)

from prompting.errors import LLMError
from prompting.llm.client import ChatClient, Completion, FatalLLMError
from prompting.llm.prompts import cupl_prompt, dclip_prompt

PROMPT = cupl_prompt("What does a(n) {} look like?", "axolotl")



def test_normal_reply_and_request_shape() -> None:
    with FakeLLMServer() as server, ChatClient(fast_config(server.url)) as client:
        server.queue(Reply(contents=('{"sentence": "Pink."}', '{"sentence": "Gills."}')))
        completions = client.complete(PROMPT, n=2, temperature=0.99)
    assert completions == [Completion('{"sentence": "Pink."}', "stop"), Completion('{"sentence": "Gills."}', "stop")]
    [request] = server.requests
    assert request.body["model"] == "test-model"
    assert request.body["n"] == 2
    assert request.body["temperature"] == 0.99
    assert request.body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    assert request.last_user_message == "What does an axolotl look like?"
    assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"


def test_server_ignoring_n_is_asked_again_for_the_rest() -> None:
    with (
        FakeLLMServer(responder=lambda r: Reply.text("one answer")) as server,
        ChatClient(fast_config(server.url)) as client,
    ):
        completions = client.complete(PROMPT, n=3, temperature=0.5)
    assert [c.text for c in completions] == ["one answer"] * 3
    assert [r.body.get("n") for r in server.requests] == [3, 2, None]


def test_extra_choices_are_trimmed_to_n() -> None:
    with FakeLLMServer() as server, ChatClient(fast_config(server.url)) as client:
        server.queue(Reply(contents=("a", "b", "c")))
        assert [c.text for c in client.complete(PROMPT, n=2, temperature=0.5)] == ["a", "b"]


def test_dclip_prompt_asks_plain_text_without_n() -> None:
    with FakeLLMServer() as server, ChatClient(fast_config(server.url)) as client:
        server.queue(Reply.text("- long tail"))
        client.complete(dclip_prompt("tench"), n=1, temperature=0.0)
    body = server.requests[0].body
    assert "response_format" not in body and "n" not in body
    assert body["temperature"] == 0.0


def test_length_finish_reason_is_reported_not_hidden() -> None:
    with FakeLLMServer() as server, ChatClient(fast_config(server.url)) as client:
        server.queue(Reply.text("A pink amphibian with", finish_reason="length"))
        assert client.complete(PROMPT, n=1, temperature=0.5) == [Completion("A pink amphibian with", "length")]


def test_thinking_blocks_are_removed() -> None:
    with FakeLLMServer() as server, ChatClient(fast_config(server.url)) as client:
        server.queue(Reply.text("<think>hmm, a salamander</think>\nA pink salamander."))
        assert client.complete(PROMPT, n=1, temperature=0.5)[0].text == "A pink salamander."


def test_429_with_retry_after_ms_then_success() -> None:
    with FakeLLMServer() as server, ChatClient(fast_config(server.url, backoff_max=5.0)) as client:
        server.queue(Reply.error(429, "slow down", headers={"retry-after-ms": "300"}), Reply.text("fine"))
        start = time.monotonic()
        completions = client.complete(PROMPT, n=1, temperature=0.5)
        elapsed = time.monotonic() - start
    assert completions[0].text == "fine"
    assert len(server.requests) == 2
    assert 0.3 <= elapsed < 2.0


def test_retry_after_is_capped_by_backoff_max() -> None:
    with FakeLLMServer() as server, ChatClient(fast_config(server.url, backoff_max=0.05)) as client:
        server.queue(Reply.error(429, headers={"retry-after": "120"}), Reply.text("fine"))
        start = time.monotonic()
        client.complete(PROMPT, n=1, temperature=0.5)
        assert time.monotonic() - start < 1.0


def test_500_then_success() -> None:
    with FakeLLMServer() as server, ChatClient(fast_config(server.url)) as client:
        server.queue(Reply.error(500, "boom"), Reply.text("fine"))
        assert client.complete(PROMPT, n=1, temperature=0.5)[0].text == "fine"
    assert len(server.requests) == 2


def test_persistent_500_gives_up_after_bounded_retries() -> None:
    with (
        FakeLLMServer(responder=lambda r: Reply.error(500, "model crashed")) as server,
        ChatClient(fast_config(server.url, max_retries=2)) as client,
        pytest.raises(LLMError) as caught,
    ):
        client.complete(PROMPT, n=1, temperature=0.5)
    assert len(server.requests) == 3
    message = str(caught.value)
    assert message.startswith(f"LLM endpoint {server.url} answered 500 Internal Server Error: model crashed")
    assert "3 attempts" in message
    assert not isinstance(caught.value, FatalLLMError)


def test_429_exhausted_says_rate_limited() -> None:
    with (
        FakeLLMServer(responder=lambda r: Reply.error(429, "quota")) as server,
        ChatClient(fast_config(server.url, max_retries=1)) as client,
        pytest.raises(LLMError) as caught,
    ):
        client.complete(PROMPT, n=1, temperature=0.5)
    assert "429 Too Many Requests (rate limited)" in str(caught.value)
    assert len(server.requests) == 2


def test_delay_beyond_timeout_times_out_with_bounded_retries() -> None:
    with FakeLLMServer(responder=lambda r: Reply.text("late", delay=5.0)) as server:
        config = fast_config(server.url, timeout=0.2, max_retries=1)
        start = time.monotonic()
        with ChatClient(config) as client, pytest.raises(LLMError) as caught:
            client.complete(PROMPT, n=1, temperature=0.5)
        elapsed = time.monotonic() - start
    assert str(caught.value) == f"LLM endpoint {server.url} timed out after 0.2 s; gave up after 2 attempts."
    assert len(server.requests) == 2
    assert elapsed < 3.0


@pytest.mark.parametrize("drip_headers", [False, True], ids=["body", "headers"])
def test_the_timeout_is_a_deadline_for_a_slow_drip_server(drip_headers: bool) -> None:
    # One byte every 0.1 s: each read arrives well within the 1 s timeout, so a per-read timeout
    # would wait for the whole reply (tens of seconds); a deadline gives up at 1 s.
    reply = Reply.text("x" * 400, drip=0.1, drip_headers=drip_headers)
    with FakeLLMServer(responder=lambda r: reply) as server:
        start = time.monotonic()
        with ChatClient(fast_config(server.url, timeout=1.0, max_retries=0)) as client, \
                pytest.raises(LLMError) as caught:
            client.complete(PROMPT, n=1, temperature=0.5)
        elapsed = time.monotonic() - start
    assert str(caught.value) == f"LLM endpoint {server.url} timed out after 1 s; gave up after 1 attempt."
    assert elapsed < 10.0  # the drip alone would take over 40 s


def test_url_credentials_travel_as_a_basic_header_and_never_appear_in_messages() -> None:
    with FakeLLMServer(responder=lambda r: Reply.error(500, f"bad auth header {r.headers['authorization']}")) \
            as server:
        url = server.url.replace("http://", "http://alice:hunter2-pw@")
        with ChatClient(fast_config(url, api_key="no-key-required", max_retries=0)) as client, \
                pytest.raises(LLMError) as caught:
            client.complete(PROMPT, n=1, temperature=0.5)
    basic = base64.b64encode(b"alice:hunter2-pw").decode()
    assert server.requests[0].headers["authorization"] == f"Basic {basic}"
    message = str(caught.value)
    assert "500 Internal Server Error: bad auth header [redacted]" in message
    assert basic not in message and "hunter2" not in message


def test_a_key_echoed_in_an_answer_is_redacted() -> None:
    with FakeLLMServer() as server, ChatClient(fast_config(server.url)) as client:
        server.queue(Reply.text(f'{{"sentence": "My key is {SECRET_KEY}, Bearer {SECRET_KEY}."}}'))
        [completion] = client.complete(PROMPT, n=1, temperature=0.5)
    assert SECRET_KEY not in completion.text
    assert completion.text == '{"sentence": "My key is [redacted], [redacted]."}'


def test_timeout_then_success() -> None:
    with FakeLLMServer() as server, ChatClient(fast_config(server.url, timeout=0.2)) as client:
        server.queue(Reply.text("late", delay=2.0), Reply.text("fine"))
        assert client.complete(PROMPT, n=1, temperature=0.5)[0].text == "fine"


def test_connection_refused_is_fatal_and_names_the_cause() -> None:
    url = f"http://127.0.0.1:{unused_port()}/v1"
    with ChatClient(fast_config(url, max_retries=1)) as client, pytest.raises(FatalLLMError) as caught:
        client.complete(PROMPT, n=1, temperature=0.5)
    assert str(caught.value).startswith(f"LLM endpoint {url} is not reachable: connection refused")
    assert "2 attempts" in str(caught.value)


def test_401_is_fatal_not_retried_and_never_shows_the_key() -> None:
    echo = f"Incorrect API key provided: {SECRET_KEY}"
    with (
        FakeLLMServer(responder=lambda r: Reply.error(401, echo)) as server,
        ChatClient(fast_config(server.url)) as client,
        pytest.raises(FatalLLMError) as caught,
    ):
        client.complete(PROMPT, n=1, temperature=0.5)
    assert str(caught.value) == f"LLM endpoint {server.url} answered 401 Unauthorized: check OPENAI_API_KEY."
    assert len(server.requests) == 1
    assert SECRET_KEY not in repr(caught.value)


def test_server_detail_is_redacted() -> None:
    echo = f"key {SECRET_KEY} has no access; also sk-other-key-999"
    with (
        FakeLLMServer(responder=lambda r: Reply.error(403, echo)) as server,
        ChatClient(fast_config(server.url)) as client,
        pytest.raises(FatalLLMError) as caught,
    ):
        client.complete(PROMPT, n=1, temperature=0.5)
    message = str(caught.value)
    assert "403 Forbidden" in message and "[redacted]" in message
    assert SECRET_KEY not in message and "sk-other" not in message


def test_404_names_base_url_and_model() -> None:
    with (
        FakeLLMServer(responder=lambda r: Reply.error(404, "model 'test-model' not found")) as server,
        ChatClient(fast_config(server.url)) as client,
        pytest.raises(FatalLLMError) as caught,
    ):
        client.complete(PROMPT, n=1, temperature=0.5)
    assert "404 Not Found: check the base URL" in str(caught.value)
    assert "'test-model'" in str(caught.value)


def test_wrong_path_is_404() -> None:
    with FakeLLMServer() as server:
        url = server.url.removesuffix("/v1")  # forgot /v1
        with ChatClient(fast_config(url)) as client, pytest.raises(FatalLLMError, match="404 Not Found"):
            client.complete(PROMPT, n=1, temperature=0.5)


def test_malformed_bodies_are_retried_then_reported() -> None:
    with FakeLLMServer() as server, ChatClient(fast_config(server.url, max_retries=2)) as client:
        server.queue(Reply(raw_body=b"<html>proxy error</html>"), Reply(raw_body=b'{"foo": 1}'), Reply.text("fine"))
        assert client.complete(PROMPT, n=1, temperature=0.5)[0].text == "fine"
        server.queue(*[Reply(raw_body=b'{"choices": []}')] * 3)
        with pytest.raises(LLMError, match="returned a malformed reply: no 'choices' list in the body"):
            client.complete(PROMPT, n=1, temperature=0.5)


def test_non_json_body_message_quotes_its_start() -> None:
    with (
        FakeLLMServer(responder=lambda r: Reply(raw_body=b"<html>proxy error</html>")) as server,
        ChatClient(fast_config(server.url, max_retries=0)) as client,
        pytest.raises(LLMError) as caught,
    ):
        client.complete(PROMPT, n=1, temperature=0.5)
    assert "body is not JSON (starts '<html>proxy error</html>')" in str(caught.value)


def test_rejected_json_mode_and_n_are_dropped() -> None:
    def responder(request):
        if "response_format" in request.body:
            return Reply.error(400, "response_format is not supported")
        if request.body.get("n", 1) > 1:
            return Reply.error(400, "only one choice allowed")
        return Reply.text("plain")

    with (
        FakeLLMServer(responder=responder) as server,
        ChatClient(fast_config(server.url, max_retries=0)) as client,
    ):
        assert [c.text for c in client.complete(PROMPT, n=2, temperature=0.5)] == ["plain", "plain"]
        assert [c.text for c in client.complete(PROMPT, n=1, temperature=0.5)] == ["plain"]
    kinds = [("response_format" in r.body, r.body.get("n")) for r in server.requests]
    assert kinds == [(True, 2), (False, 2), (False, None), (False, None), (False, None)]


def test_other_400_is_reported_with_detail() -> None:
    with FakeLLMServer(responder=lambda r: Reply.error(400, "temperature out of range")) as server:
        config = fast_config(server.url, json_mode=False)
        with ChatClient(config) as client, pytest.raises(LLMError) as caught:
            client.complete(dclip_prompt("tench"), n=1, temperature=0.0)
    assert str(caught.value) == f"LLM endpoint {server.url} answered 400 Bad Request: temperature out of range."
    assert len(server.requests) == 1


def test_repr_hides_the_key() -> None:
    client = ChatClient(fast_config("http://127.0.0.1:9/v1"))
    try:
        assert SECRET_KEY not in repr(client)
        assert "endpoint http://127.0.0.1:9/v1, model test-model" in repr(client)
    finally:
        client.close()
