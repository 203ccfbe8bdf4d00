"""The loader and the family quirks, checked against the models' own forward pass."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from prompting.encoding.models import load_model
from prompting.errors import ModelLoadError

PROMPTS = ["a photo of a cat.", "a bad photo of the small red bird with long wings.", "dog"]


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    return [Image.fromarray(rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)) for _ in range(2)]


def test_clip_family_settings(tiny_clip_dir: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    assert encoder.family == "clip" and encoder.probability_kind == "softmax"
    assert encoder.text_settings.padding == "longest" and encoder.text_settings.max_length == 77
    assert encoder.logit_bias == 0.0
    assert encoder.identity.startswith("local:")


def test_siglip_family_settings(tiny_siglip_dir: Path) -> None:
    encoder = load_model(str(tiny_siglip_dir))
    assert encoder.family == "siglip" and encoder.probability_kind == "sigmoid"
    assert encoder.text_settings.padding == "max_length" and encoder.text_settings.max_length == 64
    tokens = encoder.processor.tokenizer(PROMPTS, padding="max_length", max_length=64, return_tensors="pt")
    assert tokens["input_ids"].shape == (3, 64)


@pytest.mark.parametrize("fixture", ["tiny_clip_dir", "tiny_siglip_dir"])
def test_logits_match_the_models_own_forward(fixture: str, request: pytest.FixtureRequest) -> None:
    """Our normalised embeddings + family rule reproduce model(...).logits_per_image."""
    encoder = load_model(str(request.getfixturevalue(fixture)))
    with torch.no_grad():  # a non-zero bias and scale make the check meaningful
        encoder.model.logit_scale.fill_(2.5)
        if encoder.family == "siglip":
            encoder.model.logit_bias.fill_(-3.0)
    encoder.logit_scale, encoder.logit_bias = float(np.exp(2.5)), (-3.0 if encoder.family == "siglip" else 0.0)
    images = _images()
    ours = encoder.logits(encoder.encode_images(images) @ encoder.encode_text(PROMPTS).T)
    settings = encoder.text_settings
    text = encoder.processor.tokenizer(PROMPTS, padding=settings.padding, max_length=settings.max_length,
                                       truncation=True, return_tensors="pt")
    if encoder.family == "siglip":  # SigLIP was trained without a text attention mask
        text = {"input_ids": text["input_ids"]}
    pixels = encoder.processor.image_processor(images=images, return_tensors="pt")
    with torch.inference_mode():
        reference = encoder.model(**text, **pixels).logits_per_image.numpy()
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fixture", ["tiny_clip_dir", "tiny_siglip_dir"])
def test_embeddings_are_unit_norm_and_padding_invariant(fixture: str, request: pytest.FixtureRequest) -> None:
    encoder = load_model(str(request.getfixturevalue(fixture)))
    batch = encoder.encode_text(PROMPTS)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    alone = np.stack([encoder.encode_text([p])[0] for p in PROMPTS])
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    images = encoder.encode_images(_images())
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)


def test_siglip_text_is_right_padded_to_64_without_a_mask(tiny_siglip_dir: Path, tmp_path: Path) -> None:
    encoder = load_model(str(tiny_siglip_dir))
    assert encoder.text_settings.attention_mask is False
    encoder.processor.tokenizer.padding_side = "left"  # as some SigLIP 2 tokenizers default
    try:
        tokens = encoder.text_settings.tokenize(encoder.processor.tokenizer, ["a cat", "a photo of a big dog"])
    finally:
        encoder.processor.tokenizer.padding_side = "right"
    assert list(tokens) == ["input_ids"] and tokens["input_ids"].shape == (2, 64)
    pad = encoder.processor.tokenizer.pad_token_id
    assert tokens["input_ids"][0, 0] != pad and tokens["input_ids"][0, -1] == pad


def test_siglip2_style_checkpoints_lower_case_prompts(tiny_siglip_dir: Path, tiny_clip_dir: Path) -> None:
    """The tiny SigLIP has a Gemma tokenizer, as SigLIP 2's fixed-resolution checkpoints do."""
    siglip = load_model(str(tiny_siglip_dir))
    assert siglip.model_type == "siglip" and siglip.text_settings.lowercase is True
    np.testing.assert_array_equal(siglip.encode_text(["A Photo Of A CAT."]), siglip.encode_text(["a photo of a cat."]))
    clip = load_model(str(tiny_clip_dir))
    assert clip.text_settings.lowercase is False and clip.prepare_text(["A Cat"]) == ["A Cat"]


def test_softmax_sums_to_one_and_sigmoid_does_not(tiny_clip_dir: Path, tiny_siglip_dir: Path) -> None:
    logits = np.array([[2.0, 1.0, -1.0], [0.0, 0.0, 0.0]])
    clip = load_model(str(tiny_clip_dir)).probabilities(logits)
    np.testing.assert_allclose(clip.sum(axis=1), 1.0)
    np.testing.assert_allclose(clip[1], 1 / 3)
    siglip = load_model(str(tiny_siglip_dir)).probabilities(logits)
    np.testing.assert_allclose(siglip, 1 / (1 + np.exp(-logits)))
    assert siglip[1].sum() == pytest.approx(1.5)


def test_model_is_loaded_once_per_process_even_under_threads(tiny_clip_dir: Path) -> None:
    found: list[object] = []
    threads = [threading.Thread(target=lambda: found.append(load_model(str(tiny_clip_dir)))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(x) for x in found}) == 1
    assert load_model(str(tiny_clip_dir)) is found[0]


def test_unknown_hub_id_offline_says_how_to_fix() -> None:
    with pytest.raises(ModelLoadError) as info:
        load_model("nobody/no-such-model-xyz")
    message = str(info.value)
    assert "nobody/no-such-model-xyz" in message and "HF_HUB_OFFLINE" in message
    assert info.value.public_message.startswith("Could not load model 'nobody/no-such-model-xyz': ")
    assert "HF_HUB_OFFLINE" not in info.value.public_message and "HF_HUB_OFFLINE" in info.value.operator_hint


def test_empty_directory_and_file_are_rejected_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="save_pretrained"):
        load_model(str(tmp_path))
    file = tmp_path / "weights.bin"
    file.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="must be a directory"):
        load_model(str(file))


def test_text_only_model_is_not_a_dual_encoder(tiny_clip_dir: Path, tmp_path: Path) -> None:
    from transformers import CLIPTextModel

    text_only = CLIPTextModel.from_pretrained(tiny_clip_dir)
    text_only.save_pretrained(tmp_path / "text-only")
    with pytest.raises(ModelLoadError, match="not an image-text dual encoder"):
        load_model(str(tmp_path / "text-only"))


def test_image_settings_key_follows_the_preprocessing(tiny_clip_dir: Path) -> None:
    from dataclasses import replace

    encoder = load_model(str(tiny_clip_dir))
    key = encoder.image_settings_key
    assert key == load_model(str(tiny_clip_dir)).image_settings_key
    processor = copy.deepcopy(encoder.processor)
    processor.image_processor.image_mean = [0.1, 0.2, 0.3]
    assert replace(encoder, processor=processor).image_settings_key != key
    assert replace(encoder, dtype=torch.float16).image_settings_key != key
