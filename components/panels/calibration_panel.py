"""With true classes: accuracy per strategy, confusion matrix, reliability diagram and the
effect of temperature scaling. Without them: one message saying what is missing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from components.figures.accuracy import accuracy_bars
from components.figures.calibration import reliability_diagram
from components.figures.confusion import confusion_matrix_figure
from components.panels.events import PAGE_ONLY
from components.panels.results_panel import lookup
from components.tables import (
    label_gap_notes,
    md_escape,
    metric_help,
    metrics_cautions,
    metrics_table,
    paired_table,
    unmatched_labels_note,
)
from prompting.evaluation.export import coverage_sentence
from prompting.evaluation.paired import PairedComparison
from prompting.service.session_store import ResultStore, RunRecord

NO_LABELS = (
    "ℹ️ **Accuracy and calibration need each image's true class.** Fill in the **True classes** table under "
    "*1 · Images*, upload a zip of class folders, or use the example photos (they come labelled); then press "
    "**Run** again."
)
PAIRED_HELP = (
    "Each row compares two strategies **on the same images**, the better-scoring one first. The interval is where "
    "the difference would likely fall on many more such images (paired bootstrap over the images); it is called a "
    "*real difference* only when the interval excludes zero. *McNemar p* tests the images only one of the two got "
    "right; *Holm p* adjusts it for making several comparisons at once."
)
HAS_LABELS = (
    "Measured on the images' true classes. *Temperature scaling* divides the scores by one number fitted to "
    "these images; the columns after it show how much more honest the confidence would be (optimistic, "
    "because it is fitted and measured on the same images)."
)


@dataclass
class CalibrationPanel:
    """Handles of the accuracy & calibration tab."""

    note: gr.Markdown
    body: gr.Column
    cautions: gr.Markdown
    table: gr.Dataframe
    paired_box: gr.Column
    paired: gr.Dataframe
    accuracy: gr.Plot
    reliability: gr.Plot
    confusion_strategy: gr.Dropdown
    confusion: gr.Plot

    @property
    def outputs(self) -> list[gr.components.Component]:
        """Components ``render_calibration`` fills, in its order."""
        return [self.note, self.body, self.cautions, self.table, self.paired_box, self.paired, self.accuracy,
                self.reliability, self.confusion_strategy, self.confusion]


def build_calibration_panel() -> CalibrationPanel:
    """The tab's content (call inside a gr.Tab): a note, then the table and charts (hidden
    until a run has true classes)."""
    note = gr.Markdown(NO_LABELS, elem_id="calibration-note", elem_classes=["info-box"])
    with gr.Column(visible=False, elem_id="calibration-body") as body:
        cautions = gr.Markdown(elem_id="metrics-cautions", elem_classes=["caution-box"], visible=False)
        table = gr.Dataframe(interactive=False, wrap=True, elem_id="metrics-table", show_label=False,
                             label="Metrics")
        with gr.Accordion("What do these numbers mean?", open=False):
            gr.Markdown(metric_help())
        with gr.Column(visible=False, elem_id="paired-box") as paired_box:
            gr.Markdown("#### Is the difference real?", elem_classes=["section-title"])
            gr.Markdown(PAIRED_HELP, elem_classes=["help"])
            paired = gr.Dataframe(interactive=False, wrap=True, elem_id="paired-table", show_label=False,
                                  label="Paired comparison", max_height=420)
        with gr.Row(equal_height=True, elem_classes=["side-by-side"]):
            accuracy = gr.Plot(show_label=False, elem_id="accuracy-plot", label="Accuracy")
            reliability = gr.Plot(show_label=False, elem_id="reliability-plot", label="Calibration")
        confusion_strategy = gr.Dropdown(label="Confusion matrix for", elem_id="confusion-strategy")
        confusion = gr.Plot(show_label=False, elem_id="confusion-plot", label="Confusion matrix")
    return CalibrationPanel(note, body, cautions, table, paired_box, paired, accuracy, reliability,
                            confusion_strategy, confusion)


def no_labels_message(record: RunRecord) -> str:
    """Why there are no accuracy figures: no true classes, or none in the class list."""
    if record.unmatched_labels:
        return f"ℹ️ **{md_escape(unmatched_labels_note(record.unmatched_labels, False))}**"
    return NO_LABELS


def coverage_cautions(record: RunRecord) -> list[str]:
    """Which images the numbers are measured on, and why the others are left out, in the words
    the Summary uses (empty when every image has a true class)."""
    images = record.comparison.images
    labelled = sum(image.label is not None for image in images)
    if labelled == len(images):
        return []
    gaps = label_gap_notes(record.comparison, record.unmatched_labels)
    return [f"⚠️ {md_escape(coverage_sentence(labelled, len(images)))}"] + [md_escape(note) for note in gaps]


def render_calibration(record: RunRecord, pairs: list[PairedComparison]) -> list[Any]:
    """Values for ``CalibrationPanel.outputs`` after a run (``pairs``: its paired comparisons)."""
    comparison = record.comparison
    labelled = any(result.metrics for result in comparison.strategies.values())
    if not labelled:
        return [
            gr.Markdown(no_labels_message(record), elem_classes=["info-box"]), gr.Column(visible=False),
            gr.Markdown("", visible=False), gr.Dataframe(value=None), gr.Column(visible=False),
            gr.Dataframe(value=None), None, None, gr.Dropdown(choices=[], value=None), None,
        ]
    headers, rows = metrics_table(comparison)
    paired_headers, paired_rows = paired_table(pairs)
    cautions = coverage_cautions(record) + metrics_cautions(comparison)
    first = next(iter(comparison.strategies))
    return [
        gr.Markdown(HAS_LABELS, elem_classes=["help"]),
        gr.Column(visible=True),
        gr.Markdown("\n\n".join(cautions), visible=bool(cautions)),
        gr.Dataframe(value=rows, headers=headers),
        gr.Column(visible=bool(pairs)),
        gr.Dataframe(value=paired_rows, headers=paired_headers),
        accuracy_bars(comparison.strategies),
        reliability_diagram(comparison.strategies),
        gr.Dropdown(choices=[(r.label, key) for key, r in comparison.strategies.items()], value=first),
        confusion_figure(record, first),
    ]


def confusion_figure(record: RunRecord, key: str) -> go.Figure:
    """The confusion matrix of one strategy."""
    comparison = record.comparison
    return confusion_matrix_figure(comparison.strategies[key], [cls.display for cls in comparison.classes])


def wire_calibration_panel(panel: CalibrationPanel, token: gr.State, store: ResultStore) -> None:
    """Redraw the confusion matrix for the chosen strategy."""
    panel.confusion_strategy.input(
        lambda tok, key: confusion_figure(lookup(store, tok), key), [token, panel.confusion_strategy], panel.confusion,
        **PAGE_ONLY,
    )
