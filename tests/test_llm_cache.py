"""The persistent answer cache: keys, restarts, corruption, concurrency."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from prompting.llm.cache import CacheKey, LLMCache

KEY = CacheKey("http://127.0.0.1:1/v1", "llama3", "cupl", '[["user", "What does a tench look like?"]]', "tench", 0.99, 10)



def test_round_trip_under_cache_dir(tmp_path: Path) -> None:
    cache = LLMCache()
    assert cache.root == tmp_path / "cache" / "llm"
    assert cache.get(KEY) is None
    cache.put(KEY, ["A green fish.", "A fish in a net."])
    assert cache.get(KEY) == ["A green fish.", "A fish in a net."]
    assert LLMCache().get(KEY) == ["A green fish.", "A fish in a net."]  # survives a restart
    assert cache.path(KEY).is_relative_to(cache.root)


@pytest.mark.parametrize(
    "change",
    [
        {"endpoint": "http://127.0.0.1:2/v1"}, {"model": "qwen"}, {"method": "dclip"}, {"prompt": "other"},
        {"class_name": "goldfish"}, {"temperature": 0.5}, {"n": 9},
    ],
)
def test_every_key_field_matters(change: dict) -> None:
    cache = LLMCache()
    cache.put(KEY, ["A green fish."])
    assert cache.get(replace(KEY, **change)) is None


def test_int_and_float_temperature_are_the_same_key() -> None:
    assert replace(KEY, temperature=0).digest() == replace(KEY, temperature=0.0).digest()


def test_corrupt_entry_is_quarantined_and_rebuilt(caplog: pytest.LogCaptureFixture) -> None:
    cache = LLMCache()
    cache.put(KEY, ["A green fish."])
    path = cache.path(KEY)
    path.write_text('{"format": 1, "key": {"endp', encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert cache.get(KEY) is None
    assert "unreadable" in caplog.text and "regenerated" in caplog.text
    assert not path.exists()
    assert path.with_name(path.name + ".corrupt").exists()
    cache.put(KEY, ["A new answer."])
    assert cache.get(KEY) == ["A new answer."]


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        {"format": 1, "key": {"endpoint": "elsewhere"}, "values": ["x"]},
        {"format": 1, "key": None, "values": ["x"]},
    ],
)
def test_foreign_entry_is_quarantined(payload: object, caplog: pytest.LogCaptureFixture) -> None:
    cache = LLMCache()
    path = cache.path(KEY)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(payload), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert cache.get(KEY) is None
    assert "not an entry for this request" in caplog.text
    assert path.with_name(path.name + ".corrupt").exists()


def test_malformed_values_are_quarantined() -> None:
    cache = LLMCache()
    cache.put(KEY, ["ok"])
    entry = json.loads(cache.path(KEY).read_text(encoding="utf-8"))
    entry["values"] = ["ok", 3]
    cache.path(KEY).write_text(json.dumps(entry), encoding="utf-8")
    assert cache.get(KEY) is None
    assert not cache.path(KEY).exists()


def test_concurrent_writers_and_readers() -> None:
    cache = LLMCache()
    keys = [replace(KEY, class_name=f"class {i}") for i in range(20)]
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for round_ in range(5):
                for key in keys:
                    cache.put(key, [f"{key.class_name} by {worker} in {round_}"])
                    value = cache.get(key)
                    assert value is not None and value[0].startswith(key.class_name)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(cache.get(key) is not None for key in keys)
    assert not list(cache.root.rglob("*.tmp")) and not list(cache.root.rglob("*.corrupt"))

