"""Benchmark: what the text cache and length-sorted batching save, as ratios measured in one run.

Builds a CLIP ViT-B/32-shaped text tower with random weights (no download), then times
  1. encoding 1,000 classes x 7 templates cold vs from the warm cache, and
  2. length-sorted batches with dynamic padding vs the same prompts in their original order,
printing ratios (the absolute times depend on the machine). Run: python -m benchmarks.bench_encoding
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path


def _build_base_clip(directory: Path) -> Path:
    from tests.tiny_models import build_tiny_clip

    build_tiny_clip(directory)  # tokenizer and processor files
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(directory)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=8, max_position_embeddings=77, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(hidden_size=64, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=30, patch_size=2),
        projection_dim=512,
    )
    CLIPModel(config).eval().save_pretrained(directory)
    return directory


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ZSP_CACHE_DIR"] = str(Path(tmp) / "cache")
        from prompting.encoding.embeddings import TEXT_BATCH_SIZE, reset_stores, text_store
        from prompting.encoding.models import load_model
        from prompting.strategies.templates import IMAGENET_TEMPLATES_7

        encoder = load_model(str(_build_base_clip(Path(tmp) / "model")))
        rng = random.Random(0)
        words = "cat dog bird crane red small large photo art video game origami tench".split()
        names = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) + f" {i}" for i in range(1000)]
        prompts = [t.replace("{}", n) for n in names for t in IMAGENET_TEMPLATES_7]

        cold = _timed(lambda: text_store(encoder).embed(prompts))
        reset_stores()
        warm = _timed(lambda: text_store(encoder).embed(prompts))
        print(f"{len(prompts)} prompts: cold {cold:.2f} s, warm cache after restart {warm:.3f} s, "
              f"ratio {cold / warm:.0f}x")

        sample = prompts[:1400]
        rng.shuffle(sample)
        unsorted = _timed(lambda: [encoder.encode_text(sample[i:i + TEXT_BATCH_SIZE])
                                   for i in range(0, len(sample), TEXT_BATCH_SIZE)])
        store = text_store(encoder)
        sorted_time = _timed(lambda: list(store._encode_sorted(sample)))
        print(f"{len(sample)} prompts: arrival order {unsorted:.2f} s, length-sorted {sorted_time:.2f} s, "
              f"ratio {unsorted / sorted_time:.2f}x")


if __name__ == "__main__":
    main()
