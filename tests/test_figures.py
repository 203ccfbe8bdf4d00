"""Figures built from hand-made results: values, hover text, escaping and missing data."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from components.figures import (
    accuracy_bars,
    class_similarity_heatmap,
    confusion_matrix_figure,
    descriptor_bars,
    prompt_heatmap,
    reliability_diagram,
    similarity_heatmap,
)
from prompting.results import StrategyResult

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
    np.testing.assert_allclose(np.asarray(fig.data[0].z), probs / 10)
    assert fig.data[0].texttemplate is None
    assert fig.layout.height <= 1500
    probs_fig = similarity_heatmap(result, names, [f"class {k}" for k in range(40)])
    assert "sigmoid probability (independent per class)" in probs_fig.layout.title.subtitle.text
    assert "need not sum to 1" in probs_fig.layout.title.subtitle.text


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
    assert "cat" in fig.layout.title.text


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
    assert fig.layout.title.text.startswith("Why")
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
    assert "ECE 0.031" in first.name and "ECE 0.120" in second.name
    assert "8 image(s)" in first.hovertext[1]


def test_reliability_diagram_without_labels_needs_labels() -> None:
    fig = reliability_diagram({"names": make_result([[0.9, 0.1]])})
    assert "Needs labels" in annotation_texts(fig)
    empty_bins = make_result([[0.9, 0.1]], metrics={"ece": None, "reliability": bins()})
    assert "Needs labels" in annotation_texts(reliability_diagram({"names": empty_bins}))


def test_confusion_matrix_row_normalised_with_counts() -> None:
    confusion = [[3, 1, 0], [0, 0, 0], [2, 0, 2]]
    result = make_result([[0.4, 0.3, 0.3]], metrics={"confusion": confusion})
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


def test_accuracy_bars_values_seed_error_bars_and_chance() -> None:
    plain = make_result([[0.5, 0.5]], label="Names", metrics={"top1": 0.7, "top5": None, "mean_per_class_recall": 0.65})
    waffle = make_result(
        [[0.5, 0.5]], label="WaffleCLIP",
        metrics={"top1": 0.8, "top5": None, "mean_per_class_recall": 0.75},
        seed_runs=[{"seed": 0, "top1": 0.7}, {"seed": 1, "top1": 0.9}],
    )
    fig = accuracy_bars({"names": plain, "waffle": waffle})
    names_bar, waffle_bar, chance = fig.data
    assert list(fig.layout.xaxis.ticktext) == ["Top-1 accuracy", "Mean per-class recall"]
    assert list(names_bar.y) == [0.7, 0.65]
    assert waffle_bar.y[0] == pytest.approx(0.8) and waffle_bar.y[1] == 0.75
    assert waffle_bar.error_y.array[0] == pytest.approx(0.1)
    assert waffle_bar.error_y.array[1] == "NaN" and not names_bar.error_y.visible
    assert "over 2 seeds" in waffle_bar.hovertext[0]
    assert list(chance.y) == [0.5, 0.5] and "1 in 2" in chance.name
    assert names_bar.marker.color != waffle_bar.marker.color


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
               "reliability": bins((1.0, 1.0, 1)), "confusion": [[1]]}
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
