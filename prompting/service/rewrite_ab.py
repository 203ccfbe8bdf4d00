"""One-click A/B test of a class's prompt name: the original vs a rewrite, same images.

Both sides are scored with the same strategy and model; only the chosen class's prompt name
differs, so every change in the predictions comes from that rewrite.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from prompting.classes import ClassName
from prompting.encoding.models import DualEncoder
from prompting.errors import ClassListError
from prompting.evaluation.compare import ImageInput, compare
from prompting.evaluation.disambiguation import with_prompt_name
from prompting.evaluation.results import Comparison, ImageRecord, StrategyResult
from prompting.strategies.registry import StrategySpec


@dataclass
class RewriteTrial:
    """The outcome: per-image predictions before and after (``headers`` name ``rows``' columns),
    and counts for the summary. With true classes, each prediction is marked ✓/✗ and the last
    column shows how the true class's probability moved."""

    headers: list[str]
    class_display: str
    original: str
    rewritten: str
    rows: list[list[str]]
    changed: int
    correct_before: int | None
    correct_after: int | None
    labelled: int
    predicted_before: int
    predicted_after: int

    def summary(self) -> str:
        """One plain sentence on what the rewrite changed."""
        total = len(self.rows)
        head = (
            f'Prompting "{self.class_display}" as "{self.rewritten}" instead of "{self.original}" changed the '
            f"top prediction of {self.changed} of {total} image{'s' if total != 1 else ''}"
        )
        if self.correct_before is not None and self.correct_after is not None:
            correct = f"{self.correct_before} → {self.correct_after} of {self.labelled} labelled images"
            return f"{head}; correct: {correct}."
        return (
            f'{head}; images predicted as "{self.class_display}": {self.predicted_before} → {self.predicted_after}. '
            "Add true classes to see whether that is better."
        )


def ab_test_rewrite(
    encoder: DualEncoder,
    images: list[ImageInput],
    classes: list[ClassName],
    spec: StrategySpec,
    index: int,
    rewritten: str,
    cancel: threading.Event | None = None,
) -> RewriteTrial:
    """Score ``spec`` with class ``index`` prompted as is and as ``rewritten``."""
    if not 0 <= index < len(classes):
        raise ClassListError(f"There is no class number {index + 1} in the current class list.")
    if not rewritten.strip():
        raise ClassListError("Write the rewritten prompt name to test, e.g. 'crane, a type of bird'.")
    before = compare(encoder, images, classes, [spec], strict=True, cancel=cancel)
    after = compare(encoder, images, with_prompt_name(classes, index, rewritten), [spec], strict=True, cancel=cancel)
    return _trial(before, after, index, classes[index], rewritten.strip())


def probability_change(was: float, now: float) -> str:
    """"0.13 → 0.07 (-0.06)": the change is that of the shown (rounded) values, so the three numbers
    always agree, and an unchanged value reads 0.00, never +0.00 or -0.00."""
    shown_was, shown_now = round(was, 2), round(now, 2)
    change = round(shown_now - shown_was, 2) + 0.0
    return f"{shown_was:.2f} → {shown_now:.2f} ({f'{change:+.2f}' if change else '0.00'})"


def _mark(predicted: int, label: int | None) -> str:
    return "" if label is None else ("✓ " if predicted == label else "✗ ")


@dataclass
class ABTable:
    """Per-image predictions of two results on the same images (``headers`` name ``rows``'
    columns): before, after, whether it changed and, with true classes, ✓/✗ marks and how the
    true class's probability moved; with counts for summaries."""

    headers: list[str]
    rows: list[list[str]]
    changed: int
    correct_before: int | None
    correct_after: int | None
    labelled: int
    before: list[int]
    after: list[int]


def ab_table(images: list[ImageRecord], names: list[str], first: StrategyResult, second: StrategyResult) -> ABTable:
    """The A/B rows of ``first`` (before) against ``second`` (after)."""
    old, new = first.predictions(1)[:, 0], second.predictions(1)[:, 0]
    labelled = [i for i, image in enumerate(images) if image.label is not None]
    headers = ["Image"] + (["True class"] if labelled else []) + ["Before", "After", "Changed?"]
    headers += ["True class's probability"] if labelled else []
    rows = []
    for i, image in enumerate(images):
        label = image.label
        row = [image.name] + ([names[label] if label is not None else "–"] if labelled else [])
        row += [
            f"{_mark(old[i], label)}{names[old[i]]} ({first.probabilities[i, old[i]]:.2f})",
            f"{_mark(new[i], label)}{names[new[i]]} ({second.probabilities[i, new[i]]:.2f})",
            "yes" if old[i] != new[i] else "",
        ]
        if labelled:
            if label is None:
                row.append("–")
            else:
                row.append(probability_change(float(first.probabilities[i, label]),
                                              float(second.probabilities[i, label])))
        rows.append(row)
    truth = [images[i].label for i in labelled]
    return ABTable(
        headers=headers,
        rows=rows,
        changed=int((old != new).sum()),
        correct_before=sum(int(old[i] == t) for i, t in zip(labelled, truth)) if labelled else None,
        correct_after=sum(int(new[i] == t) for i, t in zip(labelled, truth)) if labelled else None,
        labelled=len(labelled),
        before=old.tolist(),
        after=new.tolist(),
    )


def _trial(before: Comparison, after: Comparison, index: int, cls: ClassName, rewritten: str) -> RewriteTrial:
    first, second = next(iter(before.strategies.values())), next(iter(after.strategies.values()))
    table = ab_table(before.images, [c.display for c in before.classes], first, second)
    return RewriteTrial(
        headers=table.headers,
        class_display=cls.display,
        original=cls.prompt,
        rewritten=rewritten,
        rows=table.rows,
        changed=table.changed,
        correct_before=table.correct_before,
        correct_after=table.correct_after,
        labelled=table.labelled,
        predicted_before=table.before.count(index),
        predicted_after=table.after.count(index),
    )
