"""JSON shape, CSV rows and plain-language summaries of hand-made comparisons."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest

from prompting.classes import ClassName
from prompting.evaluation.export import (
    comparison_to_csv,
    comparison_to_dict,
    encoder_summary,
    plain_language_summary,
    to_jsonable,
)
from prompting.evaluation.results import Comparison, ImageRecord, StrategyResult


def make_result(name: str, label: str, probs: np.ndarray, metrics: dict | None = None, **extra) -> StrategyResult:
    """A result whose logits are log-probabilities (so predictions follow the probabilities)."""
    p = np.asarray(probs, dtype=float)
    return StrategyResult(
        name=name, label=label, similarities=p / 10, logits=np.log(p + 1e-9), probabilities=p,
        probability_kind=extra.pop("kind", "softmax"),
        prompts=[[f"a photo of class {k}."] for k in range(p.shape[1])],
        prompt_similarities=[p[:, [k]] / 10 for k in range(p.shape[1])],
        metrics=metrics, **extra,
    )


def one_hot_probs(predicted: list[int], c: int, confidence: float = 0.8) -> np.ndarray:
    """Probabilities that put ``confidence`` on each image's predicted class."""
    p = np.full((len(predicted), c), (1 - confidence) / (c - 1))
    p[np.arange(len(predicted)), predicted] = confidence
    return p


def make_comparison(
    labels: list[int | None],
    predictions: dict[str, list[int]],
    class_names: tuple[str, ...] = ("cat", "dog", "car"),
    **extra,
) -> Comparison:
    """Images img0..imgN with ``labels``; one strategy per entry of ``predictions`` (label = key)."""
    classes = [ClassName.plain(name) for name in class_names]
    images = [ImageRecord(path=f"/data/img{i}.jpg", name=f"img{i}.jpg", label=label) for i, label in enumerate(labels)]
    strategies = {
        key.lower().replace(" ", "_"): make_result(key.lower().replace(" ", "_"), key,
                                                    one_hot_probs(preds, len(classes)))
        for key, preds in predictions.items()
    }
    return Comparison(model="tiny/clip", classes=classes, images=images, strategies=strategies, **extra)


def test_comparison_to_dict_shape_and_values() -> None:
    comparison = make_comparison(
        [0, 1, None], {"Names": [0, 2, 1]}, skipped=[{"path": "x.txt", "reason": "not an image"}],
        encoder_stats={"prompts_encoded": 3, "prompts_cached": 1, "prompts_shared": 2},
    )
    comparison.classes[1] = ClassName(display="dog", prompt="domestic dog")
    result = comparison.strategies["names"]
    result.metrics = {"nll": np.float32(0.5), "top1": 2 / 3, "ece": float("nan"), "temperature": 1.23456789,
                      "reliability": [{"lower": 0.0, "upper": 0.5, "count": np.int64(0), "confidence": None}],
                      "confusion": {"n_classes": 2, "cells": [[0, 0, np.int64(1)], [1, 1, 1]]}}
    result.seed_runs = [{"seed": 1, "top1": np.float64(0.5), "predictions": np.array([0, 1, 2])}]
    result.notes = ["note"]
    data = comparison_to_dict(comparison)
    assert list(data) == [
        "model", "quantization", "classes", "class_prompt_names", "images", "skipped", "strategies",
        "strategy_errors", "probability_meaning", "encoder", "paired",
    ]
    assert data["quantization"] is None
    assert data["classes"] == ["cat", "dog", "car"]
    assert data["class_prompt_names"] == ["cat", "domestic dog", "car"]
    assert data["images"] == [{"path": "/data/img0.jpg", "label": "cat"}, {"path": "/data/img1.jpg", "label": "dog"},
                              {"path": "/data/img2.jpg", "label": None}]
    assert data["skipped"] == [{"path": "x.txt", "reason": "not an image"}]
    assert data["encoder"] == {"prompts_encoded": 3, "prompts_cached": 1, "prompts_shared": 2,
                               "images_encoded": None, "images_cached": None}
    names = data["strategies"]["names"]
    assert list(names) == [
        "label", "probability_kind", "probability_meaning", "probabilities", "predictions", "metrics", "seed_runs", "notes",
        "weights",
    ]
    assert names["label"] == "Names" and names["probability_kind"] == "softmax" and names["weights"] is None
    assert names["predictions"] == ["cat", "car", "dog"]
    assert names["probabilities"][0] == [0.8, 0.1, 0.1]
    metrics = names["metrics"]
    assert list(metrics)[:7] == ["top1", "top5", "mean_per_class_recall", "ece", "mce", "brier", "nll"]
    assert metrics["top1"] == 0.666667 and metrics["top5"] is None and metrics["ece"] is None
    assert metrics["nll"] == 0.5 and metrics["temperature"] == 1.234568
    assert metrics["confusion"] == {"n_classes": 2, "cells": [[0, 0, 1], [1, 1, 1]]}
    assert metrics["reliability"][0]["count"] == 0
    assert names["seed_runs"] == [{"seed": 1, "top1": 0.5, "predictions": [0, 1, 2]}]
    assert names["notes"] == ["note"]
    json.dumps(data, allow_nan=False)


def test_comparison_to_dict_without_labels_or_stats() -> None:
    data = comparison_to_dict(make_comparison([None, None], {"Names": [0, 1]}))
    assert data["strategies"]["names"]["metrics"] is None
    assert data["encoder"] == dict.fromkeys(["prompts_encoded", "prompts_cached", "prompts_shared", "images_encoded",
                                             "images_cached"])
    assert all(type(x) is float for row in data["strategies"]["names"]["probabilities"] for x in row)


def test_to_jsonable_converts_numpy_and_non_finite() -> None:
    value = {1: (np.float32(np.inf), np.bool_(True), np.int32(4)), "a": [np.nan, 1e-9, "text"]}
    assert to_jsonable(value) == {"1": [None, True, 4], "a": [None, 0.0, "text"]}


def test_comparison_to_csv_rows() -> None:
    comparison = make_comparison([0, None], {"Names": [0, 1], "Ensemble": [1, 1]}, class_names=("cat", "=dog", "car"))
    rows = list(csv.reader(io.StringIO(comparison_to_csv(comparison))))
    assert rows[0] == ["image_name", "label", "strategy", "strategy_label", "probability_kind", "prediction",
                       "top_probability", "correct", "p(cat)", "p(=dog)", "p(car)"]
    assert len(rows) == 1 + 2 * 2
    assert rows[1] == ["img0.jpg", "cat", "names", "Names", "softmax", "cat", "0.800000", "true",
                       "0.800000", "0.100000", "0.100000"]
    assert rows[2][:8] == ["img1.jpg", "", "names", "Names", "softmax", "'=dog", "0.800000", ""]
    assert rows[3][2] == "ensemble" and rows[3][7] == "false"
    assert "/data/" not in comparison_to_csv(comparison)


def test_summary_labelled_ranks_strategies_best_first() -> None:
    labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    ensemble = list(labels)
    ensemble[9] = 1
    names = [0, 1, 2, 0, 1, 2, 1, 0, 1, 1]
    comparison = make_comparison(labels, {"bare class names": names, "80-template ensemble": ensemble})
    comparison.strategies["80-template_ensemble"].metrics = {"ece": 0.05}
    comparison.strategies["bare_class_names"].metrics = {"ece": 0.2}
    sentences = plain_language_summary(comparison)
    assert sentences[0] == (
        'With "80-template ensemble", 9 of 10 images were classified correctly; with "bare class names", 6 of 10.'
    )
    # The ensemble alone is right on 3 images, both on 6, neither on 1. Resampling 10 images, the difference is
    # 10 points x Binomial(10, 0.3): its 2.5th percentile is 0 (P(0) = 0.7**10 = 0.028), its 97.5th is 60 points.
    # Connor: (1.96 sqrt(0.3) + 0.8416 sqrt(0.3 - 0.09))**2 / 0.09 = 23.7 -> 24 images.
    assert sentences[1] == (
        'On these 10 images, "80-template ensemble" and "bare class names" cannot be told apart (difference +30 '
        "points, 95% CI 0 to +60). Roughly 24 labelled images would be needed to tell whether a difference this "
        "size is real."
    )
    # one-off mistakes and a "best calibrated" ranking are not reported on 10 images
    assert sentences[2:] == ["These results come from only 10 images, so differences of one or two images may be chance."]


def test_summary_on_enough_images_reports_repeated_mistakes_collapse_and_calibration() -> None:
    labels = [0, 1, 2] * 10
    ensemble = [0, 1, 2] * 9 + [1, 1, 2]
    collapsed = [1] * 20 + [0, 1, 2] * 3 + [2]
    comparison = make_comparison(labels, {"80-template ensemble": ensemble, "bare class names": collapsed})
    comparison.strategies["80-template_ensemble"].metrics = {"ece": 0.05}
    comparison.strategies["bare_class_names"].metrics = {"ece": 0.2}
    sentences = plain_language_summary(comparison)
    assert sentences[0].startswith('With "80-template ensemble", 29 of 30 images were classified correctly')
    assert sentences[1].startswith('"80-template ensemble" beats "bare class names" by 70 points (95% CI +')
    assert sentences[1].endswith("unlikely to be chance (p = 9.5e-07).")  # 21 discordant images, all one way: 2 / 2**21
    assert '"bare class names" predicted "dog" for 23 of 30 images' in sentences[2]
    assert "most closely with \"80-template ensemble\"" in sentences[3] and "5.0 percentage points" in sentences[3]
    labels_twice = make_comparison([0, 0, 1] * 10, {"A": [1, 1, 1] * 10})
    assert any('20 images of "cat" classified as "dog"' in s for s in plain_language_summary(labels_twice))


def test_summary_ties_partial_labels_and_large_sample() -> None:
    tie = make_comparison([0, 1], {"A": [0, 0], "B": [0, 0], "C": [1, 0]})
    assert plain_language_summary(tie)[0] == (
        'With "A" and "B", 1 of 2 images were classified correctly; with "C", 0 of 2.'
    )
    partial = make_comparison([0, None, 1], {"A": [0, 1, 1]})
    sentences = plain_language_summary(partial)
    assert sentences[0] == "Accuracy is measured on 2 of 3 images: those with a known true class in the class list."
    assert sentences[1] == 'With "A", 2 of 2 labelled images were classified correctly.'
    big = make_comparison([0] * 40, {"A": [0] * 40})
    assert not any("chance" in sentence for sentence in plain_language_summary(big))


def test_summary_unlabelled_reports_agreement() -> None:
    comparison = make_comparison([None] * 10, {"A": [0] * 10, "B": [0] * 8 + [1, 2], "C": [0] * 9 + [2]})
    sentences = plain_language_summary(comparison)
    assert sentences[0] == "All 3 strategies agreed on 8 of 10 images."
    assert sentences[1] == 'The closest pair, "A" and "C", agreed on 9 of 10.'
    assert sentences[2] == 'They disagreed on 2 images ("img8.jpg", "img9.jpg").'
    assert "accuracy cannot be measured" in sentences[3]
    single = plain_language_summary(make_comparison([None] * 3, {"A": [2, 2, 0]}))
    assert 'most frequent prediction of "A" was "car" (2 of 3)' in single[0]


def test_summary_seeds_problems_and_empty_cases() -> None:
    comparison = make_comparison(
        [0, 1], {"A": [0, 1]}, skipped=[{"path": "a", "reason": "x"}, {"path": "b", "reason": "y"}],
        strategy_errors={"cupl": "descriptions missing for 'dog'"},
    )
    comparison.strategies["a"].seed_runs = [{"seed": 0, "top1": 0.5}, {"seed": 1, "top1": 1.0}]
    sentences = plain_language_summary(comparison)
    assert '"A" depends on a random seed: over 2 seeds, top-1 accuracy ranged from 50% to 100%.' in sentences
    assert "\"cupl\" could not be run: descriptions missing for 'dog'." in sentences
    assert sentences[-1] == "2 files could not be read and were skipped."
    unlabelled = make_comparison([None, None], {"A": [0, 1]})
    unlabelled.strategies["a"].seed_runs = [{"seed": 0, "predictions": [0, 1]}, {"seed": 1, "predictions": [0, 2]}]
    assert any("same prediction for 1 of 2 images" in s for s in plain_language_summary(unlabelled))
    comparison.strategies["a"].seed_runs = [{"seed": 0, "top1": 0.5}, {"seed": 1, "top1": 0.5}]
    assert '"A" depends on a random seed: over 2 seeds, top-1 accuracy was 50% for every seed.' in (
        plain_language_summary(comparison)
    )
    empty = Comparison(model="m", classes=[ClassName.plain("cat")], images=[], strategies={})
    assert plain_language_summary(empty) == ["No strategies were run."]


@pytest.mark.parametrize("kind", ["softmax", "sigmoid"])
def test_probability_kind_round_trips(kind: str) -> None:
    comparison = make_comparison([0], {"A": [0]})
    comparison.strategies["a"].probability_kind = kind  # type: ignore[assignment]
    assert comparison_to_dict(comparison)["strategies"]["a"]["probability_kind"] == kind


def test_mixed_softmax_and_sigmoid_exports_say_what_each_probability_is_and_hold_the_calibration_inputs() -> None:
    from prompting.evaluation.metrics import evaluate

    labels = [0, 1, 2, 0, 1, 2]
    logits = np.array([[3.0, -1, -2], [0.5, 1.0, -1], [-2, -1, 0.2], [1, 2, -3], [-1, 2, 0], [0, 0.1, 2]])
    clip = make_result("names@clip", "Names · clip", np.exp(logits) / np.exp(logits).sum(1, keepdims=True))
    siglip = make_result("names@siglip", "Names · siglip", 1 / (1 + np.exp(-logits)), kind="sigmoid")
    siglip.logits = logits
    siglip.metrics = evaluate(logits, np.array(labels), "sigmoid")
    comparison = make_comparison(labels, {})
    comparison.strategies = {"names@clip": clip, "names@siglip": siglip}
    data = comparison_to_dict(comparison)
    assert data["probability_meaning"].startswith("mixed")
    assert data["strategies"]["names@clip"]["probability_meaning"].startswith("softmax")
    assert "calibration_probabilities" not in data["strategies"]["names@clip"]
    exported = data["strategies"]["names@siglip"]
    assert exported["probability_meaning"].startswith("sigmoid")
    calibration = np.array(exported["calibration_probabilities"])
    np.testing.assert_allclose(calibration.sum(axis=1), 1.0, atol=1e-5)
    # A researcher can reproduce SigLIP's calibration metrics from the export alone.
    confidence, correct = calibration.max(axis=1), calibration.argmax(axis=1) == np.array(labels)
    bins = np.clip(np.ceil(confidence * 15).astype(int) - 1, 0, 14)
    ece = sum(abs(correct[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).sum()
              for b in range(15) if (bins == b).any()) / len(labels)
    assert ece == pytest.approx(exported["metrics"]["ece"], abs=1e-5)
    nll = -np.mean(np.log(calibration[np.arange(6), labels]))
    assert nll == pytest.approx(exported["metrics"]["nll"], abs=1e-5)
    comparison.strategies = {"names@clip": clip}
    assert comparison_to_dict(comparison)["probability_meaning"].startswith("softmax")


def test_summary_on_a_single_image_says_so_plainly() -> None:
    sentences = plain_language_summary(make_comparison([0], {"Names": [0]}))
    assert sentences[-1] == ("These results come from a single image: they show how the strategies behave, not "
                             "which is better.")
    assert not any("only 1 image" in sentence for sentence in sentences)


def test_encoder_summary_tells_prompts_shared_within_a_run_from_the_cache_of_earlier_runs() -> None:
    comparison = make_comparison([0, 1], {"A": [0, 1]})
    comparison.encoder_stats = {"prompts_encoded": 63, "prompts_cached": 0, "prompts_shared": 3}
    assert encoder_summary(comparison) == (
        "63 prompts newly encoded, 0 reused from the cache of earlier runs, 3 shared by several strategies of this "
        "run (encoded once)"
    )
    comparison.encoder_stats = {"prompts_encoded": 1, "prompts_cached": 24, "prompts_shared": 0}
    assert encoder_summary(comparison) == "1 prompt newly encoded, 24 reused from the cache of earlier runs"
    comparison.encoder_stats = {}
    assert encoder_summary(comparison) == ""


GUESS_3 = (" Random guessing among 3 classes would get about 1 in 3 right, so these results are not clearly "
           "better than guessing.")


def test_headline_names_the_best_approach_in_plain_words_by_how_much_and_whether_it_could_be_chance() -> None:
    from prompting.evaluation.export import headline

    truth = [0, 1, 2] * 10
    clear = make_comparison(truth, {"ensemble80": truth[:27] + [1, 2, 0], "classname": [0] * 30})
    text = headline(clear)
    assert text.startswith("Best on these 30 images: CLIP's 80 ready-made sentences, averaged (“ensemble80”), "
                           "27 of 30 right against 10 for just the class name (“classname”).")
    assert re.search(r"A gap this size \(57 points; 95% interval \d+ to \d+\) is unlikely to be chance\.$", text)
    close = make_comparison([0, 1, 2, 0], {"waffle": [0, 1, 2, 1], "cupl": [0, 1, 1, 1]})
    assert headline(close) == (
        "Most right on these 4 images: random words added to the class name (“waffle”), 3 of 4 right against 2 for "
        "descriptions written by a language model (“cupl”); but a gap this small (25 points) could be chance, so "
        "these images cannot tell the two apart." + GUESS_3
    )
    tie = make_comparison([0, 1, None], {"A": [0, 0, 0], "B": [0, 0, 1], "C": [1, 0, 0]})
    assert headline(tie) == (
        "No approach did better on the 2 labelled images: “A” and “B” each got 1 of 2 right." + GUESS_3)
    assert headline(make_comparison([0, 1], {"A": [0, 0], "B": [1, 1]})) == (
        "No approach did better on these 2 images: both approaches got 1 of 2 right." + GUESS_3)
    assert headline(make_comparison([0, 1], {"zpe@clip-b32": [0, 0]})) == (
        "Ready-made sentences weighted by how sure each makes the model (“zpe@clip-b32”) got 1 of 2 images right."
        + GUESS_3)
    unlabelled = make_comparison([None] * 3, {"A": [0, 1, 2], "B": [0, 1, 0]})
    assert headline(unlabelled) == (
        "No true classes were given, so no winner can be named; the two approaches gave the same answer for 2 of "
        "3 images.")
    assert headline(make_comparison([], {"A": []})) == ""


def test_headline_says_plainly_when_the_best_is_not_clearly_better_than_random_guessing() -> None:
    from prompting.evaluation.export import headline, near_chance

    classes = tuple(f"class {k}" for k in range(10))
    truth = list(range(10))
    guessing = make_comparison(truth, {"template": [0, 1] + [0] * 8, "classname": [0] * 10}, classes)
    text = headline(guessing)
    assert text.startswith("Most right on these 10 images: sentence templates around the class name (“template”), "
                           "2 of 10 right against 1 for just the class name (“classname”)")
    assert text.endswith(" Random guessing among 10 classes would get about 1 in 10 right, so these results are "
                         "not clearly better than guessing.")
    clear = make_comparison(truth, {"template": truth[:8] + [0, 0], "classname": [0] * 10}, classes)
    assert "guessing" not in headline(clear)
    # Guessing gets 3 or more of 10 right 7% of the time (not clearly better), 4 or more 1.3% of the time.
    assert near_chance(3, 10, 10) and not near_chance(4, 10, 10)
    # On many images the binomial alone would call 15% of 1000 better than guessing; under twice chance still counts.
    assert near_chance(150, 1000, 10) and not near_chance(200, 1000, 10)
    # With 2 classes twice chance is perfect, so the binomial alone decides (8 or more of 10: 5.5% by guessing).
    assert near_chance(8, 10, 2) and not near_chance(9, 10, 2) and not near_chance(60, 100, 2)
    assert not near_chance(1, 1, 1) and not near_chance(0, 0, 10)
