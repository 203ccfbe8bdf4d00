"""Figures built from hand-made results: values, hover text, escaping and missing data."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest

from components.figures.accuracy import accuracy_bars
from components.figures.calibration import reliability_diagram
from components.figures.class_similarity import SIMILARITY_CLASS_LIMIT, class_similarity_heatmap
from components.figures.confusion import confusion_classes, confusion_matrix_figure
from components.figures.heatmaps import CLASS_LIMIT, heatmap_classes, similarity_heatmap
from components.figures.prompts import (
    MIN_COSINE_SPAN,
    PROMPT_MAX_HEIGHT,
    descriptor_bars,
    prompt_heatmap,
    shared_cosine_range,
)
from components.figures.style import (
    SUBTITLE_CHARS,
    TITLE_CHARS,
    esc,
    short_label,
    top_margin,
    visible_length,
    wrap,
    wrap_markup,
)
from prompting.evaluation.results import StrategyResult

XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def make_result(
    probs: list[list[float]],
    *,
    name: str = "names",
    label: str = "Bare class names",
    kind: str = "softmax",
    prompts: list[list[str]] | None = None,
    prompt_sims: list[np.ndarray] | None = None,
    metrics: dict | None = None,
    seed_runs: list[dict] | None = None,
) -> StrategyResult:
    """A result whose cosines are probs / 10 and logits probs * 10, one prompt per class by default."""
    p = np.asarray(probs, dtype=float)
    c = p.shape[1]
    prompts = prompts if prompts is not None else [[f"a photo of class {k}."] for k in range(c)]
    if prompt_sims is None:
        prompt_sims = [np.tile(p[:, [k]] / 10, (1, len(prompts[k]))) for k in range(c)]
    return StrategyResult(
        name=name, label=label, similarities=p / 10, logits=p * 10, probabilities=p,
        probability_kind=kind, prompts=prompts, prompt_similarities=prompt_sims,
        metrics=metrics, seed_runs=seed_runs or [],
    )


def bins(*filled: tuple[float, float, int]) -> list[dict]:
    """Ten reliability bins; ``filled`` gives (confidence, accuracy, count) for bins 5.. onwards."""
    out = [{"lower": k / 10, "upper": (k + 1) / 10, "count": 0, "confidence": None, "accuracy": None}
           for k in range(10)]
    for offset, (confidence, accuracy, count) in enumerate(filled):
        out[5 + offset].update(confidence=confidence, accuracy=accuracy, count=count)
    return out


def annotation_texts(fig: go.Figure) -> str:
    return " ".join(a.text or "" for a in fig.layout.annotations)


def test_similarity_heatmap_values_hover_and_true_labels() -> None:
    probs = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
    prompts = [["a photo of a cat.", "a blurry cat."], ["a dog."], ["a car."]]
    sims = [np.array([[0.30, 0.25], [0.10, 0.12]]), np.array([[0.2], [0.2]]), np.array([[0.1], [0.3]])]
    result = make_result(probs, prompts=prompts, prompt_sims=sims)
    fig = similarity_heatmap(result, ["a.jpg", "b.jpg"], ["cat", "dog", "car"], labels=[0, 1])
    heat = fig.data[0]
    np.testing.assert_allclose(np.asarray(heat.z), probs)
    assert heat.zmin == 0 and heat.zmax == 1
    first = heat.hovertext[0][0]
    assert "a.jpg" in first and "cat" in first and "cosine similarity: 0.0700" in first
    assert "logit: 7.000" in first and "softmax probability: 0.700" in first
    assert first.index("a photo of a cat.") < first.index("a blurry cat.")
    assert "0.3000" in first
    assert len(fig.layout.shapes) == 2
    assert fig.layout.shapes[1].x0 == 0.5 and fig.layout.shapes[1].y0 == 0.5
    ticks = list(fig.layout.yaxis.ticktext)
    assert ticks[0].startswith("✓") and ticks[1].startswith("✗")
    assert heat.texttemplate == "%{z:.2f}"
    assert "each row sums to 1" in fig.layout.title.subtitle.text


def test_similarity_heatmap_cosines_sigmoid_and_big_grid() -> None:
    rng = np.random.default_rng(0)
    probs = rng.random((40, 40))
    result = make_result(probs.tolist(), kind="sigmoid")
    names = [f"image {i}" for i in range(40)]
    fig = similarity_heatmap(result, names, [f"class {k}" for k in range(40)], value="similarities")
    shown, note = heatmap_classes(result)
    assert len(shown) <= CLASS_LIMIT and shown == sorted(shown)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), probs[:, shown] / 10)
    assert list(fig.layout.xaxis.ticktext) == [f"class {k}" for k in shown]
    assert note is not None and note.endswith("of 40.") and note in fig.layout.title.subtitle.text.replace("<br>", " ")
    assert fig.data[0].texttemplate is None
    assert fig.layout.height <= 1500
    probs_fig = similarity_heatmap(result, names, [f"class {k}" for k in range(40)])
    subtitle = probs_fig.layout.title.subtitle.text.replace("<br>", " ")
    assert "sigmoid probability (independent per class)" in subtitle
    assert "need not sum to 1" in subtitle


def many_class_result(n_classes: int, tops: list[list[int]]) -> StrategyResult:
    """Images whose best classes are ``tops[i]`` (best first); every other class scores lower."""
    rng = np.random.default_rng(1)
    logits = rng.uniform(0.0, 1.0, (len(tops), n_classes))
    for i, top in enumerate(tops):
        for rank, k in enumerate(top):
            logits[i, k] = 10.0 - rank
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    result = make_result(probs.tolist())
    result.logits = logits
    return result


def test_similarity_heatmap_many_classes_shows_each_images_top_five_and_true_classes() -> None:
    tops = [[5, 17, 300, 2, 999], [17, 5, 42, 800, 3], [600, 601, 602, 603, 604]]
    result = many_class_result(1000, tops)
    classes = [f"class {k}" for k in range(1000)]
    fig = similarity_heatmap(result, ["a.jpg", "b.jpg", "c.jpg"], classes, labels=[5, 700, None])
    expected = sorted({k for top in tops for k in top} | {5, 700})
    heat = fig.data[0]
    assert np.asarray(heat.z).shape == (3, len(expected)) == (3, 14)
    np.testing.assert_allclose(np.asarray(heat.z), np.asarray(result.probabilities)[:, expected])
    assert list(fig.layout.xaxis.ticktext) == [f"class {k}" for k in expected]
    subtitle = fig.layout.title.subtitle.text.replace("<br>", " ")
    assert "Showing the 14 classes that rank in some image's top 5 or are a true class, of 1000." in subtitle
    # true class 5 of image 0 sits in column 2, class 700 of image 1 in column 11
    outlines = [(shape.x0 + 0.5, shape.y0 + 0.5) for shape in fig.layout.shapes]
    assert outlines == [(expected.index(5), 0), (expected.index(700), 1)] == [(2, 0), (11, 1)]
    assert "class 700" in heat.hovertext[1][11] and "(this cell)" in heat.hovertext[1][11]
    assert list(fig.layout.yaxis.ticktext) == ["✓ a.jpg", "✗ b.jpg", "c.jpg"]


def test_heatmap_classes_lowers_k_then_caps() -> None:
    # 10 images with disjoint top-5s: 50 classes at k=5, 30 at k=3 -> k=3 is the deepest that fits
    tops = [[10 * i + r for r in range(5)] for i in range(10)]
    result = many_class_result(200, tops)
    shown, note = heatmap_classes(result)
    assert shown == sorted(10 * i + r for i in range(10) for r in range(3))
    assert note == "Showing the 30 classes that rank in some image's top 3, of 200."
    # 40 images, each a different top-1 and true class: even k=1 is 40 > 30 classes
    tops = [[i] for i in range(40)]
    labels = [i for i in range(40)]
    labels[1] = 0  # class 0 is the true class twice, so it is kept first
    capped, note = heatmap_classes(many_class_result(500, tops), labels)
    assert len(capped) == CLASS_LIMIT and 0 in capped
    assert note == "Showing 30 of 500 classes: the most common true classes."
    small, none = heatmap_classes(make_result([[0.5, 0.5]]))
    assert small == [0, 1] and none is None


def test_similarity_heatmap_keeps_every_class_up_to_the_limit() -> None:
    probs = np.full((2, CLASS_LIMIT), 1 / CLASS_LIMIT)
    fig = similarity_heatmap(make_result(probs.tolist()), ["a", "b"], [f"c{k}" for k in range(CLASS_LIMIT)])
    assert np.asarray(fig.data[0].z).shape == (2, CLASS_LIMIT)
    assert "Showing" not in fig.layout.title.subtitle.text


def test_similarity_heatmap_escapes_and_truncates_names() -> None:
    long_name = "an extremely long class name that will not fit on the axis"
    result = make_result([[0.5, 0.5]], prompts=[[XSS], ["x"]])
    fig = similarity_heatmap(result, [XSS], [XSS, long_name])
    ticktext = list(fig.layout.xaxis.ticktext)
    assert ticktext[0].startswith("&lt;script") and "<script" not in ticktext[0]
    assert ticktext[1].endswith("…") and len(ticktext[1]) <= 24
    hover = fig.data[0].hovertext[0][1]
    assert long_name in hover
    assert XSS not in fig.to_json().replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u002f", "/")
    assert XSS_ESCAPED in fig.data[0].hovertext[0][0]


def test_similarity_heatmap_one_image_one_class_and_errors() -> None:
    result = make_result([[1.0]])
    fig = similarity_heatmap(result, ["only.jpg"], ["only class"], labels=[None])
    assert np.asarray(fig.data[0].z).shape == (1, 1)
    assert not fig.layout.shapes
    fig.to_json()
    with pytest.raises(ValueError):
        similarity_heatmap(result, ["a", "b"], ["only class"])
    with pytest.raises(ValueError):
        similarity_heatmap(result, ["only.jpg"], ["only class"], value="logits")  # type: ignore[arg-type]


def test_prompt_heatmap_sorts_prompts_by_mean_cosine() -> None:
    long_prompt = "a photo of a cat, which has whiskers, pointy ears and a long striped tail curled up"
    prompts = [["a cat.", long_prompt, "a kitten."], ["a dog."]]
    sims = [np.array([[0.1, 0.3, 0.2], [0.1, 0.3, 0.2]]), np.array([[0.1], [0.1]])]
    result = make_result([[0.6, 0.4], [0.7, 0.3]], prompts=prompts, prompt_sims=sims)
    fig = prompt_heatmap(result, 0, ["a.jpg", "b.jpg"], class_name="cat")
    z = np.asarray(fig.data[0].z)
    np.testing.assert_allclose(z[:, 0], [0.3, 0.2, 0.1])
    assert z.shape == (3, 2)
    assert fig.layout.yaxis.ticktext[0].endswith("…")
    assert "whiskers, pointy ears and a long striped" in fig.data[0].hovertext[0][0].replace("<br>", " ")
    assert "prompt 1 of 3" in fig.data[0].hovertext[0][0]
    assert fig.layout.title.text == "Bare class names: which prompts for “cat” match each image?"


def test_prompt_heatmap_shared_range_and_minimum_span() -> None:
    ensemble_sims = [np.array([[0.20, 0.30], [0.25, 0.32]]), np.array([[0.1], [0.1]])]
    ensemble = make_result([[0.6, 0.4], [0.7, 0.3]], prompts=[["a", "b"], ["c"]], prompt_sims=ensemble_sims)
    names_sims = [np.array([[0.281], [0.279]]), np.array([[0.1], [0.1]])]
    names = make_result([[0.6, 0.4], [0.7, 0.3]], prompts=[["a cat"], ["c"]], prompt_sims=names_sims)
    assert shared_cosine_range({"e": ensemble, "n": names}, 0) == pytest.approx((0.20, 0.32))
    assert shared_cosine_range([names], 0) == pytest.approx((0.28 - MIN_COSINE_SPAN / 2, 0.28 + MIN_COSINE_SPAN / 2))
    assert shared_cosine_range([make_result([[0.6, 0.4]], prompt_sims=[])], 0) is None
    shared = prompt_heatmap(names, 0, ["a.jpg", "b.jpg"], "cat", zrange=(0.20, 0.32))
    assert (shared.data[0].zmin, shared.data[0].zmax) == (0.20, 0.32)
    assert "shared with the strategy beside it: cosine 0.200 to 0.320" in shared.layout.title.subtitle.text
    # alone, one prompt's 0.002 of noise is not stretched over the whole colour scale
    alone = prompt_heatmap(names, 0, ["a.jpg", "b.jpg"], "cat")
    assert alone.data[0].zmax - alone.data[0].zmin == pytest.approx(MIN_COSINE_SPAN)
    assert (alone.data[0].zmin + alone.data[0].zmax) / 2 == pytest.approx(0.28)
    assert "within 0.002 of each other" in alone.layout.title.subtitle.text
    wide = prompt_heatmap(ensemble, 0, ["a.jpg", "b.jpg"], "cat")
    assert (wide.data[0].zmin, wide.data[0].zmax) == pytest.approx((0.20, 0.32))


def test_prompt_heatmap_caps_tall_figures_and_drops_crowded_text() -> None:
    rng = np.random.default_rng(3)
    small = make_result([[0.6, 0.4]] * 4, prompts=[[f"p{k}" for k in range(5)], ["c"]],
                        prompt_sims=[rng.random((4, 5)), rng.random((4, 1))])
    fig = prompt_heatmap(small, 0, [f"{i}.jpg" for i in range(4)])
    assert fig.data[0].texttemplate == "%{z:.3f}" and fig.layout.yaxis.tickfont.size == 12
    eighty = make_result([[0.6, 0.4]] * 6, prompts=[[f"template {k} of a {{}}." for k in range(80)], ["c"]],
                         prompt_sims=[rng.random((6, 80)), rng.random((6, 1))])
    tall = prompt_heatmap(eighty, 0, [f"{i}.jpg" for i in range(6)])
    assert tall.layout.height == PROMPT_MAX_HEIGHT
    assert tall.layout.yaxis.tickfont.size == 9 and len(tall.layout.yaxis.ticktext) == 80
    assert tall.data[0].texttemplate is None
    many = make_result([[0.6, 0.4]] * 3, prompts=[[f"p{k}" for k in range(300)], ["c"]],
                       prompt_sims=[rng.random((3, 300)), rng.random((3, 1))])
    crowded = prompt_heatmap(many, 0, ["a", "b", "c"])
    ticks = list(crowded.layout.yaxis.tickvals)
    assert crowded.layout.height == PROMPT_MAX_HEIGHT and ticks[:2] == [0, 4] and len(ticks) == 75
    assert len(crowded.layout.yaxis.ticktext) == 75
    assert "every 4th one is labelled" in crowded.layout.title.subtitle.text
    wide = make_result([[0.6, 0.4]] * 12, prompts=[["a", "b"], ["c"]],
                       prompt_sims=[rng.random((12, 2)), rng.random((12, 1))])
    assert prompt_heatmap(wide, 0, [f"{i}" for i in range(12)]).data[0].texttemplate is None


def test_prompt_heatmap_without_prompt_scores_says_so() -> None:
    result = make_result([[0.6, 0.4]], prompt_sims=[])
    fig = prompt_heatmap(result, 0, ["a.jpg"])
    assert not fig.data
    assert "No per-prompt scores" in annotation_texts(fig)


def test_descriptor_bars_sorted_and_limited() -> None:
    prompts = [[f"cat, which has feature {k}" for k in range(12)], ["dog"]]
    cosines = np.linspace(0.1, 0.32, 12)
    sims = [cosines[None, :], np.array([[0.2]])]
    result = make_result([[0.9, 0.1]], prompts=prompts, prompt_sims=sims)
    fig = descriptor_bars(result, 0, 0, top=5, image_name="cat.jpg", class_name="cat")
    bars = fig.data[0]
    np.testing.assert_allclose(list(bars.x), cosines[::-1][:5])
    assert "feature 11" in bars.hovertext[0]
    assert fig.layout.title.text == "Bare class names: why “cat.jpg” was classified as “cat”"
    assert "top 5 of 12" in fig.layout.title.subtitle.text
    other = descriptor_bars(result, 0, 1, class_name="dog")
    assert "not its top class" in other.layout.title.text


def test_reliability_diagram_points_sizes_and_legend() -> None:
    good = make_result([[0.9, 0.1]], label="Ensemble", metrics={
        "ece": 0.0312, "reliability": bins((0.55, 0.5, 2), (0.66, 0.7, 8), (0.0, 0.0, 0), (0.85, 0.9, 4)),
    })
    other = make_result([[0.9, 0.1]], label="Names", metrics={"ece": 0.12, "reliability": bins((0.6, 0.4, 3))})
    fig = reliability_diagram({"ensemble": good, "names": other})
    diagonal, first, second = fig.data
    assert list(diagonal.x) == [0, 1] and "perfect" in diagonal.name
    assert list(first.x) == [0.55, 0.66, 0.85] and list(first.y) == [0.5, 0.7, 0.9]
    sizes = list(first.marker.size)
    assert sizes[1] == max(sizes) and sizes[0] < sizes[2]
    assert first.name == "Ensemble (ECE 3.1%)" and second.name == "Names (ECE 12.0%)"
    assert "8 image(s)" in first.hovertext[1]
    # 14 images in the bins (no n_images given): a warning that the bins are noisy
    assert "Only 14 images: bins are noisy" in fig.layout.title.subtitle.text.replace("<br>", " ")


def test_reliability_diagram_warns_only_for_small_samples() -> None:
    metrics = {"ece": 0.373, "n_images": 120, "reliability": bins((0.6, 0.4, 100), (0.7, 0.5, 20))}
    fig = reliability_diagram({"names": make_result([[0.9, 0.1]], label="Names", metrics=metrics)})
    assert fig.data[1].name == "Names (ECE 37.3%)"
    assert "noisy" not in fig.layout.title.subtitle.text
    small = reliability_diagram({"names": make_result([[0.9, 0.1]], metrics={**metrics, "n_images": 29})})
    assert "Only 29 images: bins are noisy" in small.layout.title.subtitle.text.replace("<br>", " ")


def test_reliability_diagram_without_labels_needs_labels() -> None:
    fig = reliability_diagram({"names": make_result([[0.9, 0.1]])})
    assert "Needs labels" in annotation_texts(fig)
    empty_bins = make_result([[0.9, 0.1]], metrics={"ece": None, "reliability": bins()})
    assert "Needs labels" in annotation_texts(reliability_diagram({"names": empty_bins}))


def _cells(matrix: Any) -> dict[str, Any]:
    """A dense confusion matrix in the results' sparse form."""
    dense = np.asarray(matrix)
    rows, cols = np.nonzero(dense)
    return {"n_classes": len(dense), "cells": [[int(r), int(c), int(dense[r, c])] for r, c in zip(rows, cols)]}


def test_confusion_matrix_row_normalised_with_counts() -> None:
    confusion = [[3, 1, 0], [0, 0, 0], [2, 0, 2]]
    result = make_result([[0.4, 0.3, 0.3]], metrics={"confusion": _cells(confusion)})
    fig = confusion_matrix_figure(result, ["cat", "dog", XSS])
    z = np.asarray(fig.data[0].z)
    np.testing.assert_allclose(z, [[0.75, 0.25, 0], [0, 0, 0], [0.5, 0, 0.5]])
    assert list(fig.data[0].text[0]) == ["3", "1", "0"]
    assert "3 of 4 image(s) = 75% (correct)" in fig.data[0].hovertext[0][0]
    tick = fig.layout.yaxis.ticktext[2]
    assert tick.startswith("&lt;script&gt;") and "<" not in tick
    missing = confusion_matrix_figure(make_result([[1.0]]), ["cat"])
    assert "Needs labels" in annotation_texts(missing)
    with pytest.raises(ValueError):
        confusion_matrix_figure(result, ["cat", "dog"])


def test_confusion_matrix_many_classes_keeps_occurring_ones() -> None:
    confusion = np.zeros((100, 100), dtype=int)
    confusion[3, 3], confusion[3, 50], confusion[50, 50], confusion[70, 3] = 4, 1, 2, 3
    result = make_result(np.full((1, 100), 0.01).tolist(), metrics={"confusion": _cells(confusion)})
    names = [f"class {k}" for k in range(100)]
    fig = confusion_matrix_figure(result, names)
    assert list(fig.layout.xaxis.ticktext) == ["class 3", "class 50", "class 70"]
    assert list(fig.layout.yaxis.ticktext) == ["class 3", "class 50", "class 70"]
    np.testing.assert_allclose(np.asarray(fig.data[0].z), [[0.8, 0.2, 0], [0, 1, 0], [1, 0, 0]])
    assert "Showing the 3 classes that occur as a true or predicted class, of 100." in (
        fig.layout.title.subtitle.text.replace("<br>", " "))


def test_confusion_matrix_caps_at_most_mistaken_with_other_column() -> None:
    c = 60
    confusion = np.eye(c, dtype=int) * 2
    for k in range(40):  # classes 0..39 each send one image to class k + 20
        confusion[k, k + 20] += 1
    shown, note = confusion_classes(confusion)
    assert len(shown) == CLASS_LIMIT and note is not None and "most mistakes, of 60 (60 occur" in note
    result = make_result(np.full((1, c), 1 / c).tolist(), metrics={"confusion": _cells(confusion)})
    fig = confusion_matrix_figure(result, [f"k{j}" for j in range(c)])
    ticks = list(fig.layout.xaxis.ticktext)
    assert len(ticks) == CLASS_LIMIT + 1 and ticks[-1] == f"other classes ({c - CLASS_LIMIT})"
    z = np.asarray(fig.data[0].z)
    np.testing.assert_allclose(z.sum(axis=1), 1.0)  # rows still add up to 100% with the "other" column
    row = shown.index(0)
    other = int(fig.data[0].text[row][-1] or 0)
    assert other == (0 if 20 in shown else 1)


def test_accuracy_bars_values_seed_error_bars_and_chance() -> None:
    plain = make_result([[0.5, 0.5]], label="Names", metrics={"top1": 0.7, "top5": None, "mean_per_class_recall": 0.65})
    waffle = make_result(
        [[0.5, 0.5]], label="WaffleCLIP",
        metrics={"top1": 0.8, "top5": None, "mean_per_class_recall": 0.75},
        seed_runs=[{"seed": 0, "top1": 0.7}, {"seed": 1, "top1": 0.9}, {"seed": 2, "top1": 0.65}],
    )
    fig = accuracy_bars({"names": plain, "waffle": waffle})
    names_bar, waffle_bar, seeds, chance = fig.data
    assert list(fig.layout.xaxis.ticktext) == ["Top-1<br>accuracy", "Mean<br>per-class<br>recall"]
    assert fig.layout.xaxis.tickangle == 0
    # bars are the table's numbers: WaffleCLIP's pooled-prompts score, not the per-seed mean
    assert list(names_bar.y) == [0.7, 0.65] and list(waffle_bar.y) == [0.8, 0.75]
    assert list(names_bar.text) == ["70%", "65%"] and names_bar.textangle == 0
    assert list(names_bar.textposition) == ["inside", "inside"]
    # the per-seed spread is its own trace, centred on the WaffleCLIP bar of the top-1 group only
    assert seeds.name == "per-seed mean ± std" and seeds.showlegend
    assert "<b>WaffleCLIP</b><br>Top-1 accuracy: per-seed" in seeds.hovertext[0]
    assert waffle_bar.insidetextanchor == "start" and names_bar.insidetextanchor == "end"
    assert seeds.y[0] == pytest.approx(0.75) and seeds.error_y.array[0] == pytest.approx(np.std([0.7, 0.9, 0.65]))
    assert seeds.x[0] == pytest.approx(waffle_bar.offset + waffle_bar.width / 2) and len(seeds.x) == 1
    assert waffle_bar.offset + waffle_bar.width / 2 > 0 > names_bar.offset + names_bar.width / 2
    assert "per-seed mean ± std: 75.0% ± 10.8% over 3 seeds (range 65%–90%)" in seeds.hovertext[0]
    assert "all seeds' prompts pooled" in waffle_bar.hovertext[0] and "80.0%" in waffle_bar.hovertext[0]
    assert "pooled" not in names_bar.hovertext[0]
    assert "◆ with whiskers = per-seed mean ± std" in fig.layout.title.subtitle.text.replace("<br>", " ")
    # random guessing with 2 classes: top-1 and recall at 1 in 2, no top-5 line (C < 5)
    assert [y for y in chance.y if y is not None] == [0.5] * 4
    assert chance.name == "random guessing"
    assert "Dotted lines: random guessing (top-1: 1 in 2)." in fig.layout.title.subtitle.text.replace("<br>", " ")
    assert names_bar.marker.color != waffle_bar.marker.color
    assert fig.layout.legend.orientation == "h"


def test_accuracy_bars_top5_chance_zero_bars_and_counts() -> None:
    probs = np.full((1, 10), 0.1).tolist()
    zero = make_result(probs, label="Zero", metrics={
        "top1": 0.0, "top5": 0.1, "mean_per_class_recall": 0.0, "n_images": 10, "top1_correct": 0,
        "top1_interval": [0.0, 0.278]})
    good = make_result(probs, label="Good", metrics={
        "top1": 0.7, "top5": 1.0, "mean_per_class_recall": 0.7, "n_images": 10, "top1_correct": 7,
        "top1_interval": [0.397, 0.892]})
    fig = accuracy_bars({"zero": zero, "good": good})
    zero_bar, good_bar, chance = fig.data
    assert list(zero_bar.text) == ["0%", "10%", "0%"]
    assert list(zero_bar.textposition) == ["outside", "outside", "outside"]
    assert list(good_bar.textposition) == ["inside", "inside", "inside"]
    # each 0% bar gets a visible stub in its colour, over exactly that bar's width
    stubs = fig.layout.shapes
    assert len(stubs) == 2 and all(stub.fillcolor == zero_bar.marker.color for stub in stubs)
    assert stubs[0].x1 - stubs[0].x0 == pytest.approx(zero_bar.width) and stubs[0].y1 > 0
    assert stubs[1].x0 == pytest.approx(2 + zero_bar.offset)
    # top-1 and recall at 1 in 10, top-5 at 5 in 10
    segments = [chance.y[i] for i in range(0, len(chance.y), 3)]
    assert segments == [pytest.approx(0.1), pytest.approx(0.5), pytest.approx(0.1)]
    assert chance.name == "random guessing"
    assert "top-5 accuracy: 5 in 10 = 50%" in chance.hovertext[3]
    assert "Top-1 accuracy: 70.0% (7 of 10 images)" in good_bar.hovertext[0]
    assert "95% interval: 40%–89%" in good_bar.hovertext[0]
    subtitle = fig.layout.title.subtitle.text.replace("<br>", " ")
    assert "Based on 10 labelled images: one image moves a bar by 10%." in subtitle
    big = {key: make_result(probs, label=key, metrics={**r.metrics, "n_images": 500})
           for key, r in {"zero": zero, "good": good}.items()}
    assert "Based on 500 labelled images." in accuracy_bars(big).layout.title.subtitle.text.replace("<br>", " ")
    assert "random guessing (top-1: 1 in 10; top-5: 5 in 10)." in subtitle


def test_accuracy_bars_two_seeded_strategies_share_one_legend_entry() -> None:
    runs = [{"seed": 0, "top1": 0.5, "top5": 0.9}, {"seed": 1, "top1": 0.7, "top5": 1.0}]
    metrics = {"top1": 0.6, "top5": 0.95, "mean_per_class_recall": 0.6}
    probs = np.full((1, 10), 0.1).tolist()
    fig = accuracy_bars({
        "a": make_result(probs, label="Waffle A", metrics=metrics, seed_runs=runs),
        "b": make_result(probs, label="Waffle B", metrics=metrics, seed_runs=runs),
    })
    seeds = [trace for trace in fig.data if trace.name == "per-seed mean ± std"]
    assert [trace.showlegend for trace in seeds] == [True, False]
    assert [len(trace.x) for trace in seeds] == [2, 2]  # top-1 and top-5; recall has no per-seed values
    assert seeds[0].x[1] == pytest.approx(1 + fig.data[0].offset + fig.data[0].width / 2)
    assert "<b>Waffle B</b><br>Top-5 accuracy: per-seed mean ± std: 95.0% ± 5.0%" in seeds[1].hovertext[1]


def test_accuracy_bars_without_metrics_needs_labels() -> None:
    fig = accuracy_bars({"names": make_result([[1.0]])})
    assert not fig.data and "Needs labels" in annotation_texts(fig)
    assert "Needs labels" in annotation_texts(accuracy_bars({}))


def test_class_similarity_heatmap_masks_diagonal_and_flags_pairs() -> None:
    matrix = np.array([[1.0, 0.9, 0.5], [0.9, 1.0, 0.6], [0.5, 0.6, 1.0]])
    fig = class_similarity_heatmap(matrix, ["cat", "kitten", XSS], [(0, 1, 0.9)])
    z = np.asarray(fig.data[0].z, dtype=float)
    assert np.isnan(np.diag(z)).all() and z[0, 1] == 0.9
    assert len(fig.layout.shapes) == 2
    assert [a.text for a in fig.layout.annotations] == ["0.90", "0.90"]
    assert "cat ↔ kitten (0.90)" in fig.layout.title.subtitle.text
    assert "flagged" in fig.data[0].hovertext[0][1] and "flagged" not in fig.data[0].hovertext[0][2]
    fig.to_json()
    single = class_similarity_heatmap(np.ones((1, 1)), ["cat"], [])
    assert "at least two classes" in annotation_texts(single)
    with pytest.raises(ValueError):
        class_similarity_heatmap(matrix, ["cat", "kitten"], [])
    with pytest.raises(ValueError):
        class_similarity_heatmap(matrix, ["a", "b", "c"], [(0, 5, 0.9)])


def test_every_figure_serialises_for_one_image_and_one_class() -> None:
    metrics = {"top1": 1.0, "top5": None, "mean_per_class_recall": 1.0, "ece": 0.0,
               "reliability": bins((1.0, 1.0, 1)), "confusion": _cells([[1]])}
    result = make_result([[1.0]], metrics=metrics)
    figures = [
        similarity_heatmap(result, ["a"], ["cat"], labels=[0]),
        prompt_heatmap(result, 0, ["a"]),
        descriptor_bars(result, 0, 0),
        reliability_diagram({"names": result}),
        confusion_matrix_figure(result, ["cat"]),
        accuracy_bars({"names": result}),
    ]
    for fig in figures:
        assert fig.layout.template.layout.paper_bgcolor == "white"
        fig.to_json()


def test_class_similarity_heatmap_many_classes_and_total_note() -> None:
    c = 60
    rng = np.random.default_rng(4)
    matrix = rng.uniform(0.2, 0.5, (c, c))
    matrix = (matrix + matrix.T) / 2
    np.fill_diagonal(matrix, 1.0)
    matrix[10, 55] = matrix[55, 10] = 0.95
    fig = class_similarity_heatmap(matrix, [f"c{k}" for k in range(c)], [(10, 55, 0.95)])
    ticks = list(fig.layout.xaxis.ticktext)
    assert len(ticks) == SIMILARITY_CLASS_LIMIT and "c10" in ticks and "c55" in ticks
    a, b = ticks.index("c10"), ticks.index("c55")
    assert [(s.x0 + 0.5, s.y0 + 0.5) for s in fig.layout.shapes] == [(b, a), (a, b)]
    assert np.asarray(fig.data[0].z, dtype=float)[a, b] == 0.95
    subtitle = fig.layout.title.subtitle.text.replace("<br>", " ")
    assert f"Showing the {SIMILARITY_CLASS_LIMIT} classes of the most alike pairs, of 60." in subtitle
    cut = class_similarity_heatmap(matrix[:3, :3], ["a", "b", "c"], [], total_classes=1000)
    named = class_similarity_heatmap(matrix[:3, :3], ["a", "b", "c"], [], strategy="Class name · <siglip>")
    assert named.layout.title.text.startswith("Class name · &lt;siglip&gt;: which class names look alike")
    assert "Showing the 3 classes of the most alike pairs, of 1000." in cut.layout.title.subtitle.text


def test_titles_and_subtitles_wrap_instead_of_being_cut() -> None:
    prompts = [[f"cat, which has feature {k}" for k in range(12)], ["dog"]]
    result = make_result([[0.9, 0.1]], kind="sigmoid", prompts=prompts,
                         prompt_sims=[np.linspace(0.1, 0.3, 12)[None, :], np.array([[0.2]])])
    fig = descriptor_bars(result, 0, 0, top=5, image_name="a rather long image file name.jpg",
                          class_name="a long class name here")
    subtitle = fig.layout.title.subtitle.text
    lines = subtitle.split("<br>")
    assert len(lines) >= 2 and all(visible_length(line) <= SUBTITLE_CHARS for line in lines)
    assert "Sigmoid probability (independent per class) of this class: 0.90." in " ".join(lines)
    assert all(visible_length(line) <= TITLE_CHARS for line in fig.layout.title.text.split("<br>"))
    assert fig.layout.margin.t == top_margin(subtitle, fig.layout.title.text)
    assert top_margin("one line") < top_margin("one<br>two") < top_margin("one<br>two", "a<br>b")
    # never broken inside an entity or a tag; a single long word keeps its own line
    wrapped = wrap_markup("aaaa &lt;bbbb&gt; <b>cccc</b> " + "x" * 12, 8)
    assert wrapped.split("<br>") == ["aaaa", "&lt;bbbb&gt;", "<b>cccc</b>", "x" * 12]
    assert wrap_markup("first<br>second line", 80) == "first<br>second line"


def test_labels_with_quotes_render_as_quotes() -> None:
    label = 'He said "hi" & it\'s <b>'
    assert esc(label) == 'He said "hi" &amp; it\'s &lt;b&gt;'
    assert short_label(label, 100) == esc(label) and wrap(label) == esc(label)
    result = make_result([[0.6, 0.4]], label='"quoted" strategy', prompts=[['a "fluffy" cat'], ["dog"]])
    fig = similarity_heatmap(result, ['"a".jpg'], ['the "cat"', "dog"])
    assert fig.layout.title.text.startswith('"quoted" strategy:')
    assert fig.layout.xaxis.ticktext[0] == 'the "cat"' and fig.layout.yaxis.ticktext[0] == '"a".jpg'
    assert 'a "fluffy" cat' in fig.data[0].hovertext[0][0]
    assert "&quot;" not in fig.to_json() and "&#x27;" not in fig.to_json()
    bars = accuracy_bars({"q": make_result([[0.6, 0.4]], label='"quoted"', metrics={"top1": 0.5})})
    assert bars.data[0].name == '"quoted"'


def test_two_models_crowded_charts_keep_labels_legends_and_axis_titles_clear() -> None:
    """Six results with model names in their labels: bar labels stand upright instead of running
    into each other, legend names are whole, and the legend sits below the axis title with a
    bottom margin that holds both (assets/fit_charts.js refits it to the drawn legend)."""
    from components.figures.style import AXIS_ROOM, LEGEND_ROW

    reliability = [{"lower": 0.6, "upper": 0.7, "count": 4, "confidence": 0.65, "accuracy": 0.5}]
    results = {
        f"{key}@{model}": make_result(
            [[0.6, 0.4]], name=f"{key}@{model}", label=f"{label} · {model}",
            metrics={"top1": 0.7, "top5": None, "mean_per_class_recall": 0.7, "ece": 0.1, "reliability": reliability},
        )
        for key, label in (("classname", "Class name"), ("ensemble80", "80-template ensemble"),
                           ("ensemble7", "7-template ensemble"))
        for model in ("clip-vit-base-patch32", "siglip-base-patch16-224")
    }
    bars = accuracy_bars(results)
    strategy_bars = [trace for trace in bars.data if trace.type == "bar"]
    assert len(strategy_bars) == 6 and {trace.textangle for trace in strategy_bars} == {-90}
    assert strategy_bars[3].name == "80-template ensemble · siglip-base-patch16-224"
    assert list(bars.layout.xaxis.ticktext) == ["Top-1<br>accuracy", "Mean<br>per-class<br>recall"]
    calibration = reliability_diagram(results)
    assert calibration.data[4].name == "80-template ensemble · siglip-base-patch16-224 (ECE 10.0%)"
    for fig in (bars, calibration):
        entries = sum(1 for trace in fig.data if trace.showlegend is not False)
        assert fig.layout.legend.yref == "container" and fig.layout.legend.y == 0
        assert fig.layout.legend.yanchor == "bottom"
        assert fig.layout.margin.b == AXIS_ROOM + LEGEND_ROW * entries
        assert fig.layout.meta["fit"]["legend_below"] == AXIS_ROOM
        assert fig.layout.meta["fit"]["texts"]["title.text"]["text"] == fig.layout.title.text.replace("<br>", " ")
    axis = calibration.layout.meta["fit"]["texts"]["xaxis.title.text"]
    assert axis["text"] == calibration.layout.xaxis.title.text
    assert axis["text"] == "confidence (probability given to the predicted class)"
    assert {trace.textangle for trace in accuracy_bars(dict(list(results.items())[:3])).data if trace.type == "bar"} \
        == {0}
