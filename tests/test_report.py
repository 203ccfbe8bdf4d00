"""The self-contained HTML report: escaping, one inlined plotly.js, no network, sections."""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from components.report import default_figures, render_html_report
from prompting.classes import ClassName
from prompting.results import Comparison, ImageRecord, StrategyResult

XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
PLOTLY_HEAD = get_plotlyjs()[:200]


def make_result(name: str, label: str, probs: np.ndarray, metrics: dict | None, **extra) -> StrategyResult:
    """A result whose logits are log-probabilities; the prompt of class k is ``prompt k``."""
    return StrategyResult(
        name=name, label=label, similarities=probs / 10, logits=np.log(probs), probabilities=probs,
        probability_kind="softmax", prompts=[[f"prompt {k}"] for k in range(probs.shape[1])],
        prompt_similarities=[probs[:, [k]] / 10 for k in range(probs.shape[1])], metrics=metrics, **extra,
    )


def make_comparison(labelled: bool = True) -> Comparison:
    """Three images, classes cat / dog / an XSS name; two strategies, metrics when labelled."""
    classes = [ClassName.plain("cat"), ClassName(display="dog", prompt="domestic dog"), ClassName.plain(XSS)]
    labels = [0, 1, 2] if labelled else [None, None, None]
    images = [
        ImageRecord(path=f'/data/"{XSS}".jpg', name=f"{XSS}.jpg", label=labels[0]),
        ImageRecord(path="/data/b.jpg", name="b.jpg", label=labels[1]),
        ImageRecord(path="/data/c.jpg", name="c.jpg", label=labels[2]),
    ]
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
    worse = np.array([[0.6, 0.3, 0.1], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    metrics = None
    if labelled:
        reliability = [{"lower": 0.0, "upper": 0.5, "count": 2, "confidence": 0.45, "accuracy": 1.0},
                       {"lower": 0.5, "upper": 1.0, "count": 1, "confidence": 0.7, "accuracy": 1.0}]
        metrics = {"top1": 1.0, "top5": None, "mean_per_class_recall": 1.0, "ece": 0.4166, "mce": 0.55,
                   "brier": 0.3, "nll": 0.8, "reliability": reliability, "confusion": np.eye(3).tolist()}
    strategies = {
        "ensemble": make_result("ensemble", "80-template ensemble", probs, metrics, notes=[f"note {XSS}"]),
        "names": make_result("names", "Bare class names", worse,
                             None if metrics is None else {**metrics, "top1": 2 / 3, "ece": 0.3}),
    }
    return Comparison(
        model="tiny/clip", classes=classes, images=images, strategies=strategies,
        skipped=[{"path": f"{XSS}.png", "reason": "not an image"}],
        strategy_errors={"cupl": f"no descriptions for {XSS}"},
        encoder_stats={"prompts_encoded": 6, "prompts_cached": 2},
    )


def script_sources(page: str) -> list[str]:
    return re.findall(r"<script[^>]*\bsrc\s*=", page, flags=re.IGNORECASE)


def test_report_is_self_contained_with_plotly_once() -> None:
    page = render_html_report(make_comparison())
    assert page.startswith("<!DOCTYPE html>")
    assert page.count(PLOTLY_HEAD) == 1
    assert not script_sources(page)
    own_markup = page.replace(get_plotlyjs(), "")
    assert "http://" not in own_markup and "https://" not in own_markup
    assert page.count("Plotly.newPlot(") == len(default_figures(make_comparison())) == 4


def test_report_escapes_user_text_everywhere() -> None:
    page = render_html_report(make_comparison())
    assert XSS not in page
    assert XSS_ESCAPED in page
    assert 'title="/data/&quot;&lt;script&gt;' in page
    assert f"note {XSS_ESCAPED}" in page and f"no descriptions for {XSS_ESCAPED}" in page


def test_report_escapes_text_inside_custom_figures() -> None:
    fig = go.Figure(go.Bar(x=[1], y=[1]))
    fig.update_layout(title=f"</script>{XSS}")
    page = render_html_report(make_comparison(), figures={XSS: fig})
    assert XSS not in page and "</script><script>" not in page
    assert f"<h3>{XSS_ESCAPED}</h3>" in page
    assert page.count("Plotly.newPlot(") == 1


def test_report_sections_for_labelled_comparison() -> None:
    page = render_html_report(make_comparison(), created=datetime(2024, 5, 6, 7, 8))
    assert "2024-05-06 07:08" in page and "tiny/clip" in page
    assert "6 prompts encoded, 2 from cache" in page
    assert "→ “domestic dog”" in page
    assert 'With "80-template ensemble", 3 of 3 images were classified correctly' in page.replace("&quot;", '"')
    assert "average gap between confidence and accuracy; lower is better" in page
    assert '<td class="num best">100.0%</td>' in page and '<td class="num">66.7%</td>' in page
    assert '<td class="num best">30.0%</td>' in page
    assert "Top-5 accuracy" not in page.split("What the numbers mean")[0].split("Accuracy and calibration")[1]
    assert '<td class="ok">✓ cat <small>0.70</small></td>' in page
    assert '<td class="bad">✗ cat <small>0.50</small></td>' in page
    assert "Skipped files" in page and "Strategies not run" in page


def test_report_unlabelled_explains_missing_metrics() -> None:
    comparison = make_comparison(labelled=False)
    figures = default_figures(comparison)
    assert list(figures) == ["Probabilities: 80-template ensemble", "Probabilities: Bare class names"]
    page = render_html_report(comparison)
    assert "need the true class of every image" in page
    assert "Both strategies agreed on 2 of 3 images." in page
    assert 'class="ok"' not in page and 'class="bad"' not in page


def test_report_without_figures() -> None:
    page = render_html_report(make_comparison(), figures={})
    assert "Plotly.newPlot(" not in page and "<h2>Figures</h2>" not in page
    assert page.count(PLOTLY_HEAD) == 1
