"""Evaluate a stored set: a large data set the operator embedded on the server (``embed``),
chosen by name from the operator's store folders, scored with the page's classes and
strategies at full scale; thumbnails of some mistakes below the results."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import gradio as gr

from components.panels.events import AFTER_RUN_JS, PAGE_ONLY
from components.panels.results_area import ResultsArea
from components.panels import messages
from components.panels.cancellable import cancellable
from components.panels.run_panel import RUN, RunBar, chosen_specs, queued_handler, run_executor
from components.panels.settings_panel import SettingsPanel, strategy_inputs
from components.panels.strategies_panel import StrategiesPanel
from components.tables import md_escape
from prompting.classes import parse_class_list
from prompting.encoding.models import load_model
from prompting.errors import PromptingError, StoreError
from prompting.evaluation.compare import ProgressFn
from prompting.service.config import AppConfig
from prompting.service.session_store import CancelRegistry, ResultStore, RunRecord
from prompting.service.stored_sets import StoredRun, find_stored_sets, run_stored_set, stored_set_info

HELP = (
    "Data sets the server's operator prepared with `python -m prompting embed` (images encoded once). "
    "Pick one to score the strategies you ticked on **all** of its images, with the class list above: "
    "accuracy, calibration, the confusion matrix and look-alike classes cover the whole set; per-image views "
    "show a sample. The model is the one the set was embedded with."
)
NOT_OFFERED = "Choose one of the stored sets offered here."


@dataclass
class StoredSetPanel:
    """Handles of the stored-set picker."""

    picker: gr.Dropdown
    info: gr.Markdown
    button: gr.Button


@dataclass
class MistakesPanel:
    """Thumbnails of some mistakes of a stored-set run (hidden otherwise)."""

    column: gr.Column
    note: gr.Markdown
    gallery: gr.Gallery

    @property
    def outputs(self) -> list[gr.components.Component]:
        """Components ``mistakes_values`` fills, in its order."""
        return [self.column, self.note, self.gallery]


def build_stored_set_panel(config: AppConfig) -> StoredSetPanel:
    """A closed accordion (shown only when the operator configured store folders)."""
    names = list(find_stored_sets(config.stores))
    with gr.Accordion("Or evaluate a stored set (a large data set prepared on the server)", open=False,
                      visible=bool(config.stores), elem_id="stored-set-accordion"):
        gr.Markdown(HELP, elem_classes=["help"])
        with gr.Row(equal_height=True):
            picker = gr.Dropdown(names, value=None, label="Stored set", elem_id="stored-set-picker", scale=3,
                                 info=None if names else "No stored sets are available on this server now.")
            button = gr.Button("▶  Evaluate stored set", variant="primary", elem_id="stored-set-btn", scale=1)
        info = gr.Markdown(elem_id="stored-set-info", elem_classes=["help"])
    return StoredSetPanel(picker, info, button)


def build_mistakes_panel() -> MistakesPanel:
    """Below the results: a gallery of mistakes, visible after a stored-set run."""
    with gr.Column(visible=False, elem_id="stored-mistakes") as column:
        gr.Markdown("#### Mistakes in the stored set", elem_classes=["section-title"])
        note = gr.Markdown(elem_id="stored-mistakes-note", elem_classes=["help"])
        gallery = gr.Gallery(show_label=False, label="Mistakes", columns=6, height=360, object_fit="contain",
                             interactive=False, elem_id="stored-mistakes-gallery")
    return MistakesPanel(column, note, gallery)


def mistakes_values(run: StoredRun | None) -> list[Any]:
    """Values for ``MistakesPanel.outputs``: shown with thumbnails or a note, hidden without a run."""
    if run is None:
        return [gr.skip(), gr.skip(), gr.skip()]
    note = run.thumbnails_note or "No mistakes to show (every image was classified correctly, or there are no labels)."
    return [gr.Column(visible=True), md_escape(note), run.thumbnails or None]


def describe_choice(config: AppConfig, name: str | None, classes_text: str) -> tuple[Any, Any]:
    """The chosen set's description, and its class names for the class list (when it names them)."""
    sets = find_stored_sets(config.stores)
    if not name or name not in sets:
        return "", gr.skip()
    try:
        info = stored_set_info(name, sets[name])
    except PromptingError as exc:
        return f"⚠️ {md_escape(exc)}", gr.skip()
    text = md_escape(info.describe())
    if info.classes and len(info.classes) <= config.limits.max_classes:
        current = [line.split("|")[0].strip().casefold() for line in (classes_text or "").splitlines()]
        if [c.casefold() for c in info.classes] != [c for c in current if c]:
            messages.info(f"The class list now holds the {len(info.classes)} classes of '{name}'.",
                          title="Classes loaded")
            return text, "\n".join(info.classes)
    return text, gr.skip()


def wire_stored_set_panel(
    panel: StoredSetPanel,
    mistakes: MistakesPanel,
    bar: RunBar,
    classes_box: gr.Textbox,
    strategies: StrategiesPanel,
    settings: SettingsPanel,
    results: ResultsArea,
    token: gr.State,
    config: AppConfig,
    store: ResultStore,
    cancels: CancelRegistry,
) -> None:
    """Describe the chosen set (and load its classes); evaluate it into the results area."""
    limits = config.limits
    execute = run_executor(results, store)

    def refresh_stored_sets() -> Any:
        return gr.Dropdown(choices=list(find_stored_sets(config.stores)))

    @cancellable(cancels, RUN)
    def evaluate_stored_set(name: str | None, classes_text: str, names: list[str], templates: str, cupl: str,
                            dclip: str, seeds: float, words: float | None, chars: float | None, concept: str,
                            pool: str, beta: float | None, objective: str, request: gr.Request,
                            progress: gr.Progress = gr.Progress()) -> list[Any]:
        done: list[StoredRun] = []

        def work(event: threading.Event, report: ProgressFn) -> tuple[RunRecord, dict[str, str], dict[str, int]]:
            sets = find_stored_sets(config.stores)
            if not name or name not in sets:
                raise StoreError(NOT_OFFERED)
            classes = parse_class_list(classes_text or "")
            chosen = strategy_inputs(templates, cupl, dclip, seeds, words, chars, concept, limits, pool, beta,
                                     objective)
            specs, spec_errors = chosen_specs(names, chosen, limits)
            run = run_stored_set(name, sets[name], classes, specs, limits, load_model, report, event)
            done.append(run)
            return run.record, spec_errors, {}

        values = execute(work, request.session_hash or "", progress)
        return values + mistakes_values(done[0] if done else None)

    panel.picker.focus(refresh_stored_sets, None, panel.picker, show_progress="hidden", **PAGE_ONLY)
    panel.picker.input(lambda name, text: describe_choice(config, name, text), [panel.picker, classes_box],
                       [panel.info, classes_box], **PAGE_ONLY)
    inputs = [panel.picker, classes_box, strategies.picker, *settings.inputs]
    event = panel.button.click(queued_handler(cancels), None, bar.status, queue=False, show_progress="hidden",
                               **PAGE_ONLY).then(
        evaluate_stored_set, inputs, [token, bar.status, *results.outputs, *mistakes.outputs],
        concurrency_id="stored-set", concurrency_limit=1, show_progress_on=bar.status, **PAGE_ONLY,
    )
    event.then(None, bar.status, None, js=AFTER_RUN_JS, **PAGE_ONLY)
    bar.run.click(lambda: gr.Column(visible=False), None, mistakes.column, show_progress="hidden", **PAGE_ONLY)
