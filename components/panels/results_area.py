"""The results area: a placeholder until the first run, then tabs filled from one run record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from components.panels.calibration_panel import (
    CalibrationPanel,
    build_calibration_panel,
    render_calibration,
    wire_calibration_panel,
)
from components.panels.disambiguation_panel import (
    DisambiguationPanel,
    build_disambiguation_panel,
    render_disambiguation,
    wire_disambiguation_panel,
)
from components.panels.events import PAGE_ONLY, RESIZE_JS
from components.panels.export_panel import ExportPanel, build_export_panel, wire_export_panel
from components.panels.prompt_search_panel import (
    PromptSearchPanel,
    ViewRefresh,
    build_prompt_search_panel,
    render_prompt_search,
)
from components.panels.descriptions_panel import LLMGuard
from components.panels.fudd_panel import FuddPanel, build_fudd_panel, render_fudd, wire_fudd_panel
from components.panels.results_panel import (
    PredictionsPanel,
    build_predictions_panel,
    render_predictions,
    wire_predictions_panel,
)
from components.tables import unmatched_labels_note
from prompting.evaluation.paired import paired_comparisons
from prompting.service.config import AppConfig
from prompting.service.session_store import ResultStore, RunRecord

PLACEHOLDER = (
    "Results appear here after you press **Run**: a plain-language summary, predictions side by side, "
    "heatmaps, accuracy and calibration (with true classes), and look-alike class names."
)
STALE = (
    "**Previous run.** The last Run could not start (see the message above), so these are the results of the "
    "run before it. Fix the problem and press **Run** again."
)
STALE_CLASS = "stale-results"


@dataclass
class ResultsArea:
    """Handles of every results tab."""

    placeholder: gr.Markdown
    column: gr.Column
    stale: gr.Markdown
    tabs: gr.Tabs
    predictions: PredictionsPanel
    calibration: CalibrationPanel
    disambiguation: DisambiguationPanel
    fudd: FuddPanel
    export: ExportPanel
    search: PromptSearchPanel

    @property
    def outputs(self) -> list[Any]:
        """Components ``render_results`` fills, in its order."""
        return [
            self.placeholder, self.column, self.stale, *self.predictions.outputs, *self.calibration.outputs,
            *self.disambiguation.outputs, *self.fudd.outputs, self.export.files, *self.search.outputs,
        ]

    def views(self) -> ViewRefresh:
        """The views to redraw when a strategy joins the run (it is shown on the right, side by side)."""
        outputs = [self.tabs, *self.predictions.outputs, *self.calibration.outputs, *self.disambiguation.outputs]

        def render(record: RunRecord, key: str) -> list[Any]:
            pairs = paired_comparisons(record.comparison)
            return [gr.Tabs(selected="tab-heatmaps"), *render_predictions(record, [], pairs, right=key),
                    *render_calibration(record, pairs), *render_disambiguation(record)]

        return ViewRefresh(outputs, render)


def build_results_area(config: AppConfig) -> ResultsArea:
    """The placeholder and the (initially hidden) results tabs, with a banner for results that
    are no longer the latest run's."""
    placeholder = gr.Markdown(PLACEHOLDER, elem_id="results-placeholder", elem_classes=["placeholder"])
    with gr.Column(visible=False, elem_id="results") as column:
        stale = gr.Markdown(STALE, visible=False, elem_id="stale-banner", elem_classes=["stale-banner"])
        with gr.Tabs(elem_id="results-tabs") as tabs:
            predictions = build_predictions_panel()
            with gr.Tab("Accuracy & calibration", id="tab-calibration"):
                calibration = build_calibration_panel()
            with gr.Tab("Class names", id="tab-disambiguation"):
                disambiguation = build_disambiguation_panel()
                fudd = build_fudd_panel(config)
            with gr.Tab("Find better prompts", id="tab-prompt-search"):
                search = build_prompt_search_panel(config)
            with gr.Tab("Export", id="tab-export"):
                export = build_export_panel()
    return ResultsArea(placeholder, column, stale, tabs, predictions, calibration, disambiguation, fudd, export,
                       search)


def render_results(record: RunRecord, notes: list[str]) -> list[Any]:
    """Values for ``ResultsArea.outputs`` (the paired comparisons are computed once, for the
    summary and the accuracy tab)."""
    pairs = paired_comparisons(record.comparison)
    return [
        gr.Markdown(visible=False),
        gr.Column(visible=True, elem_classes=[]),
        gr.Markdown(visible=False),
        *render_predictions(record, notes, pairs),
        *render_calibration(record, pairs),
        *render_disambiguation(record),
        *render_fudd(record),
        None,
        *render_prompt_search(record),
    ]


def stale_results(area: ResultsArea) -> list[Any]:
    """Values for ``ResultsArea.outputs`` after a failed run: the previous results stay, dimmed
    and labelled "Previous run" (nothing shows when there were none)."""
    rest = [gr.skip()] * (len(area.outputs) - 3)
    return [gr.skip(), gr.Column(elem_classes=[STALE_CLASS]), gr.Markdown(STALE, visible=True), *rest]


def wire_results_area(
    area: ResultsArea, token: gr.State, store: ResultStore, classes_box: gr.Textbox, config: AppConfig,
    guard: LLMGuard,
) -> None:
    """Every tab's own interactions; charts are resized when their tab is shown. FuDD redraws
    every tab with its result added."""
    area.tabs.select(None, None, None, js=RESIZE_JS, **PAGE_ONLY)
    wire_predictions_panel(area.predictions, token, store)
    wire_calibration_panel(area.calibration, token, store)
    wire_disambiguation_panel(area.disambiguation, token, store, classes_box)
    wire_export_panel(area.export, token, store)

    def rerender(record: RunRecord) -> list[Any]:
        matched = any(image.label is not None for image in record.comparison.images)
        notes = [unmatched_labels_note(record.unmatched_labels, matched)] if record.unmatched_labels else []
        return render_results(record, notes)

    wire_fudd_panel(area.fudd, token, store, config, guard, (area.outputs, rerender))
