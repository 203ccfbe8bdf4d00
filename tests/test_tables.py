"""Page tables: the paired table's key columns first, and true classes that are not in the class list."""

from __future__ import annotations

import numpy as np

from components.tables import paired_table, predictions_table, true_class_cell
from prompting.classes import parse_class_list
from prompting.evaluation.export import PAIRED_HEADERS
from prompting.evaluation.paired import PairedComparison
from prompting.evaluation.results import Comparison, ImageRecord, StrategyResult


def _pair() -> PairedComparison:
    """B read first after the swap: it scored 20 points higher on 50 images, a decided difference."""
    return PairedComparison(
        a="a", b="b", label_a="A", label_b="<b>B</b>", n_images=50, top1_a=0.5, top1_b=0.7, delta_top1=-0.2,
        ci95=(-0.34, -0.06), a_only=2, b_only=12, mcnemar_p=0.0129, holm_p=0.0258, delta_recall=-0.1,
        recall_ci95=(-0.2, 0.0), images_needed=None,
    )


def test_the_paired_table_leads_with_the_pair_its_verdict_and_the_top1_difference_and_keeps_every_column() -> None:
    headers, rows = paired_table([_pair()])
    assert headers == ["Strategy", "vs", "Verdict", "Top-1 difference, points (95% CI)", "Only first right",
                       "Only second right", "McNemar p", "Holm p", "Recall difference, points (95% CI)"]
    assert sorted(headers) == sorted(PAIRED_HEADERS)
    assert rows == [["<b>B</b>", "A", "real difference", "+20 [+6, +34]", "12", "2", "0.013", "0.026",
                     "+10 [0, +20]"]]
    assert paired_table([]) == (headers, [])


def _comparison(labels: list[int | None]) -> Comparison:
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])[: len(labels)]
    result = StrategyResult("names", "Names", similarities=scores, logits=scores, probabilities=scores,
                            probability_kind="softmax", prompts=[["cat"], ["dog"]],
                            prompt_similarities=[scores[:, :1], scores[:, 1:]])
    images = [ImageRecord(f"/srv/i{n}.png", f"i{n}.png", label) for n, label in enumerate(labels)]
    return Comparison(model="m", classes=parse_class_list("cat\ndog"), images=images, strategies={"names": result})


def test_a_true_class_not_in_the_class_list_is_shown_by_name_with_a_note_escaped() -> None:
    comparison = _comparison([0, None, None])
    headers, rows = predictions_table(comparison, given_labels={"/srv/i1.png": " <i>coffee</i>  mug "})
    assert headers == ["Image", "True class", "Names"]
    assert [row[1] for row in rows] == ["cat", "&lt;i&gt;coffee&lt;/i&gt; mug (not in the class list)", "?"]
    assert rows[1][2] == "dog (0.80)"  # no right/wrong mark: the true class is not one it could answer
    assert [row[1] for row in predictions_table(comparison)[1]] == ["cat", "?", "?"]  # no typed classes known


def test_the_true_class_column_shows_when_only_unlisted_classes_were_typed() -> None:
    comparison = _comparison([None, None])
    assert predictions_table(comparison)[0] == ["Image", "Names"]
    headers, rows = predictions_table(comparison, given_labels={"/srv/i0.png": "coffee", "/srv/i1.png": ""})
    assert headers == ["Image", "True class", "Names"]
    assert [row[1] for row in rows] == ["coffee (not in the class list)", "?"]
    assert true_class_cell(["cat", "dog"], 1, "DOG") == "dog"
