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
    assert result.encoder_stats == {"prompts_encoded": distinct, "prompts_cached": 0, "prompts_shared": 0}


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
    assert [m for m in messages if "encoded" in m][-1].endswith("encoded 16 of 240 new prompts")
    resumed = compare(encoder, inputs, CLASSES, [StrategySpec("ensemble80")])
    assert resumed.encoder_stats == {"prompts_encoded": 240 - 24, "prompts_cached": 24, "prompts_shared": 0}


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
