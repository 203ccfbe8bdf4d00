"""``python -m benchmarks``: the encoding, start-up, scaling, payload and memory figures, measured
side by side in one run, written to their own section of BENCHMARKS.md (between two marker
comments; the rest of the file, e.g. the embedding-store figures of ``benchmarks.bench_store``,
is kept). See BENCHMARKS.md for what each part measures.

    python -m benchmarks                  # everything, 3 interleaved repetitions (about 40 min on 2 cores)
    python -m benchmarks --quick          # smaller sizes, 1 repetition: a smoke test (a few minutes)
    python -m benchmarks --only encoders startup --out /tmp/partial.md
    python -m benchmarks --only half_precision   # on a GPU machine: section 7 alone (a few minutes)

With CUDA present (or a device given with ``--device``) section 7 runs the project in half
precision on the GPU; without one it is left out and the file says so.

The model (a ViT-B/32-shaped CLIP with random weights) and the photos are built in code into
``--work`` (default: a folder in the system temp dir, reused by later runs).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import sections
from benchmarks.fixtures import build_vit_b32, write_photos
from benchmarks.half_precision import half_precision
from benchmarks.measure import ROOT

BEGIN = "<!-- python -m benchmarks: begin (generated; edit benchmarks/, not this section) -->"
END = "<!-- python -m benchmarks: end -->"
SECTIONS = {
    "end_to_end": sections.end_to_end,
    "encoders": sections.encoders,
    "startup": sections.startup,
    "scaling": sections.scaling,
    "payload": sections.payload,
    "memory": sections.memory,
    "half_precision": half_precision,
}
GPU_SECTIONS = ("half_precision",)


def _machine(device: str | None) -> list[str]:
    import numpy
    import PIL
    import torch
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    return [
        f"- Machine: {cpu}, {os.cpu_count()} cores, {memory_kb / 2**20:.0f} GiB memory, "
        f"{_accelerator(device)}; shared with other work, so absolute seconds vary between runs and only "
        "side-by-side ratios are meaningful.",
        f"- Software: Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), transformers {transformers.__version__}, numpy {numpy.__version__}, "
        f"Pillow {PIL.__version__}, {platform.platform()}.",
    ]


def _accelerator(device: str | None) -> str:
    if device is None or not device.startswith("cuda"):
        return "no GPU"
    import torch

    return f"GPU {torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"


def _gpu_device(requested: str | None) -> str | None:
    """The device for the GPU section: the one asked for, else CUDA when present, else None."""
    if requested:
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else None


def _targets(figures: dict) -> list[str]:
    def row(name: str, key: str, goal: str, show, ok) -> str:
        if key not in figures:
            return f"| {name} | {goal} | not measured in this run | - |"
        value = figures[key]
        return f"| {name} | {goal} | {show(value)} | {'met' if ok(value) else '**not met**'} |"

    fraction = figures.get("fraction", {})
    speedup = figures.get("int8_speedup", {})
    rows = [
        row("Warm CLI re-run vs pipeline script, whole process", "warm_cli_vs_pipeline", ">= 5x",
            lambda v: f"{v:.2f}x", lambda v: v >= 5),
        row("Warm re-run in process (app) vs the pipeline call", "warm_inprocess_vs_pipeline_call", ">= 100x",
            lambda v: f"{v:.0f}x", lambda v: v >= 100),
        row("Start-up + model load, CLI / pipeline script", "startup_ratio", "<= 1",
            lambda v: f"{v:.2f}", lambda v: v <= 1),
        row(f"Peak RSS, CLI / plain loop ({figures.get('rss_photos', 200)} x 100)", "rss_ratio", "<= 1.1",
            lambda v: f"{v:.2f}",
            lambda v: v <= 1.1),
        row("App RSS after 30 sessions / after 1", "app_rss_ratio", "<= 1.1", lambda v: f"{v:.2f}",
            lambda v: v <= 1.1),
        row("Payload at 1000 classes", "payload_mb", "< 0.5 MB", lambda v: f"{v:.3f} MB", lambda v: v < 0.5),
    ]
    for name, label in (("float32 text", "float32 text"), ("float32 images", "float32 images (decoded pictures in)")):
        if name in fraction:
            rows.append(f"| Encoder, {label}, fraction of forward limit | >= 0.95 | {fraction[name]:.2f} | "
                        f"{'met' if fraction[name] >= 0.95 else '**not met**'} |")
    if "float32 images from files" in fraction:
        rows.append("| Image path from 1600 x 1200 JPEG files (adds decoding, which the forward limit leaves out) "
                    f"| reported | {fraction['float32 images from files']:.2f} | - |")
    for kind, value in figures.get("half_fractions", {}).items():
        rows.append(f"| Encoder on the GPU section's device, {kind}, fraction of forward limit | >= 0.95 | "
                    f"{value:.2f} | {'met' if value >= 0.95 else '**not met**'} |")
    if "text" in speedup:
        ceiling = figures.get("int8_kernel_ceiling")
        beside = f" (its linear layers alone: {ceiling:.2f}x)" if ceiling else ""
        rows.append(f"| int8 text encoding speed-up | >= 1.8x | {speedup['text']:.2f}x{beside} | "
                    f"{'met' if speedup['text'] >= 1.8 else '**not met**'} |")
    return ["### Targets", "", "| target | goal | measured | |", "|---|---|---|---|", *rows]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and one repetition (a smoke test)")
    parser.add_argument("--repetitions", type=int, help="interleaved repetitions per figure (default 3; quick 1)")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="run only these sections")
    parser.add_argument("--device", help="device for the GPU section (default: cuda when present, else the "
                        "section is left out; cpu runs its steps in float32 as a check of the code)")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="Markdown file to write")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "prompt-workbench-bench"),
                        help="where the model, photos and caches go (reused)")
    args = parser.parse_args(argv)
    device = _gpu_device(args.device)
    chosen = args.only or [name for name in SECTIONS if device or name not in GPU_SECTIONS]
    if device is None and any(name in GPU_SECTIONS for name in chosen):
        parser.error("the half_precision section needs a GPU: no CUDA device is present (give --device to force one)")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", TQDM_DISABLE="1",
                      ZSP_CACHE_DIR=str(work / "cache-bench"))
    started = time.perf_counter()
    print("building the model and photos ...", file=sys.stderr, flush=True)
    bench = sections.Bench(
        work=work, model=build_vit_b32(work / "vit-b32"), photos=write_photos(work / "photos", 200),
        repetitions=args.repetitions or (1 if args.quick else 3), quick=args.quick, device=device,
    )
    load = os.getloadavg()
    parts = []
    for name in chosen:
        print(f"{name} ...", file=sys.stderr, flush=True)
        parts.append(SECTIONS[name](bench))
    sections.cleanup(bench)
    minutes = (time.perf_counter() - started) / 60
    command = "python -m benchmarks" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    header = [
        "## Encoding, start-up, scaling, payload and memory (`python -m benchmarks`)",
        "",
        f"Written by `{command}` on {datetime.date.today().isoformat()} in {minutes:.0f} minutes. Every figure "
        "comes from this one run: variants are interleaved (each repetition runs them all, in a rotating order) "
        "and the tables show medians with (min-max).",
        "",
        *_machine(device),
        f"- Load average (1, 5, 15 min) at the start: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}; at the end: "
        + ", ".join(f"{value:.1f}" for value in os.getloadavg()) + ".",
        "- Model: a CLIP ViT-B/32-shaped model with random weights built from its config (text 12 x 512, vision "
        "12 x 768 at 224 px with 32 px patches, projection 512) and a 49,408-token byte-level BPE tokenizer "
        "trained in code on the project's word list: the compute of `openai/clip-vit-base-patch32` without the "
        "download (none is possible here). Photos: crops of scikit-image's sample photos, about 1600 x 1200 "
        "JPEG." + ("" if "half_precision" in chosen else " A GPU was not available to this run, so there is no "
                   "half-precision section (7)." if device is None else " Section 7 (GPU) was not run this time."),
        "",
    ]
    block = "\n".join([BEGIN, *header, *_targets(bench.figures), "", "\n\n".join(parts), END])
    out = Path(args.out)
    out.write_text(with_section(out.read_text(encoding="utf-8") if out.is_file() else "", block), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


def with_section(text: str, block: str) -> str:
    """``text`` with the generated block replaced (or, the first time, put before the first
    second-level section; in an empty file, under a title)."""
    if BEGIN in text and END in text:
        return text[: text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    if not text.strip():
        return f"# Benchmarks\n\n{block}\n"
    cut = text.find("\n## ")
    if cut < 0:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    return text[: cut + 1] + block + "\n\n" + text[cut + 1:]


if __name__ == "__main__":
    main()
