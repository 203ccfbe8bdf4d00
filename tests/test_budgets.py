"""The per-run work budget: prompts to encode and pixels to decode, estimated and refused up front."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from prompting.classes import parse_class_list
from prompting.encoding.embeddings import text_store
from prompting.encoding.models import DualEncoder, load_model
from prompting.errors import BudgetError
from prompting.evaluation.compare import ImageInput
from prompting.service.budgets import estimate_prompts, planned_prompts
from prompting.service.config import RunLimits
from prompting.service.workflows import StrategyInputs, build_specs, run_models
from prompting.strategies.registry import StrategySpec
from prompting.strategies.waffle import WaffleOptions
from tests.conftest import make_image

CLASSES = parse_class_list("cat\ndog | small dog\nbird")


def header_only_png(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` in its header and holds no pixel data: a few
    bytes on disk, as the 197 kB 8000 x 8000 file of the report was small."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    return path


def test_prompt_counts_per_strategy_without_listing_waffle() -> None:
    classes = parse_class_list("\n".join(f"class {i}" for i in range(1000)))
    waffle = StrategySpec("waffle", waffle=WaffleOptions(n_words=100, n_chars=100, seeds=tuple(range(10))))
    assert planned_prompts(waffle, classes) == 2_000_000  # the report's 2.28 M-prompt request, by arithmetic
    assert planned_prompts(StrategySpec("ensemble80"), CLASSES) == 240
    assert planned_prompts(StrategySpec("template", templates=["a {}.", "the {}."]), CLASSES) == 6
    assert planned_prompts(StrategySpec("cupl", descriptions={"cat": ["a"]}), CLASSES) == 0  # cannot be built


def test_cached_prompts_are_free_unless_listing_them_is_itself_too_much() -> None:
    specs = [StrategySpec("ensemble7"), StrategySpec("classname")]

    def all_cached(prompts: set[str]) -> int:
        return len(prompts)

    assert estimate_prompts(specs, CLASSES, [all_cached], budget=100) == {"7-template ensemble": 21, "Class name": 3}
    assert estimate_prompts(specs, CLASSES, [all_cached], budget=10) == {"7-template ensemble": 0, "Class name": 0}
    assert estimate_prompts(specs, CLASSES, [all_cached, all_cached], budget=5) == {"7-template ensemble": 42,
                                                                                    "Class name": 6}


def test_a_run_over_the_prompt_budget_is_refused_before_encoding(
    tmp_path: Path, tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[int] = []
    encode_text = DualEncoder.encode_text
    monkeypatch.setattr(DualEncoder, "encode_text", lambda self, texts: encoded.append(len(texts)) or
                        encode_text(self, texts))
    images = [ImageInput(str(make_image(tmp_path / "a.png", 1)))]
    specs, _ = build_specs(["ensemble80", "classname"], StrategyInputs())
    with pytest.raises(BudgetError) as caught:
        run_models([str(tiny_clip_dir)], images, CLASSES, specs, limits=RunLimits(max_prompts_per_run=100))
    assert str(caught.value).startswith(
        "This run would encode about 243 new text prompts (80-template ensemble 240, Class name 3); this server "
        "encodes at most 100 per run.")
    assert encoded == []
    # once the prompts are cached (a run with room for them), the same request is within budget
    run_models([str(tiny_clip_dir)], images, CLASSES, specs, limits=RunLimits(max_prompts_per_run=300))
    assert sum(encoded) == 243
    record = run_models([str(tiny_clip_dir)], images, CLASSES, specs, limits=RunLimits(max_prompts_per_run=100))
    assert record.comparison.encoder_stats == {"prompts_encoded": 0, "prompts_cached": 243, "prompts_shared": 0,
                                                  "images_encoded": 0, "images_cached": 1}
    assert text_store(load_model(str(tiny_clip_dir))).count_cached({"bird", "a photo of a bird."}) == 2


def test_a_run_over_the_pixel_budget_is_refused_from_the_headers(tmp_path: Path, tiny_clip_dir: Path) -> None:
    big = [header_only_png(tmp_path / f"big{i}.png", 8000, 8000 - i) for i in range(2)]  # two contents
    assert big[0].stat().st_size < 100
    images = [ImageInput(str(path), name=path.name) for path in big]
    specs, _ = build_specs(["classname"], StrategyInputs())
    with pytest.raises(BudgetError) as caught:
        run_models([str(tiny_clip_dir)], images, CLASSES, specs, limits=RunLimits(max_pixels_per_run=100_000_000))
    assert str(caught.value) == (
        "These images would need 128 million pixels decoded (the largest, 'big0.png', 64 million); this server "
        "decodes at most 100 million per run. Send fewer or smaller images (JPEGs cost far less than PNGs of the "
        "same size: they are decoded at reduced size)."
    )
