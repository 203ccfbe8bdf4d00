"""Text-embedding cache across restarts, recovery from bad cache files, image cache."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from prompting.encoding.embeddings import EncodeStats, ImageEmbeddingCache, reset_stores, text_store
from prompting.encoding.models import load_model
from tests.conftest import make_image

PROMPTS = ["a photo of a cat.", "a photo of a dog.", "art of the crane.", "a photo of a cat."]


def test_cache_serves_repeats_and_survives_a_restart(tiny_clip_dir: Path, isolated_cache: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    first_stats = EncodeStats()
    first = text_store(encoder).embed(PROMPTS, stats=first_stats)
    assert first_stats.as_dict() == {"prompts_encoded": 3, "prompts_cached": 0, "prompts_shared": 0}
    np.testing.assert_allclose(first[0], first[3])

    again = EncodeStats()
    text_store(encoder).embed(PROMPTS[:2], stats=again)
    assert again.as_dict() == {"prompts_encoded": 0, "prompts_cached": 2, "prompts_shared": 0}
    again_in_the_same_run = text_store(encoder).embed(PROMPTS[1:3] + ["a bird."], stats=again)
    assert again.as_dict() == {"prompts_encoded": 1, "prompts_cached": 3, "prompts_shared": 1}
    np.testing.assert_array_equal(again_in_the_same_run[:2], first[1:3])

    reset_stores()  # as a new process would: only the disk cache remains
    restarted = EncodeStats()
    loaded = text_store(encoder).embed(PROMPTS + ["a new prompt."], stats=restarted)
    assert restarted.as_dict() == {"prompts_encoded": 1, "prompts_cached": 3, "prompts_shared": 0}
    np.testing.assert_array_equal(loaded[:4], first)
    assert len(list((isolated_cache / "text").rglob("*.npz"))) == 3


def test_cached_vectors_equal_fresh_encodes_in_order(tiny_clip_dir: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    prompts = [f"a photo of {'a big ' * k}cat." for k in range(10, 0, -1)]  # decreasing lengths
    batched = text_store(encoder).embed(prompts)
    one_by_one = np.stack([encoder.encode_text([p])[0] for p in prompts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


@pytest.mark.parametrize("content", [b"garbage, not an npz file", b""])
def test_corrupt_cache_file_is_set_aside_and_rebuilt(
    tiny_clip_dir: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    encoder = load_model(str(tiny_clip_dir))
    store = text_store(encoder)
    store.embed(PROMPTS)
    shard = next(store.directory.glob("*.npz"))
    shard.write_bytes(content)
    reset_stores()
    with caplog.at_level(logging.WARNING):
        stats = EncodeStats()
        text_store(encoder).embed(PROMPTS, stats=stats)
    assert stats.prompts_encoded == 3
    assert shard.with_name(shard.name + ".corrupt").exists()
    assert "unusable" in caplog.text


def test_foreign_cache_file_is_detected(tiny_clip_dir: Path, tiny_siglip_dir: Path, caplog) -> None:
    clip_store = text_store(load_model(str(tiny_clip_dir)))
    clip_store.embed(["cat"])
    siglip_store = text_store(load_model(str(tiny_siglip_dir)))
    assert siglip_store.directory != clip_store.directory
    siglip_store.directory.mkdir(parents=True, exist_ok=True)
    foreign = next(clip_store.directory.glob("*.npz"))
    (siglip_store.directory / foreign.name).write_bytes(foreign.read_bytes())
    reset_stores()
    with caplog.at_level(logging.WARNING):
        stats = EncodeStats()
        text_store(load_model(str(tiny_siglip_dir))).embed(["cat"], stats=stats)
    assert stats.prompts_encoded == 1
    assert "another model" in caplog.text


def test_image_cache_encodes_each_image_once(tiny_clip_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    encoder = load_model(str(tiny_clip_dir))
    calls: list[int] = []
    original = encoder.encode_images
    monkeypatch.setattr(encoder, "encode_images", lambda images: calls.append(len(images)) or original(images))
    cache = ImageEmbeddingCache()
    images = [Image.open(make_image(tmp_path / f"{i}.png", i)).convert("RGB") for i in range(3)]
    first = cache.embed(encoder, images)
    second = cache.embed(encoder, [images[2], images[0]])
    assert calls == [3]
    np.testing.assert_array_equal(second, first[[2, 0]])
