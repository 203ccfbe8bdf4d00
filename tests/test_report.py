"""The self-contained HTML report: escaping, one inlined plotly.js, no network, sections."""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from components.report import default_figures, render_html_report
from prompting.classes import ClassName
from prompting.evaluation.results import Comparison, ImageRecord, StrategyResult

XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
IMG_XSS = "<img src=x onerror=alert(1)>"  # no slash, so it can be a file name
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
        skipped=[{"path": f"/srv/uploads/tmp42/{IMG_XSS}.png", "reason": f"'{IMG_XSS}.png' is not an image"}],
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
    assert page.count("Plotly.newPlot(") == len(default_figures(make_comparison())) == 5


def test_report_escapes_user_text_everywhere() -> None:
    page = render_html_report(make_comparison())
    assert XSS not in page
    assert XSS_ESCAPED in page and IMG_XSS not in page
    assert f"<td>{XSS_ESCAPED}.jpg</td>" in page
    assert "<td>&lt;img src=x onerror=alert(1)&gt;.png</td>" in page
    assert f"note {XSS_ESCAPED}" in page and f"no descriptions for {XSS_ESCAPED}" in page


def test_report_never_shows_server_paths() -> None:
    comparison = make_comparison()
    comparison.model = "/home/alice/models/clip-vit-b32"
    comparison.strategies["ensemble"].notes.append("cached at /data/b.jpg")
    page = render_html_report(comparison)
    own_markup = page.replace(get_plotlyjs(), "")
    for folder in ("/data/", "/srv/uploads", "/home/alice", "title="):
        assert folder not in own_markup
    assert "Model <b>clip-vit-b32</b>" in page and "<title>Prompt Workbench report: clip-vit-b32</title>" in page
    assert "cached at b.jpg" in page
    assert render_html_report(make_comparison()).count("Model <b>tiny/clip</b>") == 1
    two_models = make_comparison()
    two_models.model = "openai/clip-vit-base-patch32 vs /srv/models/siglip"
    assert "Model <b>openai/clip-vit-base-patch32 vs siglip</b>" in render_html_report(two_models)


def test_report_escapes_text_inside_custom_figures() -> None:
    fig = go.Figure(go.Bar(x=[1], y=[1]))
    fig.update_layout(title=f"</script>{XSS}")
    page = render_html_report(make_comparison(), figures={XSS: fig})
    assert XSS not in page and "</script><script>" not in page
    # the figure's own title is its heading; the key stays as the accessible label only
    assert f"<h3>{XSS_ESCAPED}</h3>" not in page and f'aria-label="{XSS_ESCAPED}"' in page
    assert page.count("Plotly.newPlot(") == 1
    untitled = render_html_report(make_comparison(), figures={XSS: go.Figure(go.Bar(x=[1], y=[1]))})
    assert f"<h3>{XSS_ESCAPED}</h3>" in untitled


def test_report_shows_each_figure_heading_once() -> None:
    comparison = make_comparison()
    page = render_html_report(comparison)
    for heading, fig in default_figures(comparison).items():
        assert f"<h3>{heading}</h3>" not in page.replace("&lt;", "<").replace("&gt;", ">")
        assert fig.layout.title.text
    assert 'aria-label="Accuracy by strategy"' in page and 'aria-label="Calibration"' in page


def test_report_sections_for_labelled_comparison() -> None:
    page = render_html_report(make_comparison(), created=datetime(2024, 5, 6, 7, 8))
    assert "2024-05-06 07:08" in page and "tiny/clip" in page
    assert "6 prompts newly encoded, 2 reused from the cache of earlier runs" in page
    assert "→ “domestic dog”" in page
    assert 'With "80-template ensemble", 3 of 3 images were classified correctly' in page.replace("&quot;", '"')
    assert "average gap between confidence and accuracy; lower is better" in page
    assert '<td class="num best">100.0%</td>' in page and '<td class="num">66.7%</td>' in page
    assert '<td class="num best">30.0%</td>' in page
    assert "Top-5 accuracy" not in page.split("What the numbers mean")[0].split("Accuracy and calibration")[1]
    assert '<td class="ok">✓ cat <small>0.70</small></td>' in page
    assert '<td class="bad">✗ cat <small>0.50</small></td>' in page
    assert "Skipped files" in page and "Strategies not run" in page
    # One pair: the ensemble is right on b.jpg where names is wrong (3 of 3 vs 2 of 3), nothing the other way.
    paired = page.split("<h2>Is the difference real?</h2>")[1].split("<h2>")[0]
    assert "same 3 labelled images" in paired and "1 comparisons made" not in paired
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", paired)
    assert cells[:2] == ["80-template ensemble", "Bare class names"]
    assert cells[2].startswith("+33 [") and cells[3:7] == ["1", "0", "1", "1"]
    assert "Is the difference real?" not in render_html_report(make_comparison(labelled=False))


def test_report_unlabelled_explains_missing_metrics() -> None:
    comparison = make_comparison(labelled=False)
    figures = default_figures(comparison)
    assert list(figures) == ["Right and wrong per image", "Probabilities: 80-template ensemble",
                            "Probabilities: Bare class names"]
    page = render_html_report(comparison)
    assert "need the true class of every image" in page
    assert "Both strategies agreed on 2 of 3 images." in page
    assert 'class="ok"' not in page and 'class="bad"' not in page


def test_report_without_figures() -> None:
    page = render_html_report(make_comparison(), figures={})
    assert "Plotly.newPlot(" not in page and "<h2>Figures</h2>" not in page
    assert page.count(PLOTLY_HEAD) == 1


def labelled_metrics(**extra) -> dict:
    base = {"n_images": 10, "n_classes": 3, "top1": 0.7, "top1_correct": 7, "top1_interval": [0.397, 0.892],
            "top5": None, "mean_per_class_recall": 0.7, "ece": 0.2, "mce": 0.3, "brier": 0.4, "nll": 0.9,
            "temperature": 2.0, "nll_after_temperature": 0.7, "ece_after_temperature": 0.1,
            "temperature_at_limit": False}
    return {**base, **extra}


def metric_rows(page: str) -> dict[str, dict[str, str]]:
    """Cells ('class|inner HTML') of the metrics table, by strategy label and then column heading."""
    table = page.split("<h2>Accuracy and calibration</h2>")[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.DOTALL)
    headings = re.findall(r"<th>(.*?)</th>", rows[0])[1:]
    out = {}
    for row in rows[1:]:
        cells = re.findall(r'<td(?: class="([^"]*)")?>(.*?)</td>', row, flags=re.DOTALL)
        out[cells[0][1]] = {heading: f"{css}|{text}" for heading, (css, text) in zip(headings, cells[1:])}
    return out


def test_report_top1_counts_interval_and_n_column() -> None:
    comparison = make_comparison()
    comparison.strategies["ensemble"].metrics = labelled_metrics()
    comparison.strategies["names"].metrics = labelled_metrics(top1=0.5, top1_correct=5, top1_interval=None)
    page = render_html_report(comparison)
    head = page.split("<h2>Accuracy and calibration</h2>")[1].split("</tr>")[0]
    assert "<th>Images (n)</th><th>Top-1 accuracy</th>" in head
    rows = metric_rows(page)
    ensemble, names = rows["80-template ensemble"], rows["Bare class names"]
    assert ensemble["Images (n)"] == "num|10"
    assert ensemble["Top-1 accuracy"] == "num best|7/10 (70.0%)<br><small>95% interval 40%–89%</small>"
    assert names["Top-1 accuracy"] == "num|5/10 (50.0%)"
    # without top1_correct the count comes from top1 x n_images
    del comparison.strategies["names"].metrics["top1_correct"]
    assert metric_rows(render_html_report(comparison))["Bare class names"]["Top-1 accuracy"] == "num|5/10 (50.0%)"


def test_report_waffle_seed_spread_under_top1() -> None:
    comparison = make_comparison()
    comparison.strategies["names"].seed_runs = [{"seed": 0, "top1": 0.6}, {"seed": 1, "top1": 0.8}]
    cell = metric_rows(render_html_report(comparison))["Bare class names"]["Top-1 accuracy"]
    assert cell.endswith("<small>per seed: 70.0% ± 10.0% (60%–80%)</small>")


def test_report_mixed_probability_kinds_best_only_within_kind() -> None:
    comparison = make_comparison()
    siglip = make_result("siglip", "SigLIP names", np.array([[0.7, 0.2, 0.1]] * 3), labelled_metrics(
        top1=0.9, top1_correct=9, ece=0.05, calibration_note=None))
    siglip.probability_kind = "sigmoid"
    comparison.strategies = {"siglip": siglip, **comparison.strategies}
    page = render_html_report(comparison)
    rows = metric_rows(page)
    # the sigmoid strategy is alone in its family: nothing to beat, so nothing bold
    assert not any("best" in cell for cell in rows["SigLIP names"].values())
    assert rows["SigLIP names"]["Probabilities"] == "|sigmoid probability (independent per class)"
    assert rows["SigLIP names"]["Top-1 accuracy"] == "num|9/10 (90.0%)<br><small>95% interval 40%–89%</small>"
    # the two softmax strategies are still compared with each other (100% vs 66.7% top-1)
    assert rows["80-template ensemble"]["Top-1 accuracy"] == "num best|100.0%"
    assert rows["Bare class names"]["Top-1 accuracy"] == "num|66.7%"
    assert rows["Bare class names"]["ECE"] == "num best|30.0%"
    assert "the two kinds are not ranked against each other" in page
    assert "“SigLIP names” is scored by a model that rates each class with its own sigmoid" in page
    single = render_html_report(make_comparison())
    assert "Bold = best value in its column.</p>" in single and "sigmoid (SigLIP)" not in single


def test_report_temperature_at_limit_blanks_after_temperature_columns() -> None:
    comparison = make_comparison()
    comparison.strategies["ensemble"].metrics = labelled_metrics(temperature=1000.0, temperature_at_limit=True,
                                                                 ece_after_temperature=0.01)
    comparison.strategies["names"].metrics = labelled_metrics(ece_after_temperature=0.12)
    page = render_html_report(comparison)
    rows = metric_rows(page)
    ensemble, names = rows["80-template ensemble"], rows["Bare class names"]
    assert ensemble["Fitted temperature"] == "num|≥1000 (limit)<sup>†</sup>"
    assert ensemble["ECE after temperature"] == "num|–<sup>†</sup>"
    assert ensemble["NLL after temperature"] == "num|–<sup>†</sup>"
    # the meaningless 1% is not compared: 12% stands alone, so nothing in the column is bold
    assert names["ECE after temperature"] == "num|12.0%"
    assert "the scores carry no usable confidence signal here" in page


def test_report_names_the_strategies_whose_scores_are_sigmoid() -> None:
    comparison = make_comparison()
    comparison.strategies["names"].probability_kind = "sigmoid"
    page = render_html_report(comparison).replace("&quot;", '"')
    assert "“Bare class names” is scored by a model that rates each class with its own sigmoid" in page
    assert "calibration_probabilities" in page and "This model scores" not in page
    comparison.strategies["ensemble"].probability_kind = "sigmoid"
    assert "All strategies here are scored by a model" in render_html_report(comparison)


def test_report_opens_with_the_headline_and_presents_it_then_one_chart_at_a_time() -> None:
    comparison = make_comparison()
    page = render_html_report(comparison)
    assert page.index('<p class="headline">') < page.index("<h2>Summary</h2>")
    assert '<p class="headline">Most right on these 3 images: ' in page
    assert 'onclick="presentReport(true)"' in page and "window.presentReport = " in page
    slides = re.findall(r'<section class="slide">', page)
    assert len(slides) == 1 + len(default_figures(comparison))  # the headline, then each chart
    assert "__fitHooked" in page  # charts re-wrap their titles to a phone's width
    assert "@media print" in page
    assert "<h3>What these words mean</h3>" in page and "<dt>softmax probability</dt>" in page


def test_report_thumbnails_are_small_embedded_and_bounded(tmp_path) -> None:
    """Thumbnails are JPEG data URIs at most 96 px on a side, for at most THUMBNAIL_LIMIT images, so
    the report stays one offline file of bounded size however many images were scored."""
    import base64
    import io

    from PIL import Image

    from components.thumbnails import REPORT_SIZE, THUMBNAIL_LIMIT
    from tests.conftest import make_image

    comparison = make_comparison()
    paths = [make_image(tmp_path / f"{n}.png", seed=n, size=(640, 480)) for n in range(3)]
    for image, path in zip(comparison.images, paths):
        image.path = str(path)
    page = render_html_report(comparison)
    uris = re.findall(r'<img class="thumb" src="data:image/jpeg;base64,([^"]+)"', page)
    assert len(uris) == 3
    sizes = [Image.open(io.BytesIO(base64.b64decode(uri))).size for uri in uris]
    assert all(max(size) == REPORT_SIZE for size in sizes)
    many = make_comparison()
    many.images = [ImageRecord(path=str(paths[n % 3]), name=f"{n}.png", label=n % 3)
                   for n in range(THUMBNAIL_LIMIT + 50)]
    many.strategies = {key: make_result(key, result.label, np.resize(result.probabilities, (len(many.images), 3)),
                                        result.metrics) for key, result in many.strategies.items()}
    big = render_html_report(many)
    assert len(re.findall(r'<img class="thumb" src="data:image/jpeg', big)) == THUMBNAIL_LIMIT
    assert f"Thumbnails for the first {THUMBNAIL_LIMIT} of {THUMBNAIL_LIMIT + 50} images." in big
    thumbnail_bytes = sum(len(uri) for uri in re.findall(r'src="(data:image/jpeg;base64,[^"]+)"', big))
    assert thumbnail_bytes < THUMBNAIL_LIMIT * 12_000
