"""Shared fixtures: offline hub, per-test cache dir, tiny CLIP/SigLIP checkpoints, image folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from tests.tiny_models import build_tiny_clip, build_tiny_siglip  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own persistent-cache directory and no LLM settings (OPENAI_*, ZSP_LLM_*)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ZSP_CACHE_DIR", str(cache))
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "ZSP_LLM_")):
            monkeypatch.delenv(name)
    from prompting.encoding.embeddings import reset_stores

    reset_stores()
    return cache


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random CLIP checkpoint saved with save_pretrained."""
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def tiny_siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random SigLIP checkpoint saved with save_pretrained."""
    return build_tiny_siglip(tmp_path_factory.mktemp("tiny-siglip"))


def make_image(path: Path, seed: int, size: tuple[int, int] = (40, 32)) -> Path:
    """Write a small random RGB image (distinct per seed)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def labeled_folder(tmp_path: Path) -> Path:
    """An image-folder dataset: 3 classes x 2 images, plus one unreadable file."""
    root = tmp_path / "labeled"
    seed = 0
    for name in ("bird", "cat", "dog"):
        for index in range(2):
            make_image(root / name / f"{name}{index}.png", seed)
            seed += 1
    (root / "cat" / "broken.jpg").write_bytes(b"this is not a jpeg")
    return root


@pytest.fixture
def flat_folder(tmp_path: Path) -> Path:
    """A flat folder of three unlabelled images."""
    root = tmp_path / "flat"
    for index in range(3):
        make_image(root / f"img{index}.png", 100 + index)
    return root
