"""generate_cupl / generate_dclip / generate_concept end to end against the local fake server."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fake_llm_server import (
    SECRET_KEY,
    FakeLLMServer,
    Recorded,
    Reply,
    fast_config,
    unused_port,
)

from prompting.errors import ClassListError, LLMError
from prompting.llm.generate import generate_concept, generate_cupl, generate_dclip
from prompting.llm.prompts import CUPL_IMAGENET_QUESTIONS, DCLIP_MAX_TOKENS

CLASSES = ["tench", "axolotl", "goldfish"]


def _class_of(request: Recorded) -> str:
    asked = request.last_user_message
    return next(name for name in sorted(CLASSES, key=len, reverse=True) if name in asked)


def _question_index(request: Recorded) -> int:
    asked = request.last_user_message
    stems = [q.split("a(n)")[0] for q in CUPL_IMAGENET_QUESTIONS]
    return max(i for i, stem in enumerate(stems) if asked.startswith(stem))


def cupl_replies(request: Recorded) -> Reply:
    """A JSON sentence per choice, naming the class and question; honours n."""
    sentence = f"A {_class_of(request)} seen by question {_question_index(request)}"
    return Reply(contents=(json.dumps({"sentence": sentence}),), echo_n=True)


def dclip_replies(request: Recorded) -> Reply:
    name = _class_of(request)
    return Reply.text(f"There are several useful visual features:\n- {name} fins\n- {name} scales\n")


def test_cupl_sentences_per_class_and_cache_hits_on_second_run() -> None:
    with FakeLLMServer(responder=cupl_replies) as server:
        config = fast_config(server.url)
        first = generate_cupl(CLASSES, config, n=3)
        assert len(server.requests) == 15
        second = generate_cupl(CLASSES, config, n=3)
        assert len(server.requests) == 15  # nothing paid twice
    assert first.ok and list(first.descriptions) == CLASSES
    assert first.descriptions["axolotl"][:3] == ["A axolotl seen by question 0."] * 3
    assert len(first.descriptions["tench"]) == 15
    assert all(s.endswith(".") for s in first.descriptions["goldfish"])
    assert (first.cached, first.requested) == (0, 15)
    assert (second.cached, second.requested) == (15, 0)
    assert second.descriptions == first.descriptions
    asked = {r.last_user_message for r in server.requests}
    assert "What does an axolotl look like?" in asked and "A caption of an image of a tench:" in asked
    assert {r.body["n"] for r in server.requests} == {3}
    assert {r.body["temperature"] for r in server.requests} == {0.99}


def test_cache_is_keyed_by_n_temperature_and_model() -> None:
    with FakeLLMServer(responder=cupl_replies) as server:
        config = fast_config(server.url)
        generate_cupl(["tench"], config, n=2)
        generate_cupl(["tench"], config, n=3)
        generate_cupl(["tench"], config, n=3, temperature=0.5)
        generate_cupl(["tench"], replace(config, model="other-model"), n=3, temperature=0.5)
        assert len(server.requests) == 20


def test_custom_questions() -> None:
    with FakeLLMServer(responder=lambda r: Reply.text('{"sentence": "Green."}', echo_n=True)) as server:
        report = generate_cupl(["eel"], fast_config(server.url), questions=["What colour is a(n) {}?"], n=2)
    assert report.descriptions == {"eel": ["Green.", "Green."]}
    assert [r.last_user_message for r in server.requests] == ["What colour is an eel?"]


def test_server_ignoring_n_still_yields_n_answers() -> None:
    with FakeLLMServer(responder=lambda r: Reply.text('{"sentence": "Green."}')) as server:
        report = generate_cupl(["eel"], fast_config(server.url), questions=["Describe a(n) {}"], n=4)
    assert report.descriptions == {"eel": ["Green."] * 4}
    assert [r.body.get("n") for r in server.requests] == [4, 3, 2, None]


def test_progress_reports_every_class() -> None:
    calls: list[tuple[int, int, str]] = []
    with FakeLLMServer(responder=dclip_replies) as server:
        generate_dclip(CLASSES, fast_config(server.url), progress=lambda d, t, m: calls.append((d, t, m)))
    assert [(d, t) for d, t, _ in calls] == [(1, 3), (2, 3), (3, 3)]
    assert sorted(m for _, _, m in calls) == sorted(f"{name}: 2 descriptors" for name in CLASSES)


def test_parallelism_is_bounded_by_concurrency() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def slow(request: Recorded) -> Reply:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return Reply.text("- fins\n- tail")

    names = [f"fish {i}" for i in range(8)]
    with FakeLLMServer(responder=slow) as server:
        report = generate_dclip(names, fast_config(server.url, concurrency=2))
    assert report.ok and len(report.descriptions) == 8
    assert state["peak"] == 2


def test_dclip_bullets_and_json_replies() -> None:
    with FakeLLMServer() as server:
        server.queue(
            Reply.text("A: There are several useful visual features:\n- olive body\n- red eyes."),
        )
        config = fast_config(server.url, concurrency=1)
        assert generate_dclip(["tench"], config).descriptions == {"tench": ["olive body", "red eyes"]}
        server.queue(Reply.text('```json\n{"features": ["orange body", "long fins"]}\n```'))
        assert generate_dclip(["goldfish"], config).descriptions == {"goldfish": ["orange body", "long fins"]}
    body = server.requests[0].body
    assert body["temperature"] == 0.0 and "n" not in body
    assert body["messages"][-1]["content"] == "Q: What are useful features for distinguishing a tench in a photo?"


def test_reply_cut_by_length_is_retried_with_more_room() -> None:
    with FakeLLMServer() as server:
        server.queue(Reply.text("- olive body\n- red", finish_reason="length"), Reply.text("- olive body\n- red eyes"))
        report = generate_dclip(["tench"], fast_config(server.url))
    assert report.descriptions == {"tench": ["olive body", "red eyes"]}
    assert [r.body["max_tokens"] for r in server.requests] == [DCLIP_MAX_TOKENS, 2 * DCLIP_MAX_TOKENS]


def test_persistent_length_cut_is_reported_for_that_class_only() -> None:
    def replies(request: Recorded) -> Reply:
        if _class_of(request) == "axolotl":
            return Reply.text("- pink\n- gi", finish_reason="length")
        return dclip_replies(request)

    with FakeLLMServer(responder=replies) as server:
        report = generate_dclip(CLASSES, fast_config(server.url, max_retries=2))
    assert list(report.descriptions) == ["tench", "goldfish"]
    assert list(report.failures) == ["axolotl"]
    assert "cut off at the length limit" in report.failures["axolotl"]
    assert server.url in report.failures["axolotl"]
    assert sum(_class_of(r) == "axolotl" for r in server.requests) == 3


def test_empty_reply_is_retried() -> None:
    with FakeLLMServer() as server:
        server.queue(Reply.text(""), Reply.text("- fins\n- scales"))
        report = generate_dclip(["tench"], fast_config(server.url))
    assert report.descriptions == {"tench": ["fins", "scales"]} and len(server.requests) == 2


def test_unparsable_replies_are_reported_never_written() -> None:
    with FakeLLMServer(responder=lambda r: Reply.text("I'm sorry, I cannot help with that.")) as server:
        report = generate_dclip(["tench"], fast_config(server.url, max_retries=1))
        again = generate_dclip(["tench"], fast_config(server.url, max_retries=1))
    assert report.descriptions == {} and again.descriptions == {}
    assert 'could not be parsed ("I\'m sorry, I cannot help with that.")' in report.failures["tench"]
    assert len(server.requests) == 4  # a failure is not cached


def test_some_classes_fail_successes_are_kept_and_cached() -> None:
    broken = {"goldfish"}

    def replies(request: Recorded) -> Reply:
        return Reply.error(500, "overloaded") if _class_of(request) in broken else dclip_replies(request)

    with FakeLLMServer(responder=replies) as server:
        config = fast_config(server.url)
        report = generate_dclip(CLASSES, config)
        assert list(report.descriptions) == ["tench", "axolotl"]
        assert "500 Internal Server Error: overloaded; gave up after 3 attempts" in report.failures["goldfish"]
        assert report.summary() == (
            "Descriptions for 2 of 3 classes (0 answers from the cache, 3 requested); 1 failed."
        )
        broken.clear()
        before = len(server.requests)
        rerun = generate_dclip(CLASSES, config)
        assert [_class_of(r) for r in server.requests[before:]] == ["goldfish"]
    assert rerun.ok and (rerun.cached, rerun.requested) == (2, 1)


def test_cupl_class_fails_if_one_question_fails_and_other_answers_stay_cached() -> None:
    def replies(request: Recorded) -> Reply:
        if _question_index(request) == 2:
            return Reply.error(503, "busy")
        return cupl_replies(request)

    with FakeLLMServer(responder=replies) as server:
        config = fast_config(server.url, max_retries=0)
        report = generate_cupl(["tench"], config, n=2)
        assert report.descriptions == {}
        assert "(question: 'What does a tench look like?')" in report.failures["tench"]
        assert "503 Service Unavailable" in report.failures["tench"]
        server.responder = cupl_replies
        before = len(server.requests)
        rerun = generate_cupl(["tench"], config, n=2)
        assert [r.last_user_message for r in server.requests[before:]] == ["What does a tench look like?"]
    assert len(rerun.descriptions["tench"]) == 10 and (rerun.cached, rerun.requested) == (4, 1)


def test_cupl_failure_counts_every_failed_question() -> None:
    def replies(request: Recorded) -> Reply:
        return Reply.text("") if _question_index(request) in (1, 3) else cupl_replies(request)

    with FakeLLMServer(responder=replies) as server:
        report = generate_cupl(["tench"], fast_config(server.url, max_retries=0), n=1)
    assert report.failures["tench"].endswith(
        "the reply was empty. (question: 'How can you identify a tench?'); 1 more of 5 questions failed"
    )


def test_timeout_for_one_class_does_not_sink_the_batch() -> None:
    def replies(request: Recorded) -> Reply:
        reply = dclip_replies(request)
        reply.delay = 1.0 if _class_of(request) == "tench" else 0.0
        return reply

    with FakeLLMServer(responder=replies) as server:
        report = generate_dclip(CLASSES, fast_config(server.url, timeout=0.2, max_retries=1))
    assert list(report.descriptions) == ["axolotl", "goldfish"]
    assert "timed out after 0.2 s" in report.failures["tench"]


def test_fatal_error_stops_the_batch_early() -> None:
    names = [f"fish {i}" for i in range(12)]
    with FakeLLMServer(responder=lambda r: Reply.error(401, f"bad key {SECRET_KEY}")) as server:
        report = generate_dclip(names, fast_config(server.url, concurrency=2))
    assert len(report.failures) == 12 and not report.descriptions
    assert len(server.requests) <= 2
    assert all("401 Unauthorized: check OPENAI_API_KEY" in cause for cause in report.failures.values())
    assert any(cause.startswith("Not requested: ") for cause in report.failures.values())
    assert SECRET_KEY not in repr(report)


def test_connection_refused_batch() -> None:
    url = f"http://127.0.0.1:{unused_port()}/v1"
    report = generate_cupl(CLASSES, fast_config(url, max_retries=1, concurrency=1), n=2)
    assert set(report.failures) == set(CLASSES)
    assert "connection refused" in report.failures["tench"]


def test_cached_answers_are_used_even_when_the_endpoint_is_down() -> None:
    with FakeLLMServer(responder=dclip_replies) as server:
        generate_dclip(["tench"], fast_config(server.url))
        url = server.url
    report = generate_dclip(["tench", "axolotl"], fast_config(url, max_retries=0, concurrency=1))
    assert report.descriptions == {"tench": ["tench fins", "tench scales"]}
    assert "connection refused" in report.failures["axolotl"]


def test_no_secret_reaches_the_cache(isolated_cache: Path) -> None:
    with FakeLLMServer(responder=cupl_replies) as server:
        generate_cupl(["tench"], fast_config(server.url), n=1)
    files = list(isolated_cache.rglob("*.json"))
    assert len(files) == 5
    assert all(SECRET_KEY not in f.read_text(encoding="utf-8") for f in files)


def test_an_answer_cached_with_a_secret_is_redacted_when_read_back(isolated_cache: Path) -> None:
    with FakeLLMServer(responder=dclip_replies) as server:
        generate_dclip(["tench"], fast_config(server.url))
        [entry] = list(isolated_cache.rglob("*.json"))
        data = json.loads(entry.read_text(encoding="utf-8"))
        data["values"] = [f"tench fins {SECRET_KEY}"]  # as written by a version that did not redact
        entry.write_text(json.dumps(data), encoding="utf-8")
        report = generate_dclip(["tench"], fast_config(server.url))
    assert report.cached == 1
    assert report.descriptions == {"tench": ["tench fins [redacted]"]}


def test_concept() -> None:
    names = [f"bird_{i}" for i in range(40)]
    with FakeLLMServer() as server:
        server.queue(Reply.text('{"concept": "They are all birds."}'))
        assert generate_concept(names, fast_config(server.url)) == "bird"
        assert generate_concept(names, fast_config(server.url)) == "bird"  # cached
    [request] = server.requests
    asked = request.last_user_message
    assert asked.startswith("Q: Tell me in five words or less what bird ")
    assert asked.endswith(" have in common. It may be nothing.")
    assert asked.count("bird ") == 25 and "_" not in asked
    assert request.body["temperature"] == 0.0


def test_concept_failure_raises() -> None:
    with (
        FakeLLMServer(responder=lambda r: Reply.text("These are all sorts of different things, really")) as server,
        pytest.raises(LLMError, match="gave no usable answer in 3 tries"),
    ):
        generate_concept(["cat", "dog"], fast_config(server.url))


def test_empty_class_list() -> None:
    with pytest.raises(ClassListError):
        generate_dclip([" ", ""], fast_config("http://127.0.0.1:9/v1"))


def test_cupl_defaults_ask_each_question_for_ten_answers_at_temperature_0_99() -> None:
    # CuPL's reference settings: 10 answers per question at temperature 0.99, 5 questions -> 50 sentences
    with FakeLLMServer(responder=cupl_replies) as server:
        report = generate_cupl(["tench"], fast_config(server.url))
    assert [r.body.get("n") for r in server.requests] == [10] * 5
    assert [r.body.get("temperature") for r in server.requests] == [0.99] * 5
    assert [_question_index(r) for r in server.requests] == [0, 1, 2, 3, 4]
    sentences = report.descriptions["tench"]
    assert len(sentences) == 50
    assert sentences[:10] == ["A tench seen by question 0."] * 10
    assert sentences[40:] == ["A tench seen by question 4."] * 10
    assert (report.cached, report.requested) == (0, 5)


def test_the_key_echoed_in_429_and_500_bodies_never_reaches_logs_errors_or_reprs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging
    import traceback

    caplog.set_level(logging.DEBUG, logger="prompting")
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def replies(request: Recorded) -> Reply:
        asked = request.last_user_message
        name = next((c for c in CLASSES if c in asked), "concept")
        with lock:
            seen[name] = seen.get(name, 0) + 1
            attempt = seen[name]
        if name == "tench" and attempt == 3:
            return dclip_replies(request)  # recovers on its last try
        if attempt % 2:
            return Reply.error(429, f"Rate limit reached for key {SECRET_KEY}", headers={"retry-after-ms": "1"})
        return Reply.error(500, f"upstream failed; Authorization: Bearer {SECRET_KEY} (key {SECRET_KEY})")

    with FakeLLMServer(responder=replies) as server:
        config = fast_config(server.url, max_retries=2, concurrency=1)
        report = generate_dclip(["tench", "axolotl"], config)
        with pytest.raises(LLMError) as caught:
            generate_concept(["cat", "dog"], config)
    assert report.descriptions == {"tench": ["tench fins", "tench scales"]}
    failure = report.failures["axolotl"]
    assert failure.startswith(f"LLM endpoint {server.url} answered 429 Too Many Requests (rate limited): ")
    assert "[redacted]" in failure and "gave up after 3 attempts" in failure
    error = caught.value
    assert "[redacted]" in str(error) and "gave up after 3 attempts" in str(error)
    # the retries were logged, with the server's detail (redacted) in the message
    retries = [r for r in caplog.records if r.name == "prompting.llm.client"]
    assert len(retries) == 2 + 2 + 2  # tench, axolotl and the concept each retried twice
    assert any("429 Too Many Requests (rate limited)" in r.getMessage() for r in retries)
    assert any("500 Internal Server Error" in r.getMessage() for r in retries)
    assert all("[redacted]" in r.getMessage() for r in retries)
    texts = [r.getMessage() for r in caplog.records] + [caplog.text, failure, repr(report), str(error), repr(error)]
    texts.append("".join(traceback.format_exception(error)))
    assert [text for text in texts if SECRET_KEY in text] == []
    assert "Bearer" not in caplog.text
