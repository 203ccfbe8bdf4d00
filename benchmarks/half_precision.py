"""The benchmark's GPU section: the project in half precision on a GPU, with 1000 classes x 80
templates end to end, the encoders against the model's forward limit there, and transformers'
pipeline on the same GPU. ``python -m benchmarks`` runs it when CUDA is present (or on the
device given with ``--device``; on a CPU the same steps run in float32, as a check of the code).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.measure import interleave, median, paired_ratio, spread, timed
from benchmarks.sections import (
    TEMPLATE,
    Bench,
    compare_timers,
    decoded_batches,
    encoder_timers,
    finished,
    inputs_of,
    read_classes,
)

CLASSES, PHOTOS = 1000, 200  # the 1000 classes x 80 templates, on 200 photos
QUICK_CLASSES, QUICK_PHOTOS = 20, 8
PIPELINE_PHOTOS, PIPELINE_CLASSES = 10, 100  # section 1's work, for the pipeline comparison
FIDELITY_PROMPTS = 200


def half_precision(bench: Bench) -> str:
    """1000 classes x 80 templates end to end on the bench's device, its encoders' fractions of
    the forward limit, the pipeline on the same device, and half precision's fidelity to float32."""
    from prompting.encoding.models import load_model
    from prompting.strategies.registry import StrategySpec
    from prompting.strategies.templates import IMAGENET_TEMPLATES

    device = str(bench.device)
    encoder = load_model(str(bench.model), device=device)
    n_classes, n_photos = (QUICK_CLASSES, QUICK_PHOTOS) if bench.quick else (CLASSES, PHOTOS)
    classes, inputs = read_classes(bench.classes(n_classes)), inputs_of(bench.folder(n_photos))
    prompts = [template.replace("{}", name.prompt) for name in classes for template in IMAGENET_TEMPLATES]
    specs = [StrategySpec("ensemble80")]
    cold, warm_run = compare_timers(bench, encoder, inputs, classes, specs,
                                    bench.work / f"cache-half-{n_classes}-{n_photos}")  # also warms the device
    end_to_end = interleave({"compare, cold cache": cold, "compare, warm cache (app re-run)": warm_run},
                            bench.repetitions)
    fractions, encoder_samples = _encoder_fractions(bench, encoder, prompts, inputs)
    pipeline_samples, pipeline_work = _pipeline_against_project(bench, encoder, device)
    fidelity = _fidelity_to_float32(bench, encoder, prompts[:FIDELITY_PROMPTS], inputs[:16])
    bench.figures.update(half_fractions=fractions)
    pipeline, ours = pipeline_samples["pipeline call"], pipeline_samples["compare, cold cache"]
    return "\n".join([
        f"### 7. {_title(device)}, weights in {encoder.dtype}",
        "",
        f"In one process with the model loaded on `{device}`. Seconds: median (min-max) of {bench.repetitions} "
        "interleaved repetitions.",
        "",
        f"**End to end, {n_classes} classes x {len(IMAGENET_TEMPLATES)} templates ({len(prompts):,} prompts) on "
        f"{n_photos} photos** (decoding on the CPU, encoding on the device, scoring):",
        "",
        "| variant | seconds | prompts per second |",
        "|---|---|---|",
        *[f"| {name} | {spread(values)} | {len(prompts) / median(values):,.0f} |" for name, values in end_to_end.items()],
        "",
        "**Encoders, fraction of the model's forward limit** (the same batches through the model alone):",
        "",
        "| work | seconds | fraction |",
        "|---|---|---|",
        *[f"| {name} | {spread(values)} | - |" for name, values in encoder_samples.items() if "limit" in name],
        *[f"| {name} | {spread(values)} | **{fractions[name.split(',')[0]]:.2f}** |"
          for name, values in encoder_samples.items() if "limit" not in name],
        "",
        f"**Against transformers' pipeline on the same device** ({pipeline_work}, \"{TEMPLATE}\", in process, "
        f"pipeline in {encoder.dtype} too):",
        "",
        "| variant | seconds |",
        "|---|---|",
        *[f"| {name} | {spread(values)} |" for name, values in pipeline_samples.items()],
        "",
        f"Pipeline / project (cold cache): **{paired_ratio(pipeline, ours):.1f}x**.",
        "",
        f"**{encoder.dtype} against float32 on the CPU**: {fidelity}.",
    ])


def _encoder_fractions(bench: Bench, encoder: Any, prompts: list[str], inputs: list[Any]
                       ) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Forward limit / project time for text (a fresh cache each time) and images (decoded
    pictures in), measured interleaved."""
    batches, pixels = decoded_batches(encoder, inputs)
    samples = interleave(encoder_timers(bench, encoder, prompts, batches, pixels), bench.repetitions)
    fractions = {kind: paired_ratio(samples[f"{kind}, forward limit"], samples[name])
                 for kind, name in (("text", "text, project"), ("images", "images, project (decoded pictures in)"))}
    return fractions, samples


def _pipeline_against_project(bench: Bench, encoder: Any, device: str) -> tuple[dict[str, list[float]], str]:
    """transformers' pipeline on ``device`` (in the encoder's precision) against ``compare``
    with a cold cache, on section 1's work; the samples and that work in words."""
    import torch
    from transformers import pipeline

    from prompting.evaluation.compare import compare
    from prompting.strategies.registry import StrategySpec

    n_photos, n_classes = (QUICK_PHOTOS, QUICK_CLASSES) if bench.quick else (PIPELINE_PHOTOS, PIPELINE_CLASSES)
    folder, classes = bench.folder(n_photos), read_classes(bench.classes(n_classes))
    paths, names = [str(path) for path in sorted(folder.iterdir())], [name.prompt for name in classes]
    classify = pipeline("zero-shot-image-classification", model=str(bench.model), device=device,
                        dtype=getattr(torch, encoder.dtype))
    inputs, specs = inputs_of(folder), [StrategySpec("template", templates=[TEMPLATE])]

    def ours() -> float:
        bench.use_cache(bench.fresh_cache())
        return timed(lambda: compare(encoder, inputs, classes, specs))

    classify(paths[:1], candidate_labels=names[:2], hypothesis_template=TEMPLATE)  # first-call set-up
    samples = interleave({
        "pipeline call": lambda: timed(lambda: finished(encoder, classify(
            paths, candidate_labels=names, hypothesis_template=TEMPLATE))),
        "compare, cold cache": ours,
    }, bench.repetitions)
    return samples, f"{n_photos} photos x {n_classes} classes"


def _fidelity_to_float32(bench: Bench, encoder: Any, prompts: list[str], inputs: list[Any]) -> str:
    """Cosine of each embedding on the device to its float32 CPU twin, and top-1 agreement of
    the images against the prompts."""
    from prompting.encoding.images import load_image
    from prompting.encoding.models import load_model

    reference = load_model(str(bench.model), device="cpu")
    pictures = [load_image(item.path, min_side=encoder.image_input_side) for item in inputs]
    text = {name: model.encode_text(prompts) for name, model in (("device", encoder), ("cpu", reference))}
    images = {name: model.encode_images(pictures) for name, model in (("device", encoder), ("cpu", reference))}
    text_cos, image_cos = (np.sum(pair["device"] * pair["cpu"], axis=1) for pair in (text, images))
    agree = int(np.sum((images["device"] @ text["device"].T).argmax(1) == (images["cpu"] @ text["cpu"].T).argmax(1)))
    return (f"text cosines min {text_cos.min():.4f} (median {np.median(text_cos):.4f}) over {len(prompts)} prompts; "
            f"image cosines min {image_cos.min():.4f} over {len(pictures)} photos; top-1 prompt agrees on {agree} "
            f"of {len(pictures)}")


def _title(device: str) -> str:
    """The section's title: the GPU's name, or what a run elsewhere is (a check of the code)."""
    if not device.startswith("cuda"):
        return f"The GPU section's steps on `{device}` (a check of the code, not a GPU figure)"
    import torch

    return f"On a GPU ({torch.cuda.get_device_name(device)})"
