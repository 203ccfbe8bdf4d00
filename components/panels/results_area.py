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
from components.panels.present_panel import PresentPanel, build_present_panel, render_present, wire_present_panel
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
from components.tables import headline_markdown, unmatched_labels_note
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
PRESENT_TAB = "tab-present"


@dataclass
class ResultsArea:
    """Handles of every results tab."""

    placeholder: gr.Markdown
    column: gr.Column
    stale: gr.Markdown
    headline: gr.Markdown
    present_button: gr.Button
    tabs: gr.Tabs
    predictions: PredictionsPanel
    calibration: CalibrationPanel
    disambiguation: DisambiguationPanel
    fudd: FuddPanel
    export: ExportPanel
    search: PromptSearchPanel
    present: PresentPanel

    @property
    def outputs(self) -> list[Any]:
        """Components ``render_results`` fills, in its order."""
        return [
            self.placeholder, self.column, self.stale, self.headline, *self.predictions.outputs,
            *self.calibration.outputs, *self.disambiguation.outputs, *self.fudd.outputs, self.export.files,
            *self.search.outputs, *self.present.outputs,
        ]

    def views(self) -> ViewRefresh:
        """The views to redraw when a strategy joins the run (it is shown on the right, side by side)."""
        outputs = [self.tabs, self.headline, *self.predictions.outputs, *self.calibration.outputs,
                   *self.disambiguation.outputs, *self.present.outputs]

        def render(record: RunRecord, key: str) -> list[Any]:
            pairs = paired_comparisons(record.comparison)
            return [gr.Tabs(selected="tab-heatmaps"), headline_markdown(record.comparison, pairs),
                    *render_predictions(record, [], pairs, right=key), *render_calibration(record, pairs),
                    *render_disambiguation(record), *render_present(record, pairs)]

        return ViewRefresh(outputs, render)


def build_results_area(config: AppConfig) -> ResultsArea:
    """The placeholder and the (initially hidden) results tabs, with a banner for results that
    are no longer the latest run's."""
    placeholder = gr.Markdown(PLACEHOLDER, elem_id="results-placeholder", elem_classes=["placeholder"])
    with gr.Column(visible=False, elem_id="results") as column:
        stale = gr.Markdown(STALE, visible=False, elem_id="stale-banner", elem_classes=["stale-banner"])
        with gr.Row(elem_id="headline-row", equal_height=True):
            headline = gr.Markdown(elem_id="headline", elem_classes=["headline-box"], scale=6)
            present_button = gr.Button("▶  Present", size="sm", elem_id="present-btn", scale=0, min_width=120)
        with gr.Tabs(elem_id="results-tabs") as tabs:
            predictions = build_predictions_panel()
            with gr.Tab("Accuracy & calibration", id="tab-calibration"):
                calibration = build_calibration_panel()
            with gr.Tab("Class names", id="tab-disambiguation"):
                disambiguation = build_disambiguation_panel()
                fudd = build_fudd_panel(config)
            with gr.Tab("Find better prompts", id="tab-prompt-search"):
                search = build_prompt_search_panel(config)
            with gr.Tab("Present", id=PRESENT_TAB):
                present = build_present_panel()
            with gr.Tab("Export", id="tab-export"):
                export = build_export_panel()
    return ResultsArea(placeholder, column, stale, headline, present_button, tabs, predictions, calibration,
                       disambiguation, fudd, export, search, present)


def render_results(record: RunRecord, notes: list[str]) -> list[Any]:
    """Values for ``ResultsArea.outputs`` (the paired comparisons are computed once, for the
    summary and the accuracy tab)."""
    pairs = paired_comparisons(record.comparison)
    return [
        gr.Markdown(visible=False),
        gr.Column(visible=True, elem_classes=[]),
        gr.Markdown(visible=False),
        headline_markdown(record.comparison, pairs),
        *render_predictions(record, notes, pairs),
        *render_calibration(record, pairs),
        *render_disambiguation(record),
        *render_fudd(record),
        None,
        *render_prompt_search(record),
        *render_present(record, pairs),
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
    area.present_button.click(lambda: gr.Tabs(selected=PRESENT_TAB), None, area.tabs, **PAGE_ONLY).then(
        None, js=RESIZE_JS, **PAGE_ONLY)
    wire_present_panel(area.present, token, store)
    wire_predictions_panel(area.predictions, token, store)
    wire_calibration_panel(area.calibration, token, store)
    wire_disambiguation_panel(area.disambiguation, token, store, classes_box)
    wire_export_panel(area.export, token, store)

    def rerender(record: RunRecord) -> list[Any]:
        matched = any(image.label is not None for image in record.comparison.images)
        notes = [unmatched_labels_note(record.unmatched_labels, matched)] if record.unmatched_labels else []
        return render_results(record, notes)

    wire_fudd_panel(area.fudd, token, store, config, guard, (area.outputs, rerender))
