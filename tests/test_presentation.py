"""The stakeholder views: the presentation's slides, the right/wrong grid, the glossary and the
thumbnails (no gradio)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.figures.style import PRESENTATION, PRESENTATION_FONT
from components.figures.verdicts import IMAGE_LIMIT, verdict_grid
from components.glossary import glossary_entries
from components.presentation import SLIDE_MIN_HEIGHT, best_strategy, slide_figure, slides
from components.thumbnails import thumbnail_uri, thumbnails
from prompting.classes import ClassName
from prompting.evaluation.results import Comparison, ImageRecord, StrategyResult
from tests.conftest import make_image


def _result(key: str, label: str, predictions: list[int], classes: int = 3, metrics: dict | None = None,
            kind: str = "softmax") -> StrategyResult:
    probs = np.full((len(predictions), classes), 0.1)
    probs[np.arange(len(predictions)), predictions] = 0.8
    return StrategyResult(key, label, probs / 10, np.log(probs), probs, kind, [["p"]] * classes,  # type: ignore[arg-type]
                          [probs[:, [k]] / 10 for k in range(classes)], metrics=metrics)


def _comparison(labels: list[int | None], predictions: dict[str, list[int]], folder: Path | None = None,
                metrics: dict | None = None) -> Comparison:
    names = {"classname": "Class name", "ensemble80": "80-template ensemble", "waffle@siglip": "WaffleCLIP · siglip",
             "template": "Template"}
    paths = [str(make_image(folder / f"{n}.png", seed=n)) if folder else f"/none/{n}.png" for n in range(len(labels))]
    return Comparison(
        model="m", classes=[ClassName.plain(name) for name in ("cat", "dog", "bird")],
        images=[ImageRecord(path, f"{n}.png", label) for n, (path, label) in enumerate(zip(paths, labels))],
        strategies={key: _result(key, names[key], preds, metrics=metrics) for key, preds in predictions.items()},
    )


METRICS = {"top1": 0.5, "top5": None, "mean_per_class_recall": 0.5, "ece": 0.1, "n_images": 4,
           "reliability": [{"lower": 0.7, "upper": 0.8, "count": 4, "confidence": 0.75, "accuracy": 0.5}]}


def test_slides_tell_the_story_and_each_is_in_large_type() -> None:
    labelled = _comparison([0, 1, 2, 0], {"classname": [0, 0, 0, 0], "ensemble80": [0, 1, 2, 1]}, metrics=METRICS)
    assert best_strategy(labelled) == "ensemble80"
    assert [slide.key for slide in slides(labelled)] == ["accuracy", "images", "calibration", "heatmap:ensemble80"]
    assert slides(labelled)[-1].title == "How sure “80-template ensemble” was, image by image"
    for slide in slides(labelled):
        figure = slide_figure(labelled, slide.key)
        assert figure.layout.title.font.size == PRESENTATION.title_font
        assert figure.layout.font.size == PRESENTATION_FONT and figure.layout.height >= SLIDE_MIN_HEIGHT
        fit = figure.layout.meta["fit"]
        assert fit["texts"]["title.text"]["size"] == PRESENTATION.title_font
        assert fit["margin"]["title"] == PRESENTATION.title_line
    unlabelled = _comparison([None] * 3, {"classname": [0, 1, 2], "ensemble80": [0, 1, 1]})
    assert [slide.key for slide in slides(unlabelled)] == ["images", "heatmap:classname"]
    with pytest.raises(ValueError, match="No slide"):
        slide_figure(unlabelled, "heatmap:nope")


def test_the_right_and_wrong_grid_marks_each_answer_and_shows_thumbnails(tmp_path: Path) -> None:
    comparison = _comparison([0, 1, None, 2], {"classname": [0, 0, 1, 2], "ensemble80": [1, 1, 1, 2]}, tmp_path)
    figure = verdict_grid(comparison)
    grid = figure.data[0]
    assert np.asarray(grid.z).tolist() == [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 1.0]]
    assert [list(row) for row in grid.text] == [["✓ cat", "✗ dog"], ["✗ cat", "✓ dog"], ["dog", "dog"],
                                                ["✓ bird", "✓ bird"]]
    assert len(figure.layout.images) == 4
    assert all(image.source.startswith("data:image/jpeg;base64,") for image in figure.layout.images)
    assert "4 of 8 answers right" in figure.layout.title.subtitle.text
    assert list(figure.layout.yaxis.ticktext)[:2] == ["0.png<br>is cat", "1.png<br>is dog"]
    many = _comparison([0] * (IMAGE_LIMIT + 3), {"classname": [0] * (IMAGE_LIMIT + 3)})
    assert len(verdict_grid(many).data[0].z) == IMAGE_LIMIT
    assert f"The first {IMAGE_LIMIT} of {IMAGE_LIMIT + 3} images." in verdict_grid(many).layout.meta["fit"][
        "texts"]["title.subtitle.text"]["text"]


def test_the_glossary_explains_only_this_runs_terms() -> None:
    labelled = _comparison([0, 1], {"classname": [0, 1], "waffle@siglip": [0, 0]}, metrics=METRICS)
    terms = dict(glossary_entries(labelled))
    assert terms["Class name"].startswith("just the class name")
    assert terms["WaffleCLIP · siglip"].startswith("random words added to the name")
    assert "softmax probability" in terms and "sigmoid score" not in terms
    assert "95% interval" in terms and "could be chance" in terms
    unlabelled = _comparison([None, None], {"ensemble80": [0, 1]})
    unlabelled.strategies["ensemble80"].probability_kind = "sigmoid"
    terms = dict(glossary_entries(unlabelled))
    assert set(terms) == {"80-template ensemble", "sigmoid score"}


def test_the_glossary_describes_templates_truly_whether_or_not_the_visitor_wrote_any() -> None:
    terms = dict(glossary_entries(_comparison([None], {"template": [0]})))
    assert terms["Template"] == ("sentence templates around the name, such as “a photo of a cat.” (the default when "
                                 "you write none)")


def test_thumbnails_are_small_jpeg_data_uris_and_bounded_in_number(tmp_path: Path) -> None:
    big = make_image(tmp_path / "big.png", seed=1, size=(800, 400))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    uri = thumbnail_uri(str(big), 96)
    assert uri is not None and uri.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.format == "JPEG" and image.size == (96, 48)
    assert thumbnail_uri(str(broken), 96) is None
    shown = thumbnails([str(big), str(broken), str(big)], 32, limit=2)
    assert shown[0] is not None and shown[1] is None and shown[2] is None
