"""The benchmark's sections. Each measures side by side in this one run (interleaved
repetitions, medians) and returns its Markdown plus the raw figures for the targets table."""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import (
    ProcessRun,
    interleave,
    median,
    paired_ratio,
    run_process,
    spread,
    timed,
)

TEMPLATE = "a photo of a {}."
ENCODER_CLASSES = 50  # x 7 templates = 350 prompts
ENCODER_PHOTOS = 32
ENCODER_REPETITIONS = 5  # the forward-limit fractions are ratios of close figures: more repetitions
STARTUP_REPETITIONS = 5  # whole processes of a few seconds: the machine's other work moves them most
PIPELINE_PAIRS = 1000  # the pipeline encodes photos x classes prompts: beyond this it takes many minutes


@dataclass
class Bench:
    """What every section shares: the model, the data, the repetitions and the results so far."""

    work: Path
    model: Path
    photos: list[Path]
    repetitions: int
    quick: bool
    device: str | None = None  # the GPU section's device (None: no GPU)
    figures: dict[str, Any] = field(default_factory=dict)
    _fresh: int = 0

    def folder(self, count: int) -> Path:
        """A folder holding the first ``count`` photos (made once)."""
        folder = self.work / f"images{count}"
        if not folder.is_dir():
            folder.mkdir()
            for photo in self.photos[:count]:
                os.link(photo, folder / photo.name)
        return folder

    def classes(self, count: int) -> Path:
        """A class file with ``count`` distinct names (made once)."""
        from benchmarks.fixtures import class_names

        path = self.work / f"classes{count}.txt"
        if not path.is_file():
            path.write_text("\n".join(class_names(count)) + "\n", encoding="utf-8")
        return path

    def fresh_cache(self) -> Path:
        """An empty cache directory (a cold run)."""
        self._fresh += 1
        return self.work / f"cache-cold-{self._fresh}"

    def use_cache(self, directory: Path) -> None:
        """Point this process's caches at ``directory``."""
        from prompting.encoding.embeddings import reset_stores

        os.environ["ZSP_CACHE_DIR"] = str(directory)
        reset_stores()


def _cli(bench: Bench, images: Path, classes: Path, cache: Path, *extra: str) -> ProcessRun:
    args = ["-m", "prompting", "evaluate", "--model", str(bench.model), "--images", str(images), "--classes",
            str(classes), "--strategy", "template", *extra]
    return run_process(args, env={"ZSP_CACHE_DIR": str(cache)})


def _baseline(kind: str, bench: Bench, images: Path, classes: Path) -> ProcessRun:
    return run_process(["-m", "benchmarks.baselines", kind, str(bench.model), str(images), str(classes), TEMPLATE])


def inputs_of(folder: Path) -> list:
    from prompting.evaluation.compare import ImageInput

    return [ImageInput(str(p)) for p in sorted(folder.iterdir())]


def read_classes(path: Path) -> list:
    from prompting.classes import read_class_file

    return read_class_file(path)


def _template() -> list:
    from prompting.strategies.registry import StrategySpec

    return [StrategySpec("template", templates=[TEMPLATE])]


def compare_timers(bench: Bench, encoder: Any, inputs: list, classes: list, specs: list,
                   warm: Path) -> tuple[Callable[[], float], Callable[[], float]]:
    """Timers of one ``compare`` call with a fresh cache (cold) and with ``warm``, which is
    filled here first (what the app's re-run finds)."""
    from prompting.evaluation.compare import compare

    bench.use_cache(warm)
    compare(encoder, inputs, classes, specs)

    def cold() -> float:
        bench.use_cache(bench.fresh_cache())
        return timed(lambda: compare(encoder, inputs, classes, specs))

    def warm_run() -> float:
        bench.use_cache(warm)
        return timed(lambda: compare(encoder, inputs, classes, specs))

    return cold, warm_run


def _pipeline(bench: Bench) -> Any:
    if "pipeline" not in bench.figures.setdefault("_objects", {}):
        from transformers import pipeline

        bench.figures["_objects"]["pipeline"] = pipeline(
            "zero-shot-image-classification", model=str(bench.model), device="cpu")
    return bench.figures["_objects"]["pipeline"]


def _pipeline_call(bench: Bench, folder: Path, classes: Path) -> float:
    names = [c.prompt for c in read_classes(classes)]
    paths = [str(p) for p in sorted(folder.iterdir())]
    return timed(lambda: _pipeline(bench)(paths, candidate_labels=names, hypothesis_template=TEMPLATE))


def end_to_end(bench: Bench) -> str:
    """Same work through the pipeline, the plain loop, and this project cold and warm."""
    from prompting.encoding.models import load_model

    images, classes = bench.folder(10), bench.classes(100)
    warm = bench.work / "cache-e2e-warm"
    first = _cli(bench, images, classes, warm, "--json", str(bench.work / "e2e.json"))
    runs: dict[str, list[ProcessRun]] = {}

    def keep(name: str, run: ProcessRun) -> float:
        runs.setdefault(name, []).append(run)
        return run.seconds

    whole = interleave({
        "pipeline script": lambda: keep("pipeline", _baseline("pipeline", bench, images, classes)),
        "plain batched loop": lambda: keep("loop", _baseline("loop", bench, images, classes)),
        "CLI, cold cache": lambda: keep("cold", _cli(bench, images, classes, bench.fresh_cache())),
        "CLI, warm cache": lambda: keep("warm", _cli(bench, images, classes, warm)),
    }, bench.repetitions)
    ours = json.loads((bench.work / "e2e.json").read_text())
    pipeline_top1 = runs["pipeline"][0].json()["top1"]
    ours_top1 = [ours["strategies"]["template"]["predictions"][i] for i in range(len(pipeline_top1))]
    agree = sum(a == b for a, b in zip(pipeline_top1, ours_top1))

    encoder = load_model(str(bench.model))
    inputs, class_list, specs = inputs_of(images), read_classes(classes), _template()
    ours_cold, ours_warm = compare_timers(bench, encoder, inputs, class_list, specs,
                                          bench.work / "cache-e2e-inprocess")
    _pipeline(bench)
    inproc = interleave({
        "pipeline call": lambda: _pipeline_call(bench, images, classes),
        "compare, cold cache": ours_cold,
        "compare, warm cache (app re-run)": ours_warm,
    }, bench.repetitions)
    pipe_whole, pipe_call = median(whole["pipeline script"]), median(inproc["pipeline call"])
    bench.figures.update(
        warm_cli_vs_pipeline=pipe_whole / median(whole["CLI, warm cache"]),
        warm_inprocess_vs_pipeline_call=pipe_call / median(inproc["compare, warm cache (app re-run)"]),
        warm_inprocess_vs_pipeline_script=pipe_whole / median(inproc["compare, warm cache (app re-run)"]),
        cold_cli_vs_pipeline=pipe_whole / median(whole["CLI, cold cache"]),
    )
    rows = [f"| {name} | {spread(values)} | {pipe_whole / median(values):.2f}x |" for name, values in whole.items()]
    rows += [f"| in process: {name} | {spread(values)} | {pipe_call / median(values):.1f}x (vs the pipeline call) |"
             for name, values in inproc.items()]
    loads = {name: median([r.json()["load"] for r in runs[key]]) for name, key in
             (("pipeline", "pipeline"), ("plain loop", "loop"))}
    return "\n".join([
        "### 1. End to end: 10 photos x 100 classes, \"a photo of a {}.\"",
        "",
        "Whole processes (start-up, model load, decoding, encoding, scoring, exit), then the same work inside one "
        "process with the model loaded (what the app does on a re-run). Seconds: median (min-max) of "
        f"{bench.repetitions} interleaved repetitions; the ratio is the pipeline's median over the variant's.",
        "",
        "| variant | seconds | pipeline / variant |",
        "|---|---|---|",
        *rows,
        "",
        f"Model load inside the baselines (median): pipeline {loads['pipeline']:.2f} s, plain loop "
        f"{loads['plain loop']:.2f} s. First cold CLI run (which warmed the cache): {first.seconds:.2f} s. "
        f"Top-1 agreement with the pipeline: {agree} of {len(pipeline_top1)} photos (same template; random "
        "weights make the classes meaningless, not the arithmetic). The pipeline re-encodes all 100 prompts for "
        "every photo (1,000 text encodings); the project encodes each prompt once.",
    ])


def text_limit(encoder: Any, prompts: list[str]) -> Callable[[], float]:
    """A timer of the model's own text forward passes alone, on the project's length-sorted
    batches tokenised (and moved to the model's device) beforehand: the ceiling a text encoder
    can reach."""
    import torch

    from prompting.encoding.embeddings import TEXT_BATCH_SIZE

    lengths = encoder.token_lengths(prompts)
    ordered = [prompts[i] for i in sorted(range(len(prompts)), key=lambda i: lengths[i])]
    batches = [{key: value.to(encoder.device) for key, value in encoder.text_settings.tokenize(
        encoder.processor.tokenizer, encoder.prepare_text(ordered[i : i + TEXT_BATCH_SIZE])).items()}
        for i in range(0, len(ordered), TEXT_BATCH_SIZE)]

    def run() -> float:
        with torch.inference_mode():
            return timed(lambda: finished(encoder, [encoder.model.get_text_features(**batch) for batch in batches]))

    return run


def image_limit(encoder: Any, pixels: list[Any]) -> Callable[[], float]:
    """A timer of the model's own image forward passes alone, on batches of 16 pre-processed
    (on the model's device, in its precision)."""
    import torch

    on_device = [batch.to(encoder.device, getattr(torch, encoder.dtype)) for batch in pixels]

    def run() -> float:
        with torch.inference_mode():
            return timed(lambda: finished(encoder, [encoder.model.get_image_features(pixel_values=batch)
                                                    for batch in on_device]))

    return run


def finished(encoder: Any, outputs: Any) -> Any:
    """``outputs`` once the device has computed them (GPU work is queued; a timer must wait)."""
    if str(encoder.device).startswith("cuda"):
        import torch

        torch.cuda.synchronize(encoder.device)
    return outputs


def decoded_batches(encoder: Any, inputs: list) -> tuple[list[list[Any]], list[Any]]:
    """The inputs decoded at the model's size in the project's image batches, and each batch's
    pixel values made by the model's processor (the forward limit's input)."""
    from prompting.encoding.embeddings import IMAGE_BATCH_SIZE
    from prompting.encoding.images import load_image

    decoded = [load_image(item.path, min_side=encoder.image_input_side) for item in inputs]
    batches = [decoded[i : i + IMAGE_BATCH_SIZE] for i in range(0, len(decoded), IMAGE_BATCH_SIZE)]
    processor = encoder.processor.image_processor
    return batches, [processor(images=batch, return_tensors="pt")["pixel_values"] for batch in batches]


def encoder_timers(bench: Bench, encoder: Any, prompts: list[str], batches: list[list[Any]], pixels: list[Any],
                   prefix: str = "") -> dict[str, Callable[[], float]]:
    """Timers of the model's forward limit and of the project's encoders on the same work: text
    (into a fresh cache each time) and images (decoded pictures in), named "<prefix>text, ..."."""
    from prompting.encoding.embeddings import text_store

    def text() -> float:
        bench.use_cache(bench.fresh_cache())
        return timed(lambda: text_store(encoder).embed(prompts))

    return {
        f"{prefix}text, forward limit": text_limit(encoder, prompts),
        f"{prefix}text, project": text,
        f"{prefix}images, forward limit": image_limit(encoder, pixels),
        f"{prefix}images, project (decoded pictures in)": lambda: timed(
            lambda: [encoder.encode_images(batch) for batch in batches]),
    }


def encoders(bench: Bench) -> str:
    """Throughput as a fraction of the forward limit, float32 and int8, with int8's fidelity."""
    from prompting.encoding.embeddings import reset_stores, text_store
    from prompting.encoding.models import load_model
    from prompting.evaluation.compare import encode_images
    from prompting.strategies.templates import IMAGENET_TEMPLATES_7

    names = [c.prompt for c in read_classes(bench.classes(100))][:ENCODER_CLASSES]
    prompts = [t.replace("{}", name) for name in names for t in IMAGENET_TEMPLATES_7]
    inputs = inputs_of(bench.folder(ENCODER_PHOTOS))
    repetitions = bench.repetitions if bench.quick else max(bench.repetitions, ENCODER_REPETITIONS)
    models = {"float32": load_model(str(bench.model)), "int8": load_model(str(bench.model), quantize="int8")}
    batches, pixels = decoded_batches(models["float32"], inputs)
    variants: dict[str, Callable[[], float]] = {}
    for kind, encoder in models.items():
        def ours_images(encoder: Any = encoder) -> float:
            bench.use_cache(bench.fresh_cache())
            return timed(lambda: encode_images(encoder, inputs))

        variants.update(encoder_timers(bench, encoder, prompts, batches, pixels, f"{kind} "))
        variants[f"{kind} images, project (JPEG files in)"] = ours_images
    samples = interleave(variants, repetitions)
    paths = {"text": "text, project", "images": "images, project (decoded pictures in)",
             "images from files": "images, project (JPEG files in)"}
    fraction = {f"{kind} {what}": paired_ratio(samples[f"{kind} {what.split()[0]}, forward limit"],
                                               samples[f"{kind} {path}"])
                for kind in models for what, path in paths.items()}
    speedup = {what: paired_ratio(samples[f"float32 {path}"], samples[f"int8 {path}"]) for what, path in paths.items()}
    kernels = _int8_kernels(models["float32"], prompts, repetitions)
    fidelity = _int8_fidelity(bench, models, names, prompts, inputs)

    # what the text cache and length-sorted batching save
    encoder = models["float32"]
    cold_dir = bench.fresh_cache()
    bench.use_cache(cold_dir)
    text_store(encoder).embed(prompts)

    def warm_after_restart() -> float:
        bench.use_cache(cold_dir)
        reset_stores()
        return timed(lambda: text_store(encoder).embed(prompts))

    shuffled = list(prompts)
    random.Random(0).shuffle(shuffled)
    batch = 64
    order = interleave({
        "cache warm after a restart": warm_after_restart,
        "arrival order": lambda: timed(lambda: [encoder.encode_text(shuffled[i : i + batch])
                                                for i in range(0, len(shuffled), batch)]),
        "length-sorted": lambda: timed(lambda: list(text_store(encoder)._encode_sorted(shuffled))),
    }, repetitions)
    bench.figures.update(fraction=fraction, int8_speedup=speedup, int8_fidelity=fidelity,
                         int8_kernel_ceiling=list(kernels.values())[-1])
    cold = median(samples["float32 text, project"])
    return "\n".join([
        "### 2. Encoders against the model's forward limit",
        "",
        f"Text: {len(prompts)} prompts ({len(names)} classes x the 7-template ensemble). Images: {len(inputs)} photos of "
        "about 1600 x 1200. The *forward limit* is the model's own forward passes alone (pre-tokenised "
        "length-sorted batches of 64; pre-processed batches of 16). The project's text figure is its whole path "
        "(tokenising, sorting, forward, normalising, writing the cache). Its image encoder is measured from "
        "decoded pictures (what the encoder is given: preprocessing, forward, normalising) and, separately, "
        "from the JPEG files (adding reading, hashing, decoding at model size and the cache), whose decoding "
        "the forward limit does not include. "
        f"Seconds, median (min-max) of {repetitions} interleaved repetitions.",
        "",
        "| measure | seconds |",
        "|---|---|",
        *[f"| {name} | {spread(values)} |" for name, values in samples.items()],
        "",
        "Fractions and speed-ups below are medians of the ratios within each repetition (both sides ran in the "
        "same repetition, so a change of load between repetitions cancels).",
        "",
        "| fraction of the forward limit | value |",
        "|---|---|",
        *[f"| {name} | {value:.2f} |" for name, value in fraction.items()],
        "",
        f"**int8 speed-up** (the project's path, float32 / int8): text **{speedup['text']:.2f}x**, images "
        f"**{speedup['images']:.2f}x** (from files: {speedup['images from files']:.2f}x).",
        "",
        "**int8 kernel ceiling**: one `nn.Linear` against its dynamically quantised twin (the kernels "
        f"`--quantize int8` runs: torch's `{_quantized_engine()}` engine), at the text encoder's shapes (rows = "
        "the tokens of one batch of 64 prompts), alone and weighted as one encoder layer holds them. The linear layers "
        "are most of the text encoder's time and the rest (attention, normalisation, activations) stays float32, "
        "so a text encoder's int8 speed-up stays close to its linear layers'. Median of "
        f"{repetitions} interleaved repetitions of 20 calls each.",
        "",
        "| linear layer (rows x in -> out) | float32 / int8 |",
        "|---|---|",
        *[f"| {shape} | {ratio:.2f}x |" for shape, ratio in kernels.items()],
        "",
        "**int8 fidelity**: each embedding's cosine to its float32 one; and the template classifier "
        f"(\"{TEMPLATE}\") over {len(names)} classes on the {len(inputs)} photos. With random weights every class "
        "gets almost the same probability, so a tiny change can swap the top class: the agreement of top-1 "
        "predictions says little here; the cosines and the probability difference are the informative figures.",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in fidelity.items()],
        "",
        "Text cache and batching (float32):",
        "",
        "| measure | seconds |",
        "|---|---|",
        f"| {len(prompts)} prompts, cold (from the first table) | {spread(samples['float32 text, project'])} |",
        *[f"| {name} | {spread(values)} |" for name, values in order.items()],
        "",
        f"Cold / warm after a restart: {cold / median(order['cache warm after a restart']):.0f}x; arrival order / "
        f"length-sorted: {median(order['arrival order']) / median(order['length-sorted']):.2f}x.",
    ])


def _int8_kernels(encoder: Any, prompts: list[str], repetitions: int) -> dict[str, float]:
    """float32 / int8 time of one Linear layer at each of the text encoder's layer shapes, and
    of one encoder layer's linear layers together (4 attention projections, 2 MLP layers)."""
    import torch

    from prompting.encoding.models import _quantize_int8

    rows = 64 * max(encoder.token_lengths(prompts[:64]))
    config = encoder.model.config.text_config
    width, inner = config.hidden_size, config.intermediate_size
    shapes = {(width, width): 4, (width, inner): 1, (inner, width): 1}  # per encoder layer
    seconds: dict[tuple[int, int], tuple[float, float]] = {}
    for fan_in, fan_out in shapes:
        layer = torch.nn.Sequential(torch.nn.Linear(fan_in, fan_out)).eval()
        quantised = _quantize_int8(copy.deepcopy(layer))
        values = torch.randn(rows, fan_in)
        with torch.inference_mode():
            samples = interleave({
                "float32": lambda run=layer, x=values: timed(lambda: [run(x) for _ in range(20)]),
                "int8": lambda run=quantised, x=values: timed(lambda: [run(x) for _ in range(20)]),
            }, repetitions)
        seconds[(fan_in, fan_out)] = (samples["float32"], samples["int8"])
    ratios = {f"{rows} x {fan_in} -> {fan_out}": paired_ratio(f, i) for (fan_in, fan_out), (f, i) in seconds.items()}
    layer_seconds = {kind: [sum(count * seconds[shape][kind][rep] for shape, count in shapes.items())
                            for rep in range(repetitions)] for kind in (0, 1)}
    ratios["one encoder layer's linear layers (4 of the first, 1 of each other)"] = paired_ratio(
        layer_seconds[0], layer_seconds[1])
    return ratios


def _quantized_engine() -> str:
    import torch

    return torch.backends.quantized.engine


def _int8_fidelity(bench: Bench, models: dict[str, Any], names: list[str], prompts: list[str],
                   inputs: list) -> dict[str, str]:
    from prompting.encoding.embeddings import text_store
    from prompting.evaluation.compare import encode_images

    bench.use_cache(bench.fresh_cache())
    text = {kind: text_store(encoder).embed(prompts) for kind, encoder in models.items()}
    images = {kind: encode_images(encoder, inputs).vectors for kind, encoder in models.items()}
    text_cos = np.sum(text["float32"] * text["int8"], axis=1)
    image_cos = np.sum(images["float32"] * images["int8"], axis=1)
    probabilities = {}
    for kind, encoder in models.items():
        class_vectors = text_store(encoder).embed([TEMPLATE.format(name) for name in names])
        probabilities[kind] = encoder.probabilities(encoder.logits(images[kind] @ class_vectors.T))
    agree = int(np.sum(probabilities["float32"].argmax(1) == probabilities["int8"].argmax(1)))
    return {
        "text cosine, min / mean": f"{text_cos.min():.4f} / {text_cos.mean():.4f}",
        "image cosine, min / mean": f"{image_cos.min():.4f} / {image_cos.mean():.4f}",
        "top-1 agreement": f"{agree} of {len(inputs)}",
        "largest probability difference": f"{np.abs(probabilities['float32'] - probabilities['int8']).max():.4f}",
    }


def startup(bench: Bench) -> str:
    """Start-up + model load: one photo, one class, vs the pipeline script."""
    images, classes = bench.folder(1), bench.classes(1)
    repetitions = bench.repetitions if bench.quick else max(bench.repetitions, STARTUP_REPETITIONS)
    warm = bench.fresh_cache()
    _cli(bench, images, classes, warm)
    _cli(bench, images, classes, warm, "--quantize", "int8")

    def new_class() -> float:
        path = bench.work / "startup-class.txt"
        path.write_text(f"class {uuid.uuid4().hex}\n", encoding="utf-8")  # never seen, in this run or before
        return _cli(bench, images, path, warm).seconds

    samples = interleave({
        "python -c 'import torch, transformers' (floor)": lambda: run_process(
            ["-c", "import torch, transformers"]).seconds,
        "python -c 'import torch; from transformers import CLIPModel, CLIPProcessor' (model code)": lambda: run_process(
            ["-c", "import torch; from transformers import CLIPModel, CLIPProcessor"]).seconds,
        "pipeline script, 1 photo x 1 class": lambda: _baseline("pipeline", bench, images, classes).seconds,
        "CLI, 1 photo x 1 new class (loads the model, encodes 1 prompt)": new_class,
        "CLI, 1 photo x 1 class, all cached (no weights loaded)": lambda: _cli(bench, images, classes, warm).seconds,
        "CLI, 1 photo x 1 class, all cached, --quantize int8": lambda: _cli(
            bench, images, classes, warm, "--quantize", "int8").seconds,
    }, repetitions)
    pipeline = samples["pipeline script, 1 photo x 1 class"]
    loading = paired_ratio(samples["CLI, 1 photo x 1 new class (loads the model, encodes 1 prompt)"], pipeline)
    cached = paired_ratio(samples["CLI, 1 photo x 1 class, all cached (no weights loaded)"], pipeline)
    bench.figures["startup_ratio"] = loading
    return "\n".join([
        "### 3. Start-up and model load",
        "",
        "Whole processes doing trivial work, so start-up and model load are almost all there is. A run whose "
        "prompts and images are all cached starts from the model's remembered card and loads no weights; one new "
        "class makes it load the model like the pipeline does. Importing transformers' model code is most of "
        "both (second row). The CLI ends without the interpreter's teardown (its atexit handlers and output "
        "flushed first), which in a process holding torch and transformers takes about 0.8 s. Seconds, median "
        "(min-max) of "
        f"{repetitions} interleaved repetitions.",
        "",
        "| process | seconds |",
        "|---|---|",
        *[f"| {name} | {spread(values)} |" for name, values in samples.items()],
        "",
        f"CLI loading the model / pipeline script: **{loading:.2f}** (target: at most 1); all cached: "
        f"**{cached:.2f}** (medians of the ratios within each repetition).",
    ])


def scaling(bench: Bench) -> str:
    """In-process cold and warm runs as classes and photos grow; the pipeline where affordable."""
    from prompting.encoding.models import load_model

    encoder = load_model(str(bench.model))
    sizes = [(10, 10), (10, 100), (10, 1000), (50, 100), (200, 100)]
    if bench.quick:
        sizes = [(10, 10), (10, 100), (50, 100)]
    rows = []
    for n_images, n_classes in sizes:
        inputs, classes, specs = inputs_of(bench.folder(n_images)), read_classes(bench.classes(n_classes)), _template()
        cold, warm_run = compare_timers(bench, encoder, inputs, classes, specs,
                                        bench.work / f"cache-scaling-{n_images}-{n_classes}")
        variants = {"cold": cold, "warm": warm_run}
        if n_images * n_classes <= PIPELINE_PAIRS:
            folder, class_file = bench.folder(n_images), bench.classes(n_classes)
            variants["pipeline"] = lambda folder=folder, class_file=class_file: _pipeline_call(bench, folder, class_file)
        samples = interleave(variants, bench.repetitions)
        pipeline = spread(samples["pipeline"]) if "pipeline" in samples else "not run (see below)"
        ratio = (f"{median(samples['pipeline']) / median(samples['cold']):.1f}x / "
                 f"{median(samples['pipeline']) / median(samples['warm']):.0f}x") if "pipeline" in samples else "-"
        rows.append(f"| {n_images} x {n_classes} | {spread(samples['cold'])} | {spread(samples['warm'])} | "
                    f"{pipeline} | {ratio} |")
    return "\n".join([
        "### 4. Scaling (in process, model loaded)",
        "",
        f"Seconds, median (min-max) of {bench.repetitions} interleaved repetitions. The pipeline encodes every "
        f"class prompt again for every photo, so it is run only up to {PIPELINE_PAIRS:,} photo x class pairs (at "
        "50 x 100 it would encode 5,000 prompts; at 10 x 1000, 10,000; at 200 x 100, 20,000).",
        "",
        "| photos x classes | project, cold | project, warm | pipeline | pipeline / cold, / warm |",
        "|---|---|---|---|---|",
        *rows,
    ])


def payload(bench: Bench) -> str:
    """Bytes sent and stored at 1000 classes."""
    from prompting.classes import as_class_names
    from prompting.encoding.models import load_model
    from prompting.evaluation.compare import ImageInput, compare
    from prompting.evaluation.export import comparison_to_dict
    from prompting.service.session_store import RunRecord, record_bytes
    from prompting.service.workflows import comparison_payload
    from prompting.strategies.registry import StrategySpec

    encoder = load_model(str(bench.model))
    classes = as_class_names([c.display for c in read_classes(bench.classes(1000))])
    inputs = [ImageInput(item.path, label=index) for index, item in enumerate(inputs_of(bench.folder(10)))]
    bench.use_cache(bench.work / "cache-scaling-10-1000")
    comparison = compare(encoder, inputs, classes, [StrategySpec("classname"), StrategySpec("template")])
    api = len(json.dumps(comparison_payload(comparison)).encode())
    export = len(json.dumps(comparison_to_dict(comparison), indent=2, ensure_ascii=False).encode())
    held = record_bytes(RunRecord(comparison, inputs))
    dense = len(json.dumps(np.zeros((1000, 1000), dtype=int).tolist()).encode())
    bench.figures["payload_mb"] = api / 2**20
    return "\n".join([
        "### 5. Payload at 1000 classes",
        "",
        "10 labelled photos x 1000 classes, strategies `classname` and `template` (with metrics).",
        "",
        "| what | bytes |",
        "|---|---|",
        f"| `/compare` result (JSON) | {api:,} |",
        f"| CLI `--json` export (indented) | {export:,} |",
        f"| session store: bytes the record holds in memory | {held:,} |",
        f"| one dense 1000 x 1000 confusion matrix as JSON (what each strategy used to carry) | {dense:,} |",
    ])


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory(bench: Bench) -> str:
    """Peak RSS of the CLI at 200 photos x 100 classes vs the plain loop; the app's RSS over sessions."""
    count = 50 if bench.quick else 200
    images, classes = bench.folder(count), bench.classes(100)
    runs = {}
    for name, run in (("plain batched loop", lambda: _baseline("loop", bench, images, classes)),
                      ("CLI, cold cache", lambda: _cli(bench, images, classes, bench.fresh_cache()))):
        runs[name] = run()
        print(f"  {name}: {runs[name].peak_rss_mib:.0f} MiB", file=sys.stderr, flush=True)
    ratio = runs["CLI, cold cache"].peak_rss_mib / runs["plain batched loop"].peak_rss_mib
    bench.figures.update(rss_ratio=ratio, rss_photos=count)
    sessions = _app_sessions(bench)
    bench.figures["app_rss_ratio"] = sessions[-1][1] / sessions[0][1]
    return "\n".join([
        "### 6. Memory",
        "",
        f"Peak resident memory of whole processes doing {count} photos (about 1600 x 1200 JPEG) x 100 classes "
        "(one run each: peak memory hardly varies between runs).",
        "",
        "| process | peak RSS (MiB) | seconds |",
        "|---|---|---|",
        *[f"| {name} | {run.peak_rss_mib:.0f} | {run.seconds:.1f} |" for name, run in runs.items()],
        "",
        f"CLI / plain loop: **{ratio:.2f}** (target: at most 1.1).",
        "",
        "The app (`python app.py`, this model) after N visitor sessions, each a `/compare` call through "
        "`gradio_client` with 4 photos (2 seen by everyone, 2 of its own) x 100 classes:",
        "",
        "| sessions | app RSS (MiB) |",
        "|---|---|",
        *[f"| {n} | {rss:.0f} |" for n, rss in sessions],
        "",
        f"After 30 / after 1: **{sessions[-1][1] / sessions[0][1]:.2f}** (target: at most 1.1).",
    ])


def _app_sessions(bench: Bench) -> list[tuple[int, float]]:
    """The app's RSS after 1, 10 and 30 visitor sessions, starting from an empty cache."""
    from gradio_client import Client, handle_file

    from tests.app_process import running_app

    folder = bench.fresh_cache()  # removed by cleanup(), with the app's log
    folder.mkdir(parents=True)
    with running_app(bench.model, folder) as app:
        classes = bench.classes(100).read_text(encoding="utf-8")
        shared = bench.photos[:2]
        points = []
        for session in range(1, 31):
            own = bench.photos[2 + 2 * (session - 1) : 2 + 2 * session]
            Client(app.url, verbose=False).predict(
                images=[handle_file(str(p)) for p in [*shared, *own]], classes=classes, strategies=["template"],
                options={"templates": [TEMPLATE]}, api_name="/compare")
            if session in (1, 10, 30):
                points.append((session, _rss_mib(app.process.pid)))
                print(f"  app after {session} sessions: {points[-1][1]:.0f} MiB", file=sys.stderr, flush=True)
        return points


def cleanup(bench: Bench) -> None:
    """Drop the cold caches this run made."""
    for folder in bench.work.glob("cache-cold-*"):
        shutil.rmtree(folder, ignore_errors=True)
