"""FuDD's language-model side: our prompt, the reply parser, and generate_fudd against the local
fake server (normal, malformed, missing-pair and failing replies; cache per pair)."""

from __future__ import annotations

import json
import re

import pytest
from fake_llm_server import FakeLLMServer, Recorded, Reply, fast_config

from prompting.errors import ClassListError
from prompting.llm.generate import generate_fudd
from prompting.llm.parsing import clean_caption, parse_differences
from prompting.llm.prompts import FUDD_SYSTEM, fudd_prompt
from prompting.strategies.fudd_pairs import Difference

ASKED = re.compile(r"First class: (.*?)\. Second class: (.*?)\. ")


def asked_pair(request: Recorded) -> tuple[str, str]:
    match = ASKED.match(request.last_user_message)
    assert match is not None
    return match.group(1), match.group(2)


def differences(first: str, second: str, attributes: tuple[str, ...] = ("size", "colour")) -> str:
    return json.dumps({"differences": [
        {"attribute": a, "first": f"a photo of a {first}, {a} of a {first}.", "second": f"a photo of a {second}, {a} "
         f"of a {second}."} for a in attributes]})


def good(request: Recorded) -> Reply:
    return Reply.text(differences(*asked_pair(request)))


def test_the_prompt_is_ours_with_one_worked_example_and_asks_for_json() -> None:
    prompt = fudd_prompt("axolotl", "tiger_salamander")
    roles = [role for role, _ in prompt.messages]
    assert roles == ["system", "user", "assistant", "user"] and prompt.json_reply
    assert prompt.messages[0][1] == FUDD_SYSTEM and '"differences"' in FUDD_SYSTEM
    assert prompt.messages[-1][1] == ("First class: axolotl. Second class: tiger salamander. What visual differences "
                                      "tell a photo of an axolotl from a photo of a tiger salamander?")
    example = json.loads(prompt.messages[2][1])["differences"]
    assert len(example) == 3 and all(item["first"].startswith("a photo of a cheetah,") for item in example)


def test_replies_parse_from_json_names_or_the_authors_keys_and_bad_items_are_dropped() -> None:
    reply = "```json\n" + json.dumps({"differences": [
        {"attribute": "ears", "first": "a photo of a ragdoll, with large rounded ears", "second": "small ears"},
        {"Attribute": "size", "Japanese_Chin": "tiny body", "ragdoll": "a photo of a ragdoll, with a large body."},
        {"attr_type": "coat", "prompt_pair": ["a photo of a japanese chin, silky coat.", "plush coat"]},
        {"attribute": "missing", "first": "only one side"},
        {"attribute": "same", "first": "a photo of a x, furry.", "second": "A photo of a X, furry."},
        "not an item",
    ]}) + "\n```"
    parsed = parse_differences(reply, "Japanese_Chin", "ragdoll")
    assert parsed == [
        ("ears", "a photo of a ragdoll, with large rounded ears.", "a photo of a ragdoll, small ears."),
        ("size", "a photo of a Japanese Chin, tiny body.", "a photo of a ragdoll, with a large body."),
        ("coat", "a photo of a japanese chin, silky coat.", "a photo of a ragdoll, plush coat."),
    ]
    assert parse_differences(json.dumps([{"first": "a photo of an owl.", "second": "a photo of a hawk."}]), "owl",
                             "hawk") == [("", "a photo of an owl.", "a photo of a hawk.")]
    assert parse_differences("Owls have round faces.", "owl", "hawk") == []
    assert len(parse_differences(differences("a", "b", tuple("pqrstuvwxyz")), "a", "b", limit=4)) == 4
    assert clean_caption("- “With huge ears!”", "fennec") == "a photo of a fennec, with huge ears."
    assert clean_caption("x" * 400, "owl") is None and clean_caption(" 12 ", "owl") is None


def test_one_request_per_unordered_pair_answers_turned_to_each_asked_order_and_cached() -> None:
    with FakeLLMServer(responder=good) as server:
        config = fast_config(server.url)
        report = generate_fudd([("heron", "crane"), ("crane", "heron"), ("cat", "dog")], config)
        assert len(server.requests) == 2
        again = generate_fudd([("crane", "heron")], config)
        assert len(server.requests) == 2  # the reversed pair is the same cached answer
    assert sorted(asked_pair(r) for r in server.requests) == [("cat", "dog"), ("crane", "heron")]
    assert (report.cached, report.requested, again.cached, again.requested) == (0, 2, 1, 0)
    heron_crane, cat_dog = report.pairs
    assert (heron_crane.first, heron_crane.second) == ("heron", "crane")
    assert heron_crane.differences[0] == Difference("size", "a photo of a heron, size of a heron.",
                                                    "a photo of a crane, size of a crane.")
    assert again.pairs[0].differences[0] == heron_crane.differences[0].swapped()
    assert cat_dog.differences[1].attribute == "colour"
    assert report.summary() == "Differences for 2 of 2 pairs (0 answers from the cache, 2 requested)."
    assert {r.body["temperature"] for r in server.requests} == {0.0}


def test_a_malformed_reply_is_asked_again() -> None:
    with FakeLLMServer(responder=good) as server:
        server.queue(Reply.text("Sure! Herons and cranes differ in many ways."))
        report = generate_fudd([("crane", "heron")], fast_config(server.url))
    assert len(server.requests) == 2 and report.requested == 1 and not report.failures
    assert len(report.pairs[0].differences) == 2


def test_a_reply_missing_one_side_of_the_pair_is_never_kept() -> None:
    def one_sided(request: Recorded) -> Reply:
        if asked_pair(request)[0] == "crane":
            return Reply.text(json.dumps({"differences": [{"attribute": "neck", "first": "straight neck"}]}))
        return good(request)

    with FakeLLMServer(responder=one_sided) as server:
        report = generate_fudd([("crane", "heron"), ("cat", "dog")], fast_config(server.url, max_retries=1))
    assert [(p.first, p.second) for p in report.pairs] == [("cat", "dog")]
    assert list(report.failures) == ["crane | heron"]
    assert "no usable answer in 2 tries" in report.failures["crane | heron"]
    assert sum(1 for r in server.requests if asked_pair(r) == ("crane", "heron")) == 2


def test_a_failing_pair_is_reported_and_the_others_kept() -> None:
    def flaky(request: Recorded) -> Reply:
        return Reply.error(500, "overloaded") if asked_pair(request)[0] == "cat" else good(request)

    with FakeLLMServer(responder=flaky) as server:
        report = generate_fudd([("crane", "heron"), ("cat", "dog")], fast_config(server.url, max_retries=1))
        assert [(p.first, p.second) for p in report.pairs] == [("crane", "heron")]
        assert "cat | dog" in report.failures and "500" in report.failures["cat | dog"]
        server.responder = good
        rerun = generate_fudd([("crane", "heron"), ("cat", "dog")], fast_config(server.url))
    assert (rerun.cached, rerun.requested) == (1, 1) and not rerun.failures  # only the failure is paid again


def test_a_refused_key_stops_the_batch() -> None:
    with FakeLLMServer(responder=lambda request: Reply.error(401, "bad key")) as server:
        report = generate_fudd([("a", "b"), ("c", "d"), ("e", "f"), ("g", "h")], fast_config(server.url,
                                                                                             concurrency=1))
    assert not report.pairs and len(report.failures) == 4 and len(server.requests) == 1


def test_bad_pairs_are_refused_before_any_request() -> None:
    for pairs, message in (([], "no class pairs"), ([("a", "A")], "same class twice"), ([("a", " ")], "empty")):
        with pytest.raises(ClassListError, match=message):
            generate_fudd(pairs, fast_config("http://127.0.0.1:9/v1"))
