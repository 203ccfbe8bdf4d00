"""Benchmark: filling an embedding store locally vs on Ray, and scoring a data-set-sized store.

1. ``embed`` throughput (images/s) of the local engine and of the Ray engine with 1 and 2
   workers, on the same generated images with a CLIP ViT-B/32-shaped image tower (random
   weights, no download). Runs are interleaved (local, ray x1, ray x2, repeated) and the
   median is reported, both end to end (workers loading the model included) and in steady
   state (from the first finished batch to the last). One local Ray instance is started
   once, outside the timings.
2. ``evaluate --embeddings`` on 50,000 synthetic image embeddings x 1,000 classes x the 80
   ImageNet templates (80,000 prompts, already in the text cache), with the stages timed.

Run: ``python -m benchmarks.bench_store [--images N] [--repeats R] [--skip-embed] [--skip-evaluate]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

EVAL_IMAGES = 50_000
EVAL_CLASSES = 1_000
DIM = 512


def _build_vit_b32(directory: Path) -> Path:
    """A CLIP with a ViT-B/32-shaped image tower (224 px, 12 layers, width 768) and a tiny text tower."""
    from tests.tiny_models import build_tiny_clip

    build_tiny_clip(directory)
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(directory)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=32),
        projection_dim=DIM,
    )
    CLIPModel(config).eval().save_pretrained(directory)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    return directory


def _write_images(root: Path, count: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:05d}.jpg", quality=90)
    return root


class _Timed:
    """Wraps an engine: wall time of the whole encode and time from the first output batch."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.first: float | None = None
        self.first_rows = 0

    def encode(self, batches) -> Iterator[dict]:
        for output in self.engine.encode(batches):
            if self.first is None:
                self.first, self.first_rows = time.perf_counter(), len(output["index"])
            yield output


def bench_embed(tmp: Path, images: int, repeats: int, batch_size: int) -> dict[str, dict[str, float]]:
    import ray

    from prompting.data.engines import LocalEngine, RayEngine
    from prompting.data.sources import open_source
    from prompting.data.store import StoreBuilder
    from prompting.encoding.models import load_model

    model = str(_build_vit_b32(tmp / "vit-b32"))
    source = open_source(_write_images(tmp / "images", images))
    identity = load_model(model).identity
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 2**20, logging_level="WARNING")
    engines = {
        "local (1 process, 2 threads)": lambda: LocalEngine(model, source.spec),
        "ray, 1 worker (1 CPU)": lambda: RayEngine(model, source.spec, workers=1),
        "ray, 2 workers (1 CPU each)": lambda: RayEngine(model, source.spec, workers=2),
    }
    results: dict[str, dict[str, list[float]]] = {name: {"wall": [], "steady": []} for name in engines}
    try:
        for run in range(repeats):
            for name, make in engines.items():
                timed = _Timed(make())
                builder = StoreBuilder(tmp / f"store-{run}-{len(results[name]['wall'])}-{hash(name)}", source,
                                       {"name": model, "identity": identity}, 10**9, batch_size)
                start = time.perf_counter()
                builder.build(timed)
                end = time.perf_counter()
                results[name]["wall"].append(images / (end - start))
                results[name]["steady"].append((images - timed.first_rows) / (end - timed.first))
                print(f"  run {run + 1} {name}: {results[name]['wall'][-1]:.1f} images/s end to end, "
                      f"{results[name]['steady'][-1]:.1f} steady", flush=True)
    finally:
        ray.shutdown()
    return {name: {kind: statistics.median(values) for kind, values in kinds.items()}
            for name, kinds in results.items()}


class _SyntheticEngine:
    """Yields random unit vectors with the real model's identity and image settings."""

    def __init__(self, encoder) -> None:
        self.info = json.dumps({"identity": encoder.identity, "image_settings_key": encoder.image_settings_key,
                                "dtype": "float32", "dim": DIM})
        self.rng = np.random.default_rng(0)

    def encode(self, batches) -> Iterator[dict]:
        for batch in batches:
            n = len(batch["index"])
            vectors = self.rng.standard_normal((n, DIM)).astype(np.float32)
            yield {"index": batch["index"], "embedding": vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
                   "error": np.array([""] * n, dtype=object), "sha256": np.array(["0" * 64] * n, dtype=object),
                   "width": np.full(n, 224), "height": np.full(n, 224),
                   "encoder": np.array([self.info] * n, dtype=object)}


def bench_evaluate(tmp: Path) -> dict[str, float]:
    from prompting.classes import as_class_names
    from prompting.data.sources import Source, SourceItem, SourceSpec
    from prompting.data.store import StoreBuilder, open_store
    from prompting.encoding.embeddings import reset_stores, text_store
    from prompting.encoding.models import load_model
    from prompting.evaluation.compare import score_strategies
    from prompting.evaluation.stored import encoded_from_store
    from prompting.strategies.registry import StrategySpec, build_prompts

    encoder = load_model(str(_build_vit_b32(tmp / "eval-model")))
    names = [f"class {i}" for i in range(EVAL_CLASSES)]
    items = [SourceItem(f"img{i:05d}.jpg", i % EVAL_CLASSES, f"img{i:05d}.jpg") for i in range(EVAL_IMAGES)]
    source = Source(SourceSpec("list", str(tmp / "list.txt")), items, names, "names")
    builder = StoreBuilder(tmp / "store-50k", source, {"name": "bench", "identity": encoder.identity}, 4096, 512)
    builder.build(_SyntheticEngine(encoder))
    classes = as_class_names(names)
    spec = StrategySpec("ensemble80")
    started = time.perf_counter()
    text_store(encoder).embed([p for prompts in build_prompts(spec, classes).prompts for p in prompts])
    fill = time.perf_counter() - started
    reset_stores()  # as a new process: the text cache is read from disk
    timings = {"text cache fill (not part of the evaluation)": fill}
    start = time.perf_counter()
    store = open_store(tmp / "store-50k")
    encoded = encoded_from_store(store, encoder, classes).encoded
    timings["open + read 50,000 vectors"] = time.perf_counter() - start
    mark = time.perf_counter()
    comparison = score_strategies(encoder, encoded, classes, [spec])
    timings["score ensemble80 (text from cache, metrics)"] = time.perf_counter() - mark
    timings["evaluate --embeddings total"] = time.perf_counter() - start
    timings["prompts from cache"] = int(comparison.encoder_stats["prompts_cached"])
    timings["top1 (chance level expected)"] = comparison.strategies["ensemble80"].metrics["top1"]
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--skip-embed", action="store_true")
    parser.add_argument("--skip-evaluate", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.environ["ZSP_CACHE_DIR"] = str(tmp / "cache")
        if not args.skip_embed:
            rates = bench_embed(tmp, args.images, args.repeats, args.batch_size)
            base = rates["local (1 process, 2 threads)"]
            print(f"embed {args.images} images (ViT-B/32 image tower, batch {args.batch_size}), median of "
                  f"{args.repeats} interleaved runs:")
            for engine, rate in rates.items():
                print(f"  {engine:30s} {rate['wall']:6.1f} images/s end to end ({rate['wall'] / base['wall']:.2f}x "
                      f"local), {rate['steady']:6.1f} steady ({rate['steady'] / base['steady']:.2f}x local)")
        if not args.skip_evaluate:
            timings = bench_evaluate(tmp)
            print(f"evaluate --embeddings: {EVAL_IMAGES} images x {EVAL_CLASSES} classes x 80 templates:")
            for what, value in timings.items():
                shown = f"{value:.2f} s" if isinstance(value, float) and "top1" not in what else f"{value}"
                print(f"  {what:50s} {shown}")


if __name__ == "__main__":
    main()
