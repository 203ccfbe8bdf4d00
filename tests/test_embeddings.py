"""The embedding cache: restarts, LRU by bytes, bad rows and files, kills part-way, settings."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from prompting.classes import as_class_names
from prompting.encoding import embeddings
from prompting.encoding.embeddings import (
    CACHE_FILE,
    EncodeStats,
    image_store,
    reset_stores,
    set_cache_limit,
    text_store,
    vector_cache,
)
from prompting.encoding.models import load_model
from prompting.encoding.vector_cache import VectorCache, row_size
from prompting.errors import CacheError
from prompting.evaluation import compare as compare_module
from prompting.evaluation.compare import Cancelled, ImageInput, compare, encode_images
from prompting.strategies.registry import StrategySpec
from tests.conftest import make_image

PROMPTS = ["a photo of a cat.", "a photo of a dog.", "art of the crane.", "a photo of a cat."]
CLASSES = as_class_names(["bird", "cat", "dog"])
REPO = Path(__file__).resolve().parents[1]


def _unit(rows: int, dim: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _images(folder: Path, count: int, start: int = 0) -> list[ImageInput]:
    return [ImageInput(str(make_image(folder / f"img{i}.png", i))) for i in range(start, start + count)]


def test_cache_serves_repeats_and_survives_a_restart(tiny_clip_dir: Path, isolated_cache: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    first_stats = EncodeStats()
    first = text_store(encoder).embed(PROMPTS, stats=first_stats)
    assert first_stats.as_dict() == {"prompts_encoded": 3, "prompts_cached": 0, "prompts_shared": 0,
                                     "images_encoded": 0, "images_cached": 0}
    np.testing.assert_allclose(first[0], first[3])

    again = EncodeStats()
    text_store(encoder).embed(PROMPTS[:2], stats=again)
    assert (again.prompts_encoded, again.prompts_cached, again.prompts_shared) == (0, 2, 0)
    again_in_the_same_run = text_store(encoder).embed(PROMPTS[1:3] + ["a bird."], stats=again)
    assert (again.prompts_encoded, again.prompts_cached, again.prompts_shared) == (1, 3, 1)
    np.testing.assert_array_equal(again_in_the_same_run[:2], first[1:3])

    reset_stores()  # as a new process would: only the file remains
    restarted = EncodeStats()
    loaded = text_store(encoder).embed(PROMPTS + ["a new prompt."], stats=restarted)
    assert (restarted.prompts_encoded, restarted.prompts_cached, restarted.prompts_shared) == (1, 3, 0)
    np.testing.assert_array_equal(loaded[:4], first)
    assert vector_cache().count() == 5 and (isolated_cache / CACHE_FILE).is_file()  # 3 + "a bird." + the new one


def test_cached_vectors_equal_fresh_encodes_in_order(tiny_clip_dir: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    prompts = [f"a photo of {'a big ' * k}cat." for k in range(10, 0, -1)]  # decreasing lengths
    batched = text_store(encoder).embed(prompts)
    one_by_one = np.stack([encoder.encode_text([p])[0] for p in prompts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_missing_counts_without_encoding(tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = load_model(str(tiny_clip_dir))
    store = text_store(encoder)
    store.embed(PROMPTS[:2])
    monkeypatch.setattr(encoder, "encode_text", lambda texts: pytest.fail("missing() must not encode"))
    assert store.missing(PROMPTS + ["new one.", "new one."]) == ["art of the crane.", "new one."]


def test_lru_evicts_least_recently_used_rows_by_bytes(tmp_path: Path) -> None:
    size = row_size("space", "key0", 8)
    cache = VectorCache(tmp_path / "lru.sqlite3", max_bytes=3 * size)
    vectors = _unit(5, 8)
    for index in range(3):
        cache.put("space", [f"key{index}"], vectors[index : index + 1])
    assert cache.total_bytes == 3 * size
    cache.get("space", ["key0"], 8)  # key0 is now the most recently used; key1 the least
    cache.put("space", ["key3"], vectors[3:4])
    assert cache.contains("space", [f"key{i}" for i in range(4)]) == {"key0", "key2", "key3"}
    cache.put("space", ["key4"], vectors[4:5])
    assert cache.contains("space", [f"key{i}" for i in range(5)]) == {"key0", "key3", "key4"}
    assert cache.total_bytes == 3 * size
    np.testing.assert_array_equal(cache.get("space", ["key4"], 8)["key4"], vectors[4])
    # the count survives reopening (it is kept in the file, in the same transactions)
    cache.close()
    assert VectorCache(tmp_path / "lru.sqlite3", max_bytes=3 * size).total_bytes == 3 * size


def test_operator_cache_size_bounds_the_file(tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = load_model(str(tiny_clip_dir))
    monkeypatch.setenv("ZSP_CACHE_MAX_MB", str(20 * row_size("x" * 24, "y" * 32, 32) / 2**20))
    reset_stores()
    prompts = [f"a photo of a cat number {i}." for i in range(50)]
    text_store(encoder).embed(prompts)
    assert vector_cache().count() == 20 and vector_cache().total_bytes <= vector_cache().max_bytes
    stats = EncodeStats()
    text_store(encoder).embed(prompts[-20:], stats=stats)  # the newest survived
    assert stats.prompts_cached == 20
    set_cache_limit(10 * 2**20)
    try:
        assert vector_cache().max_bytes == 10 * 2**20  # an operator setting overrides the variable
    finally:
        set_cache_limit(None)


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_a_bad_cache_size_is_a_clear_error(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZSP_CACHE_MAX_MB", value)
    with pytest.raises(CacheError, match=rf"ZSP_CACHE_MAX_MB must be a positive number of MiB .*got '{value}'"):
        vector_cache()


@pytest.mark.parametrize("content", [b"garbage, not a database file" * 100, b"SQLite format 3\x00" + b"\x01" * 5000])
def test_corrupt_cache_file_is_set_aside_and_rebuilt(
    tiny_clip_dir: Path, isolated_cache: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    encoder = load_model(str(tiny_clip_dir))
    expected = text_store(encoder).embed(PROMPTS)
    reset_stores()
    (isolated_cache / CACHE_FILE).write_bytes(content)
    for suffix in ("-wal", "-shm"):
        (isolated_cache / (CACHE_FILE + suffix)).unlink(missing_ok=True)
    with caplog.at_level(logging.WARNING):
        stats = EncodeStats()
        again = text_store(encoder).embed(PROMPTS, stats=stats)
    assert stats.prompts_encoded == 3
    np.testing.assert_allclose(again, expected, atol=1e-6)
    assert (isolated_cache / (CACHE_FILE + ".corrupt")).read_bytes() == content
    assert "unusable" in caplog.text
    reset_stores()
    assert text_store(encoder).missing(PROMPTS) == []  # the rebuilt file is kept


def _poison(space: str, keys: list[str], vectors: np.ndarray) -> None:
    """Overwrite rows behind the cache's back, as a foreign writer or a damaged disk would."""
    vector_cache().put(space, keys, vectors)


@pytest.mark.parametrize("kind", ["wrong dimension", "NaN", "not unit length"])
def test_bad_rows_under_the_right_keys_are_dropped_and_re_encoded(
    tiny_clip_dir: Path, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    encoder = load_model(str(tiny_clip_dir))
    inputs = _images(tmp_path / "imgs", 2)
    specs = [StrategySpec("classname")]
    clean = compare(encoder, inputs, CLASSES, specs)
    texts, images = text_store(encoder), image_store(encoder)
    text_keys = [embeddings._digest(name) for name in ("bird", "cat", "dog")]
    image_keys = [images.key(item.path) for item in inputs]
    bad = {
        "wrong dimension": _unit(3, 16),
        "NaN": np.full((3, 32), np.nan, dtype=np.float32),
        "not unit length": _unit(3, 32) * 3,
    }[kind]
    _poison(texts.space, text_keys, bad)
    _poison(images.space, image_keys, bad[:2])
    reset_stores()
    with caplog.at_level(logging.WARNING):
        again = compare(encoder, inputs, CLASSES, specs)
    assert again.encoder_stats == {"prompts_encoded": 3, "prompts_cached": 0, "prompts_shared": 0,
                                   "images_encoded": 2, "images_cached": 0}
    np.testing.assert_allclose(again.strategies["classname"].probabilities,
                               clean.strategies["classname"].probabilities, atol=1e-6)
    assert "were not finite unit vectors of dimension 32" in caplog.text
    reset_stores()
    assert compare(encoder, inputs, CLASSES, specs).encoder_stats["prompts_encoded"] == 0  # repaired


def test_each_model_reads_only_its_own_rows(tiny_clip_dir: Path, tiny_siglip_dir: Path) -> None:
    clip_store = text_store(load_model(str(tiny_clip_dir)))
    siglip_store = text_store(load_model(str(tiny_siglip_dir)))
    clip_store.embed(["cat"])
    assert siglip_store.space != clip_store.space
    assert siglip_store.missing(["cat"]) == ["cat"]
    int8_store = text_store(load_model(str(tiny_clip_dir), quantize="int8"))
    assert int8_store.space != clip_store.space and int8_store.missing(["cat"]) == ["cat"]


@pytest.mark.parametrize("make_bad", ["file", "inside a file"])
def test_a_cache_dir_that_is_a_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_bad: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    monkeypatch.setenv("ZSP_CACHE_DIR", str(blocker if make_bad == "file" else blocker / "cache"))
    reset_stores()
    with pytest.raises(CacheError, match=r"ZSP_CACHE_DIR.*(is a file|cannot be created)"):
        vector_cache()


def test_a_read_only_cache_dir_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    monkeypatch.setenv("ZSP_CACHE_DIR", str(folder))
    with pytest.raises(CacheError, match="is not writable"):
        vector_cache()


def test_a_write_failure_only_costs_the_caching(
    tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    encoder = load_model(str(tiny_clip_dir))
    cache = vector_cache()
    real = cache._db

    class FullDisk:
        def __getattr__(self, name):
            return getattr(real, name)

        def execute(self, sql, *args):
            if sql.startswith("BEGIN"):
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

    monkeypatch.setattr(cache, "_db", FullDisk())
    with caplog.at_level(logging.WARNING):
        vectors = text_store(encoder).embed(PROMPTS)
    assert vectors.shape == (4, 32) and "disk is full" in caplog.text
    monkeypatch.setattr(cache, "_db", real)
    assert text_store(encoder).missing(PROMPTS) == PROMPTS[:3]


def test_a_stopped_run_keeps_every_finished_batch_of_images_and_prompts(
    tiny_clip_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compare_module, "IMAGE_BATCH_SIZE", 2)
    monkeypatch.setattr(embeddings, "TEXT_BATCH_SIZE", 8)
    encoder = load_model(str(tiny_clip_dir))
    inputs = _images(tmp_path / "imgs", 5)
    specs = [StrategySpec("ensemble80")]

    def stop_after(marker: str):
        def progress(fraction: float, message: str) -> None:
            if marker in message:
                raise KeyboardInterrupt(message)
        return progress

    with pytest.raises(KeyboardInterrupt, match="Encoded 4 of 5 new images"):
        compare(encoder, inputs, CLASSES, specs, progress=stop_after("Encoded 4 of"))
    with pytest.raises(KeyboardInterrupt, match="encoded 24 of 240"):
        compare(encoder, inputs, CLASSES, specs, progress=stop_after("encoded 24 of"))
    reset_stores()
    resumed = compare(encoder, inputs, CLASSES, specs)
    assert resumed.encoder_stats == {"prompts_encoded": 240 - 24, "prompts_cached": 24, "prompts_shared": 0, "images_encoded": 0,
                                     "images_cached": 5}


KILLED_RUN = """
import sys, time
from prompting.classes import as_class_names
from prompting.encoding import embeddings
from prompting.encoding.models import load_model
from prompting.evaluation import compare as compare_module
from prompting.evaluation.compare import ImageInput, compare
from prompting.strategies.registry import StrategySpec

embeddings.TEXT_BATCH_SIZE = 8
compare_module.IMAGE_BATCH_SIZE = 2
model, marker, *paths = sys.argv[1:]

def progress(fraction, message):
    if marker in message:
        print("saved: " + message, flush=True)
        time.sleep(600)  # killed here

compare(load_model(model), [ImageInput(p) for p in paths], as_class_names(["bird", "cat", "dog"]),
        [StrategySpec("ensemble80")], progress=progress)
"""


@pytest.mark.parametrize(("marker", "expected"), [
    ("Encoded 2 of 5 new images", {"images_cached": 2, "prompts_cached": 0}),
    ("encoded 16 of 240 new prompts", {"images_cached": 5, "prompts_cached": 16}),
])
def test_a_killed_process_resumes_where_it_stopped(
    tiny_clip_dir: Path, tmp_path: Path, isolated_cache: Path, marker: str, expected: dict[str, int]
) -> None:
    inputs = _images(tmp_path / "imgs", 5)
    env = {**os.environ, "ZSP_CACHE_DIR": str(isolated_cache), "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(tiny_clip_dir), marker, *(item.path for item in inputs)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("saved: "), line
    finally:
        process.kill()
        process.wait(timeout=60)
    reset_stores()
    resumed = compare(load_model(str(tiny_clip_dir)), inputs, CLASSES, [StrategySpec("ensemble80")])
    stats = resumed.encoder_stats
    assert {key: stats[key] for key in expected} == expected
    assert stats["images_encoded"] == 5 - expected["images_cached"]
    assert stats["prompts_encoded"] == 240 - expected["prompts_cached"]


def test_images_are_cached_by_content_not_by_name(tiny_clip_dir: Path, tmp_path: Path, monkeypatch) -> None:
    encoder = load_model(str(tiny_clip_dir))
    calls: list[int] = []
    original = encoder.encode_images
    monkeypatch.setattr(encoder, "encode_images", lambda images: calls.append(len(images)) or original(images))
    first = encode_images(encoder, _images(tmp_path / "a", 3))
    copy = tmp_path / "b" / "renamed.png"
    copy.parent.mkdir()
    copy.write_bytes(Path(first.records[2].path).read_bytes())
    again = encode_images(encoder, [ImageInput(str(copy)), ImageInput(first.records[0].path)])
    assert calls == [3]
    assert (again.stats.images_encoded, again.stats.images_cached) == (0, 2)
    np.testing.assert_array_equal(again.vectors, first.vectors[[2, 0]])
    make_image(copy, seed=99)  # the same name with new content is a new image
    assert encode_images(encoder, [ImageInput(str(copy))]).stats.images_encoded == 1
    assert calls == [3, 1]


def test_concurrent_runs_share_one_cache(tiny_clip_dir: Path, tmp_path: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    inputs = _images(tmp_path / "imgs", 4)
    results: list[object] = []

    def run(names: list[str]) -> None:
        results.append(compare(encoder, inputs, as_class_names(names), [StrategySpec("ensemble7")]))

    threads = [threading.Thread(target=run, args=(names,)) for names in (["cat", "dog"], ["dog", "bird"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 2
    reset_stores()
    again = compare(encoder, inputs, as_class_names(["bird", "cat", "dog"]), [StrategySpec("ensemble7")])
    assert (again.encoder_stats["prompts_encoded"], again.encoder_stats["images_encoded"]) == (0, 0)


def test_a_stopped_image_run_raises_cancelled(tiny_clip_dir: Path, tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        encode_images(load_model(str(tiny_clip_dir)), _images(tmp_path, 2), cancel=stop)
