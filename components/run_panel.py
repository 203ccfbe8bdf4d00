"""The Run / Stop bar and the run itself: read the three steps, compare, store, render."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from components.events import PAGE_ONLY
from components.images_panel import ImagesPanel, image_inputs
from components.results_area import ResultsArea, render_results
from components.settings_panel import SettingsPanel, strategy_inputs
from components.strategies_panel import NO_SECOND_MODEL, StrategiesPanel
from components.tables import md_escape
from prompting.app_config import AppConfig
from prompting.classes import parse_class_list
from prompting.compare import Cancelled
from prompting.errors import DatasetError, ModelLoadError, PromptingError, StrategyError
from prompting.results import Comparison
from prompting.session_store import CancelRegistry, ResultStore
from prompting.workflows import build_specs, run_models

READY = "Ready when you are: add images, check the classes, tick strategies, then press **Run**."
STOPPED = "⏹ Stopped. The previous results, if any, are still shown."


@dataclass
class RunBar:
    """Handles of the run bar."""

    run: gr.Button
    stop: gr.Button
    status: gr.Markdown


def build_run_bar() -> RunBar:
    """A large Run button, a Stop button and a status line."""
    with gr.Row(elem_classes=["run-bar"], equal_height=True):
        run = gr.Button("▶  Run comparison", variant="primary", size="lg", scale=4, elem_id="run-btn")
        stop = gr.Button("Stop", variant="stop", size="lg", scale=1, elem_id="stop-btn")
    status = gr.Markdown(READY, elem_id="run-status", elem_classes=["status-line"])
    return RunBar(run, stop, status)


def chosen_models(config: AppConfig, model: str | None, second: str | None) -> list[str]:
    """The model(s) to run, refusing anything outside the operator's menu."""
    menu = config.model_menu
    models = [model or config.model] + ([second] if second and second != NO_SECOND_MODEL else [])
    for name in models:
        if name not in menu:
            raise ModelLoadError(f"Model '{name}' is not offered here; choose one of: {', '.join(menu)}.")
    return list(dict.fromkeys(models))


def wire_run(
    bar: RunBar,
    images: ImagesPanel,
    classes_box: gr.Textbox,
    strategies: StrategiesPanel,
    settings: SettingsPanel,
    results: ResultsArea,
    token: gr.State,
    config: AppConfig,
    store: ResultStore,
    cancels: CancelRegistry,
) -> None:
    """Run on click (progress shown, cancellable) and Stop."""

    def run(gallery: Any, labels: Any, classes_text: str, names: list[str], model: str, second: str,
            templates: str, cupl: str, dclip: str, seeds: float, words: float | None, chars: float | None,
            concept: str, request: gr.Request, progress: gr.Progress = gr.Progress()) -> list[Any]:
        skip = [gr.skip()] * len(results.outputs)
        started = time.perf_counter()
        event = cancels.start(request.session_hash or "")
        try:
            classes = parse_class_list(classes_text or "")
            if not gallery:
                raise DatasetError("Add at least one image first (upload, paste, or use the example photos).")
            inputs, unknown = image_inputs(gallery, labels, classes)
            chosen = strategy_inputs(templates, cupl, dclip, seeds, words, chars, concept)
            specs, spec_errors = build_specs(names or [], chosen)
            if not specs:
                raise StrategyError("None of the chosen strategies can run. " + " ".join(spec_errors.values()))
            record = run_models(
                chosen_models(config, model, second), inputs, classes, specs,
                progress=lambda fraction, message: progress(fraction, desc=message), cancel=event,
            )
            errors = {**spec_errors, **record.comparison.strategy_errors}
            if not record.comparison.strategies:
                raise StrategyError("None of the chosen strategies could run. " + " ".join(errors.values()))
        except Cancelled:  # the page already shows "Stopped"; end the work quietly
            return [gr.skip(), gr.skip()] + skip
        except PromptingError as exc:
            return [gr.skip(), _status(f"⚠️ **Could not run:** {md_escape(exc)}", error=True)] + skip
        finally:
            cancels.finish(request.session_hash or "", event)
        record.comparison.strategy_errors = errors
        notes = _warn(record.comparison, unknown)
        return [store.put(record), _status(_done(record.comparison, time.perf_counter() - started))] + render_results(
            record, notes
        )

    def stop(request: gr.Request) -> Any:
        stopped = cancels.cancel(request.session_hash or "")
        return _status(STOPPED if stopped else "Nothing is running.")

    run_inputs = [images.gallery, images.labels, classes_box, strategies.picker, strategies.model,
                  strategies.second_model, *settings.inputs]
    event = bar.run.click(run, run_inputs, [token, bar.status, *results.outputs],
                          concurrency_id="model", concurrency_limit=2, show_progress_on=bar.status, **PAGE_ONLY)
    bar.stop.click(stop, None, bar.status, cancels=[event], queue=False, **PAGE_ONLY)


def _status(text: str, error: bool = False) -> Any:
    return gr.Markdown(text, elem_classes=["status-line", "status-error" if error else "status-ok"])


def _done(comparison: Comparison, seconds: float) -> str:
    return (
        f"✓ **Done in {seconds:.1f} s**: {len(comparison.images)} images × {len(comparison.classes)} classes × "
        f"{len(comparison.strategies)} strategies, model {md_escape(comparison.model)}."
    )


def _warn(comparison: Comparison, unknown_labels: list[str]) -> list[str]:
    """Toasts for partial problems; returns notes for the summary."""
    notes: list[str] = []
    if comparison.skipped:
        gr.Warning(f"{len(comparison.skipped)} file(s) could not be read and were skipped; the rest were scored.",
                   title="Some files skipped")
    for name, error in comparison.strategy_errors.items():
        gr.Warning(f"{name}: {error}", title="A strategy could not run")
    if unknown_labels:
        listed = ", ".join(f"'{label}'" for label in unknown_labels[:5])
        notes.append(f"True classes not in the class list were ignored: {listed}.")
        gr.Warning(notes[-1], title="Unknown true classes")
    labelled = sum(1 for image in comparison.images if image.label is not None)
    if 0 < labelled < len(comparison.images):
        notes.append(
            f"Accuracy charts need a true class for every image ({labelled} of {len(comparison.images)} have one)."
        )
    return notes
