"""Build tiny random CLIP and SigLIP checkpoints in code, saved like hub checkpoints.

They load through the same ``from_pretrained`` path users use, so tests exercise the real
loader without any download. Random weights give meaningless predictions; tests assert
invariants and exact arithmetic instead.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPProcessor,
    CLIPTokenizer,
    GemmaTokenizer,
    SiglipConfig,
    SiglipImageProcessor,
    SiglipModel,
    SiglipProcessor,
)

WORDS = (
    "a photo of the an cat dog bird crane machine car truck ship plane frog horse deer "
    "which is has with small large bad good art video game origami tench fish red blue "
    "black white long tail wings wheels four legs it in on construction tall metal"
).split()
IMAGE_SIZE = 30


def _vocabulary() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP-style byte-level BPE vocabulary holding every letter and the test words whole."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for symbol in symbols:
        vocab.setdefault(symbol, len(vocab))
    for symbol in symbols:
        vocab.setdefault(symbol + "</w>", len(vocab))
    merges: list[tuple[str, str]] = []
    for word in sorted(set(WORDS)):
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            left, right = pieces[0], pieces[1]
            merges.append((left, right))
            pieces = [left + right] + pieces[2:]
            vocab.setdefault(pieces[0], len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return vocab, list(dict.fromkeys(merges))


def build_tiny_clip(directory: Path, seed: int = 0) -> Path:
    """Save a tiny random CLIP model, tokenizer and image processor into ``directory``."""
    torch.manual_seed(seed)
    vocab, merges = _vocabulary()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=77,
            eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
            image_size=IMAGE_SIZE, patch_size=2,
        ),
        projection_dim=32,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_tiny_siglip(directory: Path, seed: int = 0) -> Path:
    """Save a tiny random SigLIP model (Gemma-style tokenizer, as SigLIP 2 uses) into ``directory``."""
    torch.manual_seed(seed)
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    vocab = {token: index for index, token in enumerate(specials)}
    for word in sorted(set(WORDS)):
        vocab.setdefault("▁" + word, len(vocab))
    for char in "abcdefghijklmnopqrstuvwxyz0123456789.,:'-▁":
        vocab.setdefault(char, len(vocab))
    tokenizer = GemmaTokenizer(vocab=vocab, merges=[], padding_side="right")
    config = SiglipConfig(
        text_config=dict(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=64,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
            image_size=IMAGE_SIZE, patch_size=2,
        ),
    )
    model = SiglipModel(config).eval()
    image_processor = SiglipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
