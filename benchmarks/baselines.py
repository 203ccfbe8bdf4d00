"""The two baselines, run as their own processes: transformers' zero-shot pipeline, and the plain
batched loop a user would write by hand. Neither imports this project.

    python -m benchmarks.baselines pipeline|loop MODEL IMAGES_DIR CLASSES_FILE TEMPLATE

Prints one JSON line: {"load": s, "compute": s, "top1": [class per image]} (model load and
the work after it, measured inside the process; the caller measures the whole process).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

BATCH_IMAGES = 16
BATCH_TEXT = 64


def run_pipeline(model: str, images: list[Path], classes: list[str], template: str) -> dict:
    """transformers' zero-shot image classification pipeline with its defaults (CPU)."""
    from transformers import pipeline

    start = time.perf_counter()
    classify = pipeline("zero-shot-image-classification", model=model, device="cpu")
    loaded = time.perf_counter()
    results = classify([str(p) for p in images], candidate_labels=classes, hypothesis_template=template)
    done = time.perf_counter()
    return {"load": loaded - start, "compute": done - loaded, "top1": [r[0]["label"] for r in results]}


def run_loop(model: str, images: list[Path], classes: list[str], template: str) -> dict:
    """A plain batched loop: open every image, then batches of 16 images and 64 prompts through
    get_image_features / get_text_features, cosine, softmax."""
    import torch
    from PIL import Image
    from transformers import AutoModel, AutoProcessor

    start = time.perf_counter()
    net = AutoModel.from_pretrained(model).eval()
    processor = AutoProcessor.from_pretrained(model)
    loaded = time.perf_counter()
    pictures = [Image.open(p).convert("RGB") for p in images]
    with torch.inference_mode():
        image_vectors = torch.cat([
            net.get_image_features(**processor(images=pictures[i : i + BATCH_IMAGES], return_tensors="pt")).pooler_output
            for i in range(0, len(pictures), BATCH_IMAGES)
        ])
        prompts = [template.format(name) for name in classes]
        text_vectors = torch.cat([
            net.get_text_features(**processor.tokenizer(prompts[i : i + BATCH_TEXT], padding=True,
                                                        return_tensors="pt")).pooler_output
            for i in range(0, len(prompts), BATCH_TEXT)
        ])
    image_vectors = image_vectors / image_vectors.norm(dim=-1, keepdim=True)
    text_vectors = text_vectors / text_vectors.norm(dim=-1, keepdim=True)
    probabilities = (net.logit_scale.exp() * image_vectors @ text_vectors.T).softmax(dim=-1)
    done = time.perf_counter()
    return {"load": loaded - start, "compute": done - loaded,
            "top1": [classes[int(k)] for k in probabilities.argmax(dim=-1)]}


def main(argv: list[str]) -> None:
    kind, model, folder, classes_file, template = argv
    images = sorted(p for p in Path(folder).iterdir() if p.is_file())
    classes = [line.strip() for line in Path(classes_file).read_text(encoding="utf-8").splitlines() if line.strip()]
    runner = run_pipeline if kind == "pipeline" else run_loop
    print(json.dumps(runner(model, images, classes, template)))


if __name__ == "__main__":
    main(sys.argv[1:])
