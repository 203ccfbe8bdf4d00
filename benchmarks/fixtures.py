"""What every benchmark runs on, built in code (no download is possible here).

- A CLIP ViT-B/32-shaped checkpoint with random weights (text: 12 layers, width 512; vision:
  12 layers, width 768, 224 px, patch 32; projection 512): the same shapes, so the same
  compute, as ``openai/clip-vit-base-patch32``.
- A real-looking tokenizer: byte-level BPE with CLIP's 49,408-token layout and ``</w>`` word
  endings, trained here on the project's word list plus its templates and class names, so
  prompts split into about as many tokens as with CLIP's own vocabulary.
- Photographs: crops of scikit-image's sample photos, rescaled to phone-photo sizes and saved
  as JPEG (and, for the large-header case, PNG).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
VOCAB_SIZE = 49408
PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "clock", "motorcycle", "hubble_deep_field")


def _corpus() -> list[str]:
    """Training text for the tokenizer: WaffleCLIP's word list once, templates and class names often."""
    from prompting.strategies.classsets import get_class_set, list_class_sets

    from prompting.strategies.waffle import load_word_list

    words = [word for word in load_word_list() if word]
    common: list[str] = []
    for key in list_class_sets():
        preset = get_class_set(key)
        common += list(preset.classes) + [t.replace("{}", "") for t in preset.templates]
    return words + common * 20


def build_tokenizer():  # -> CLIPTokenizer
    """A CLIP-layout byte-level BPE tokenizer (49,408 tokens) trained in a few seconds."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.normalizer = normalizers.Lowercase()
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer)
    merges = json.loads(bpe.to_str())["model"]["merges"]
    symbols = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for symbol in symbols + [s + "</w>" for s in symbols]:
        vocab.setdefault(symbol, len(vocab))
    kept: list[tuple[str, str]] = []
    for left, right in merges:
        if len(vocab) >= VOCAB_SIZE - 2:
            break
        if left in vocab and right in vocab and left + right not in vocab:
            vocab[left + right] = len(vocab)
            kept.append((left, right))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=kept)


def build_vit_b32(directory: Path, seed: int = 0) -> Path:
    """Save a ViT-B/32-shaped CLIP with random weights, its tokenizer and image processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    if (directory / "config.json").is_file():
        return directory
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    special = dict(eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                   pad_token_id=tokenizer.pad_token_id)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=8, max_position_embeddings=77, **special),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=32),
        projection_dim=512, **special,
    )
    directory.mkdir(parents=True, exist_ok=True)
    CLIPModel(config).eval().save_pretrained(directory)
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(directory)
    return directory


def _photo(name: str) -> np.ndarray:
    from skimage import data

    value = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    value = np.asarray(value)
    return np.stack([value] * 3, axis=-1) if value.ndim == 2 else value[..., :3]


def write_photos(folder: Path, count: int, long_side: int = 1600, seed: int = 0) -> list[Path]:
    """``count`` distinct JPEG photos (random crops, flips and tints of the sample photos)
    whose long side is ``long_side`` pixels; written once, reused when present."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = [_photo(name) for name in PHOTO_NAMES]
    paths = []
    for index in range(count):
        path = folder / f"photo_{index:04d}.jpg"
        paths.append(path)
        if path.is_file():
            rng.random(6)
            continue
        pixels = sources[index % len(sources)]
        h, w = pixels.shape[:2]
        top, left, scale, flip, tint_a, tint_b = rng.random(6)
        crop = pixels[int(top * h * 0.2):, int(left * w * 0.2):]
        if flip > 0.5:
            crop = crop[:, ::-1]
        tinted = np.clip(crop * (0.8 + 0.4 * tint_a) + 20 * (tint_b - 0.5), 0, 255).astype(np.uint8)
        image = Image.fromarray(tinted)
        ratio = long_side * (0.8 + 0.2 * scale) / max(image.size)
        image.resize((round(image.width * ratio), round(image.height * ratio)), Image.BICUBIC).save(path, quality=90)
    return paths


def class_names(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct class names: ImageNet's, then made-up two-word names."""
    from prompting.strategies.classsets import get_class_set

    names = list(dict.fromkeys(c.lower() for c in get_class_set("imagenet1k").classes))
    rng = np.random.default_rng(seed)
    from prompting.strategies.waffle import load_word_list

    words = [word for word in load_word_list() if word]
    while len(names) < count:
        names.append(f"{words[rng.integers(len(words))]} {words[rng.integers(len(words))]}")
    return list(dict.fromkeys(names))[:count]
