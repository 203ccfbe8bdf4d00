"""The loader and the family quirks, checked against the models' own forward pass."""

from __future__ import annotations

import copy
import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from prompting.encoding import models
from prompting.encoding.models import (
    image_input_side,
    image_preprocessing,
    load_model,
    settings_digest,
)
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
    card = dataclasses.replace(encoder.card, logit_scale=float(np.exp(2.5)),
                               logit_bias=-3.0 if encoder.family == "siglip" else 0.0)
    encoder = dataclasses.replace(encoder, card=card)
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
    encoder = load_model(str(tiny_clip_dir))
    key = encoder.image_settings_key
    assert key == load_model(str(tiny_clip_dir)).image_settings_key
    assert encoder.dtype == "float32" and key == encoder.card.image_settings_key_in("float32")
    processor = copy.deepcopy(encoder.processor.image_processor)
    processor.image_mean = [0.1, 0.2, 0.3]
    assert settings_digest(image_preprocessing(processor), "float32", None) != key
    assert encoder.card.image_settings_key_in("float16") != key
    assert settings_digest(encoder.card.image_preprocessing, "float32", "int8") != key


def test_image_settings_keys_made_by_earlier_versions_stay_valid(tiny_clip_dir: Path) -> None:
    """Earlier versions digested the processor with torch's dtype text; cached vectors keep their keys."""
    import hashlib

    processor = load_model(str(tiny_clip_dir)).processor.image_processor
    config = {k: repr(v) for k, v in sorted(processor.to_dict().items())
              if k not in ("processor_class", "image_processor_type", "_processor_class")}
    earlier = hashlib.sha256(f"{type(processor).__name__}|{config}|{torch.float32}".encode()).hexdigest()[:16]
    assert load_model(str(tiny_clip_dir)).image_settings_key == earlier


@pytest.mark.parametrize("fixture", ["tiny_clip_dir", "tiny_siglip_dir"])
def test_int8_embeddings_stay_close_to_float32(fixture: str, request: pytest.FixtureRequest) -> None:
    import warnings

    directory = str(request.getfixturevalue(fixture))
    full = load_model(directory)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's deprecation notices are silenced where they are known
        quantized = load_model(directory, quantize="int8")
        text = quantized.encode_text(PROMPTS)
        images = quantized.encode_images(_images())
    assert quantized is not full and quantized.quantization == "int8" and full.quantization is None
    assert isinstance(quantized.model.text_projection if hasattr(quantized.model, "text_projection")
                      else quantized.model.text_model.head, torch.ao.nn.quantized.dynamic.Linear)
    # measured on these tiny models: text >= 0.9990, images >= 0.9998
    assert np.min(np.sum(text * full.encode_text(PROMPTS), axis=1)) >= 0.995
    assert np.min(np.sum(images * full.encode_images(_images()), axis=1)) >= 0.995
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-5)
    assert quantized.image_settings_key != full.image_settings_key
    assert quantized.text_settings_key != full.text_settings_key and "quant=int8" in quantized.text_settings_key


def test_int8_is_cpu_only_and_named(tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelLoadError, match="int8 quantisation runs on the CPU only, not on cuda"):
        load_model(str(tiny_clip_dir), device="cuda:0", quantize="int8")
    monkeypatch.setattr(models, "pick_device", lambda requested=None: "cuda")  # as on a machine with a GPU
    assert load_model(str(tiny_clip_dir), quantize="int8").device == "cpu"
    with pytest.raises(ModelLoadError, match="Unknown quantisation 'int4'"):
        load_model(str(tiny_clip_dir), quantize="int4")


@pytest.mark.parametrize("fixture", ["tiny_clip_dir", "tiny_siglip_dir"])
def test_embedding_dim_and_input_side_come_from_the_config(fixture: str, request: pytest.FixtureRequest) -> None:
    encoder = load_model(str(request.getfixturevalue(fixture)))
    assert encoder.embedding_dim == encoder.encode_text(["cat"]).shape[1] == encoder.encode_images(_images()).shape[1]
    assert encoder.image_input_side == 30
    processor = copy.deepcopy(encoder.processor.image_processor)
    processor.do_resize = False
    assert image_input_side(processor) is None


def test_measure_speed_times_one_batch_of_each_kind(tiny_clip_dir: Path) -> None:
    encoder = dataclasses.replace(load_model(str(tiny_clip_dir)))
    encoder.speed = type(encoder.speed)()
    speed = encoder.measure_speed()
    assert speed.text is not None and speed.image is not None and speed.text > 0 and speed.image > 0
    before = (speed.text, speed.image)
    encoder.measure_speed()  # measured already: nothing is timed again
    assert (speed.text, speed.image) == before
    speed.record("text", 10, 1.0)
    assert speed.text == pytest.approx(0.7 * before[0] + 0.3 * 0.1)


def test_weights_fingerprint_is_remembered_across_processes(
    tiny_clip_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import shutil

    from prompting import storage
    from prompting.encoding.models import weights_fingerprint

    copy_dir = Path(shutil.copytree(tiny_clip_dir, tmp_path / "model"))
    first = weights_fingerprint(copy_dir)
    storage._DIGESTS.clear()  # a new process: only the memo in the cache dir remains
    monkeypatch.setattr(hashlib, "file_digest", lambda *args: pytest.fail("an unchanged file was read again"))
    assert weights_fingerprint(copy_dir) == first
    monkeypatch.undo()
    weights = copy_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert weights_fingerprint(copy_dir) != first


def test_a_checkpoint_seen_before_starts_from_its_card_and_loads_its_weights_only_to_encode(
    tiny_clip_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from prompting.classes import as_class_names
    from prompting.encoding.models import forget_models
    from prompting.evaluation.compare import ImageInput, compare
    from prompting.strategies.registry import StrategySpec
    from tests.conftest import make_image

    folder = Path(shutil.copytree(tiny_clip_dir, tmp_path / "model"))
    inputs = [ImageInput(str(make_image(tmp_path / f"{i}.png", i))) for i in range(2)]
    first = compare(load_model(str(folder)), inputs, as_class_names(["cat", "dog"]), [StrategySpec("classname")])
    forget_models()  # a new process
    encoder = load_model(str(folder))
    assert not encoder.parts.loaded and encoder.card == load_model(str(folder)).card
    cached = compare(encoder, inputs, as_class_names(["cat", "dog"]), [StrategySpec("classname")])
    assert not encoder.parts.loaded  # everything came from the cache
    np.testing.assert_array_equal(cached.strategies["classname"].probabilities,
                                  first.strategies["classname"].probabilities)
    more = compare(encoder, inputs, as_class_names(["cat", "dog", "bird"]), [StrategySpec("classname")])
    assert encoder.parts.loaded and more.encoder_stats["prompts_encoded"] == 1
    forget_models()
    config = folder / "processor_config.json"
    config.write_text(config.read_text().replace('"do_normalize": true', '"do_normalize": false'))
    changed = load_model(str(folder))
    assert changed.parts.loaded and changed.image_settings_key != encoder.image_settings_key  # no stale card
    forget_models()


def test_weights_changed_under_a_card_are_refused_not_mixed(tiny_clip_dir: Path, tmp_path: Path) -> None:
    import shutil

    from prompting.encoding import model_cards
    from prompting.encoding.models import forget_models

    folder = Path(shutil.copytree(tiny_clip_dir, tmp_path / "model"))
    load_model(str(folder))
    forget_models()
    encoder = load_model(str(folder))
    assert not encoder.parts.loaded
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="changed on disk while in use"):
        encoder.encode_text(["cat"])
    forget_models()
    assert model_cards.remembered_card("nothing") is None


def test_a_hub_checkpoint_offline_starts_from_its_card(tiny_clip_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from prompting.encoding.models import forget_models

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny-clip"
    shutil.copytree(tiny_clip_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    full = load_model("someone/tiny-clip")
    assert full.identity == f"hub:someone/tiny-clip@{commit}"
    forget_models()
    lite = load_model("someone/tiny-clip")
    assert not lite.parts.loaded and lite.card == full.card
    np.testing.assert_allclose(lite.encode_text(["cat"]), full.encode_text(["cat"]), atol=1e-6)
    forget_models()
