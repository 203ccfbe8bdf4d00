"""The template-weights chart: heaviest templates first, escaped names, per-image AutoCLIP views."""

from __future__ import annotations

import numpy as np

from components.figures.weights import weights_figure
from prompting.evaluation.results import StrategyResult


def _result(weights: np.ndarray, templates: list[str], label: str = "ZPE") -> StrategyResult:
    n = weights.shape[0] if weights.ndim == 2 else 2
    zeros = np.zeros((n, 2))
    return StrategyResult(name="zpe", label=label, similarities=zeros, logits=zeros, probabilities=zeros + 0.5,
                          probability_kind="softmax", prompts=[[], []], prompt_similarities=[],
                          prompt_weights=weights, weight_templates=templates)


def test_zpe_weights_are_sorted_limited_and_escaped() -> None:
    templates = [f"template {i} of a {{}}." for i in range(30)] + ["<b>bold</b> {}"]
    weights = np.linspace(0.01, 0.05, 31)
    weights /= weights.sum()
    figure = weights_figure(_result(weights, templates), top=5)
    bar = figure.data[0]
    np.testing.assert_allclose(bar.x, np.sort(weights)[::-1][:5])
    assert figure.layout.yaxis.ticktext[0] == "&lt;b&gt;bold&lt;/b&gt; {}"
    assert "<b>bold" not in "".join(bar.hovertext)
    assert any(shape.x0 == 1 / 31 for shape in figure.layout.shapes)  # the equal-weights line
    assert "5 heaviest of 31 templates" in figure.layout.title.subtitle.text.replace("<br>", " ")


def test_autoclip_weights_per_image_or_averaged() -> None:
    weights = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    result = _result(weights, ["a {}.", "b {}.", "c {}."], label="AutoCLIP")
    one = weights_figure(result, image_index=1, image_names=["x.png", "y.png"])
    np.testing.assert_allclose(one.data[0].x, [0.7, 0.2, 0.1])
    assert one.layout.yaxis.ticktext[0] == "c {}."
    assert "y.png" in one.layout.title.subtitle.text
    mean = weights_figure(result, image_names=["x.png", "y.png"])
    np.testing.assert_allclose(sorted(mean.data[0].x), [0.2, 0.4, 0.4])
    assert "per image: 0.1000 to 0.7000" in mean.data[0].hovertext[0]


def test_without_weights_the_chart_says_how_to_get_them() -> None:
    figure = weights_figure(None)
    assert "Tick ZPE or AutoCLIP" in figure.layout.annotations[0].text


def test_without_weights_the_message_uses_plotly_html_not_markdown() -> None:
    text = weights_figure(None).layout.annotations[0].text
    assert text == ("Tick ZPE or AutoCLIP under <i>Strategies</i> and press Run:<br>their learnt template weights "
                    "show here.")
    assert "*" not in text
