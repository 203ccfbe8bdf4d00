"""With true classes: accuracy per strategy, confusion matrix, reliability diagram and the
effect of temperature scaling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from components.events import PAGE_ONLY
from components.figures import (
    accuracy_bars,
    confusion_matrix_figure,
    reliability_diagram,
)
from components.results_panel import lookup
from components.tables import metric_help, metrics_table
from prompting.session_store import ResultStore, RunRecord

NO_LABELS = (
    "ℹ️ Accuracy and calibration need each image's true class. Fill in the **True classes** table under "
    "*1 · Images*, upload a zip of class folders, or use the example photos (they come labelled)."
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
    table: gr.Dataframe
    accuracy: gr.Plot
    reliability: gr.Plot
    confusion_strategy: gr.Dropdown
    confusion: gr.Plot

    @property
    def outputs(self) -> list[gr.components.Component]:
        """Components ``render_calibration`` fills, in its order."""
        return [self.note, self.table, self.accuracy, self.reliability, self.confusion_strategy, self.confusion]


def build_calibration_panel() -> CalibrationPanel:
    """The tab's content (call inside a gr.Tab)."""
    note = gr.Markdown(NO_LABELS, elem_id="calibration-note", elem_classes=["help"])
    table = gr.Dataframe(interactive=False, wrap=True, elem_id="metrics-table", show_label=False, label="Metrics")
    with gr.Accordion("What do these numbers mean?", open=False):
        gr.Markdown(metric_help())
    with gr.Row(equal_height=True):
        accuracy = gr.Plot(show_label=False, elem_id="accuracy-plot", label="Accuracy")
        reliability = gr.Plot(show_label=False, elem_id="reliability-plot", label="Calibration")
    confusion_strategy = gr.Dropdown(label="Confusion matrix for", elem_id="confusion-strategy")
    confusion = gr.Plot(show_label=False, elem_id="confusion-plot", label="Confusion matrix")
    return CalibrationPanel(note, table, accuracy, reliability, confusion_strategy, confusion)


def render_calibration(record: RunRecord) -> list[Any]:
    """Values for ``CalibrationPanel.outputs`` after a run."""
    comparison = record.comparison
    labelled = any(result.metrics for result in comparison.strategies.values())
    headers, rows = metrics_table(comparison)
    first = next(iter(comparison.strategies))
    return [
        HAS_LABELS if labelled else NO_LABELS,
        gr.Dataframe(value=rows if labelled else None, headers=headers, visible=labelled),
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
