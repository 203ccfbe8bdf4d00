"""End to end through the core with tiny real-architecture models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prompting.classes import as_class_names
from prompting.data.datasets import scan_folder
from prompting.encoding.models import load_model
from prompting.errors import DatasetError, DescriptionsError
from prompting.evaluation.compare import Cancelled, ImageInput, compare
from prompting.strategies.registry import StrategySpec
from prompting.strategies.waffle import WaffleOptions

CLASSES = as_class_names(["bird", "cat", "dog"])


def _inputs(folder: Path) -> list[ImageInput]:
    return [ImageInput(str(path), label) for path, label in scan_folder(folder).items]


def _specs() -> list[StrategySpec]:
    return [
        StrategySpec("classname"),
        StrategySpec("ensemble80"),
        StrategySpec("waffle", waffle=WaffleOptions(n_words=4, n_chars=4, seeds=(0, 1, 2))),
    ]


def test_compare_scores_every_strategy_and_skips_bad_images(tiny_clip_dir: Path, labeled_folder: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    result = compare(encoder, _inputs(labeled_folder), CLASSES, _specs())
    assert [s["path"].endswith("broken.jpg") for s in result.skipped] == [True]
    assert "broken.jpg" in result.skipped[0]["reason"]
    assert len(result.images) == 6 and result.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert list(result.strategies) == ["classname", "ensemble80", "waffle"]
    for strategy in result.strategies.values():
        assert strategy.probabilities.shape == (6, 3)
        np.testing.assert_allclose(strategy.probabilities.sum(axis=1), 1.0)
        np.testing.assert_allclose(strategy.logits, encoder.logit_scale * strategy.similarities)
        assert strategy.metrics is not None and 0.0 <= strategy.metrics["top1"] <= 1.0
    assert [len(p) for p in result.strategies["ensemble80"].prompts] == [80, 80, 80]
    waffle = result.strategies["waffle"]
    assert [run["seed"] for run in waffle.seed_runs] == [0, 1, 2]
    assert all(run["top1"] is not None for run in waffle.seed_runs)
    # each seed's run equals a separate one-seed WaffleCLIP run
    for seed in (0, 2):
        alone = compare(encoder, _inputs(labeled_folder), CLASSES,
                        [StrategySpec("waffle", waffle=WaffleOptions(n_words=4, n_chars=4, seeds=(seed,)))])
        run = next(r for r in waffle.seed_runs if r["seed"] == seed)
        assert run["predictions"] == alone.strategies["waffle"].logits.argmax(axis=1).tolist()
        assert run["top1"] == alone.strategies["waffle"].metrics["top1"]
        assert run["ece"] == pytest.approx(alone.strategies["waffle"].metrics["ece"], abs=1e-9)
    # the waffle score is the mean of the per-prompt cosines over all seeds
    np.testing.assert_allclose(waffle.similarities[:, 1], waffle.prompt_similarities[1].mean(axis=1))
    distinct = 3 + 3 * 80 + 3 * 3 * 8
    assert result.encoder_stats == {"prompts_encoded": distinct, "prompts_cached": 0, "prompts_shared": 0,
                                    "images_encoded": 6, "images_cached": 0}


def test_rerun_encodes_nothing_and_one_edited_class_encodes_only_its_prompts(
    tiny_clip_dir: Path, labeled_folder: Path
) -> None:
    encoder = load_model(str(tiny_clip_dir))
    compare(encoder, _inputs(labeled_folder), CLASSES, _specs()[:2])
    again = compare(encoder, _inputs(labeled_folder), CLASSES, _specs()[:2])
    assert again.encoder_stats["prompts_encoded"] == 0
    edited = as_class_names(["bird", "cat", "puppy dog"])
    third = compare(encoder, _inputs(labeled_folder), edited, _specs()[:2])
    assert third.encoder_stats["prompts_encoded"] == 1 + 80


def test_siglip_probabilities_are_independent_sigmoids(tiny_siglip_dir: Path, flat_folder: Path) -> None:
    encoder = load_model(str(tiny_siglip_dir))
    inputs = [ImageInput(str(p)) for p in sorted(flat_folder.iterdir())]
    result = compare(encoder, inputs, CLASSES, [StrategySpec("ensemble7")])
    strategy = result.strategies["ensemble7"]
    assert result.labels is None and strategy.metrics is None and strategy.probability_kind == "sigmoid"
    expected = 1 / (1 + np.exp(-(encoder.logit_scale * strategy.similarities + encoder.logit_bias)))
    np.testing.assert_allclose(strategy.probabilities, expected)


def test_non_strict_mode_keeps_other_strategies(tiny_clip_dir: Path, flat_folder: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    inputs = [ImageInput(str(p)) for p in sorted(flat_folder.iterdir())]
    specs = [StrategySpec("dclip", descriptions={"bird": ["wings"]}), StrategySpec("classname")]
    result = compare(encoder, inputs, CLASSES, specs, strict=False)
    assert list(result.strategies) == ["classname"] and "cat" in result.strategy_errors["dclip"]
    with pytest.raises(DescriptionsError):
        compare(encoder, inputs, CLASSES, specs)


def test_no_readable_image_and_cancel(tiny_clip_dir: Path, tmp_path: Path, flat_folder: Path) -> None:
    import threading

    encoder = load_model(str(tiny_clip_dir))
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    with pytest.raises(DatasetError, match="No readable images"):
        compare(encoder, [ImageInput(str(bad))], CLASSES, [StrategySpec("classname")])
    stop = threading.Event()
    stop.set()
    inputs = [ImageInput(str(p)) for p in sorted(flat_folder.iterdir())]
    with pytest.raises(Cancelled):
        compare(encoder, inputs, CLASSES, [StrategySpec("classname")], cancel=stop)


def test_cancel_during_text_encoding_stops_between_batches_and_keeps_work(
    tiny_clip_dir: Path, flat_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import prompting.encoding.embeddings as embeddings

    monkeypatch.setattr(embeddings, "TEXT_BATCH_SIZE", 8)
    encoder = load_model(str(tiny_clip_dir))
    stop = threading.Event()
    messages: list[str] = []

    def progress(fraction: float, message: str) -> None:
        messages.append(message)
        if "encoded 16 of" in message:
            stop.set()

    inputs = [ImageInput(str(p)) for p in sorted(flat_folder.iterdir())]
    with pytest.raises(Cancelled):
        compare(encoder, inputs, CLASSES, [StrategySpec("ensemble80")], progress=progress, cancel=stop)
    # the stop is noticed at the next batch boundary: 3 batches of 8 were encoded and cached
    assert "encoded 16 of 240 new prompts" in [m for m in messages if "new prompts" in m][-1]
    resumed = compare(encoder, inputs, CLASSES, [StrategySpec("ensemble80")])
    assert resumed.encoder_stats == {"prompts_encoded": 240 - 24, "prompts_cached": 24, "prompts_shared": 0,
                                     "images_encoded": 0, "images_cached": 3}


def _big_png(path: Path, side: int = 8000) -> Path:
    """A small file declaring side x side pixels (one grey value compresses to almost nothing)."""
    from PIL import Image

    Image.new("L", (side, side), 90).save(path)
    return path


def test_pixel_budget_refuses_an_over_budget_run_before_decoding_and_others_go_on(
    tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prompting.encoding import images as image_module
    from prompting.errors import BudgetError

    encoder = load_model(str(tiny_clip_dir))
    small = [ImageInput(str(p)) for p in sorted(flat_folder.iterdir())]
    big = ImageInput(str(_big_png(tmp_path / "huge.png")), name="holiday <b>big</b>.png")
    decoded: list[str] = []
    real = image_module._decode
    monkeypatch.setattr(image_module, "_decode", lambda stream, label, min_side=None: decoded.append(label) or
                        real(stream, label, min_side))
    with pytest.raises(BudgetError) as refused:
        compare(encoder, small + [big], CLASSES, [StrategySpec("classname")], max_pixels=10_000_000)
    message = str(refused.value)
    assert "64 million pixels decoded" in message and "'holiday <b>big</b>.png', 64 million" in message
    assert "at most 10 million per run" in message
    assert decoded == []  # refused up front: nothing was decoded
    within = compare(encoder, small, CLASSES, [StrategySpec("classname")], max_pixels=10_000_000)
    assert within.encoder_stats["images_encoded"] == 3
    # cached images cost nothing: the budget counts only what a run would decode
    again = compare(encoder, small, CLASSES, [StrategySpec("classname")], max_pixels=1)
    assert again.encoder_stats["images_cached"] == 3


def test_plan_work_counts_what_a_run_would_encode_without_encoding(
    tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prompting.evaluation.compare import plan_work

    encoder = load_model(str(tiny_clip_dir))
    paths = sorted(flat_folder.iterdir())
    inputs = [ImageInput(str(p)) for p in paths] + [ImageInput(str(paths[0]), name="again.png")]
    inputs.append(ImageInput(str(tmp_path / "missing.png")))
    specs = [StrategySpec("classname"), StrategySpec("ensemble7"), StrategySpec("dclip", descriptions={})]
    for name in ("encode_text", "encode_images"):
        monkeypatch.setattr(encoder, name, lambda *args: pytest.fail("planning must not encode"))
    plan = plan_work(encoder, inputs, CLASSES, specs)
    assert plan.as_dict() == {"prompts_to_encode": 3 + 21, "prompts_cached": 0, "images_to_encode": 3,
                              "images_cached": 0, "pixels_to_decode": 3 * 40 * 32}
    monkeypatch.undo()
    compare(encoder, inputs[:2], CLASSES, [StrategySpec("classname")])
    after = plan_work(encoder, inputs, CLASSES, specs)
    assert (after.prompts_to_encode, after.prompts_cached, after.images_to_encode, after.images_cached) == (
        21, 3, 1, 2)


def test_progress_counts_work_and_says_how_long_is_left() -> None:
    from prompting.encoding.models import Throughput
    from prompting.evaluation.compare import RunMeter, WorkPlan, format_duration

    plan = WorkPlan(prompts_to_encode=100, prompts_cached=0, images_to_encode=10, images_cached=0,
                    pixels_to_decode=0)
    reports: list[tuple[float, str]] = []
    meter = RunMeter(Throughput(text=0.5, image=2.0), plan, lambda f, m: reports.append((f, m)))
    meter.images(0.5, "Encoded 5 of 10 new images")
    assert reports[-1] == (pytest.approx(10 / 70), "Encoded 5 of 10 new images · about 1 min left")
    meter.images(1.0, "Encoded 10 of 10 new images")
    meter.prompts(0.9, "Names: encoded 90 of 100 new prompts")
    assert reports[-1] == (pytest.approx(65 / 70), "Names: encoded 90 of 100 new prompts · about 5 s left")
    meter.prompts(1.0, "Done")
    assert reports[-1] == (1.0, "Done")
    assert [f for f, _ in reports] == sorted(f for f, _ in reports)
    unmeasured = RunMeter(Throughput(), plan, lambda f, m: reports.append((f, m)))
    unmeasured.images(0.5, "Encoded 5 of 10 new images")
    assert reports[-1][1] == "Encoded 5 of 10 new images"  # no guess at the time before anything was timed
    assert [format_duration(s) for s in (0.2, 44, 61, 150, 3900)] == [
        "about 1 s", "about 44 s", "about 1 min", "about 2 min", "about 1 h 5 min"]


def test_compare_reports_progress_by_work_to_the_end(tiny_clip_dir: Path, flat_folder: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    inputs = [ImageInput(str(p)) for p in sorted(flat_folder.iterdir())]
    reports: list[tuple[float, str]] = []
    compare(encoder, inputs, CLASSES, [StrategySpec("classname"), StrategySpec("ensemble80")],
            progress=lambda f, m: reports.append((f, m)))
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    messages = [m for _, m in reports]
    assert any(m.startswith("Encoded 3 of 3 new images") for m in messages)
    assert any("encoded 243 of 243 new prompts" in m for m in messages)


def test_metrics_use_the_images_with_a_known_true_class(tiny_clip_dir: Path, labeled_folder: Path) -> None:
    """An image whose true class is unknown (none given, or not in the class list) is left out of
    accuracy and calibration, exactly as if it had not been scored; the paired comparison uses
    the same images."""
    from prompting.evaluation.metrics import evaluate
    from prompting.evaluation.paired import paired_comparisons

    encoder = load_model(str(tiny_clip_dir))
    inputs = [item for item in _inputs(labeled_folder) if not item.path.endswith("broken.jpg")]
    partial = [ImageInput(item.path, None if index in (1, 4) else item.label) for index, item in enumerate(inputs)]
    specs = [StrategySpec("classname"), StrategySpec("ensemble7")]
    result = compare(encoder, partial, CLASSES, specs)
    assert result.labels is None and result.partial_labels.tolist() == [0, -1, 1, 1, -1, 2]
    known = [0, 2, 3, 5]
    for strategy in result.strategies.values():
        expected = evaluate(strategy.logits[known], np.array([0, 1, 1, 2]), "softmax")
        assert strategy.metrics["n_images"] == 4
        assert strategy.metrics["top1"] == expected["top1"]
        assert strategy.metrics["ece"] == pytest.approx(expected["ece"], abs=1e-12)
    assert [pair.n_images for pair in paired_comparisons(result)] == [4]
    unlabelled = compare(encoder, [ImageInput(item.path) for item in inputs], CLASSES, specs)
    assert unlabelled.partial_labels is None
    assert all(strategy.metrics is None for strategy in unlabelled.strategies.values())
