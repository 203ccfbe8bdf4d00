"""The benchmark's GPU section (7), which no machine here can run on a GPU: its steps run on the
CPU with a tiny model, so the code a GPU session will run once is known to work and to report
what it measured. Nothing here is timed against a goal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks import __main__ as benchmark_main
from benchmarks.half_precision import QUICK_CLASSES, QUICK_PHOTOS, half_precision
from benchmarks.sections import Bench
from prompting.strategies.templates import IMAGENET_TEMPLATES
from tests.conftest import make_image


@pytest.fixture
def bench(tiny_clip_dir: Path, tmp_path: Path) -> Bench:
    photos = [make_image(tmp_path / "photos" / f"photo_{index}.jpg", index, (64, 48)) for index in range(QUICK_PHOTOS)]
    return Bench(work=tmp_path, model=tiny_clip_dir, photos=photos, repetitions=1, quick=True, device="cpu")


def test_the_gpu_section_runs_its_steps_and_reports_them(bench: Bench) -> None:
    text = half_precision(bench)
    prompts = QUICK_CLASSES * len(IMAGENET_TEMPLATES)
    assert "### 7. The GPU section's steps on `cpu` (a check of the code, not a GPU figure), weights in float32" in text
    assert f"{QUICK_CLASSES} classes x {len(IMAGENET_TEMPLATES)} templates ({prompts:,} prompts) on {QUICK_PHOTOS}" in text
    fractions = bench.figures["half_fractions"]
    assert set(fractions) == {"text", "images"} and all(value > 0 for value in fractions.values())
    for kind in ("text", "images"):
        assert re.search(rf"\| {kind}, project[^|]*\| [^|]+ \| \*\*{fractions[kind]:.2f}\*\* \|", text)
    assert re.search(r"Pipeline / project \(cold cache\): \*\*\d+\.\dx\*\*", text)
    # the same model on the same device: the fidelity check must find identical embeddings
    assert f"image cosines min 1.0000 over {QUICK_PHOTOS} photos; top-1 prompt agrees on {QUICK_PHOTOS} of" in text


def test_the_gpu_section_is_left_out_without_a_gpu(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(benchmark_main, "_gpu_device", lambda requested: requested)
    with pytest.raises(SystemExit):
        benchmark_main.main(["--only", "half_precision"])
    assert "the half_precision section needs a GPU" in capsys.readouterr().err
