"""The Run / Stop bar and the run itself: read the three steps, compare, store, render.

Before a run estimated to take longer than the operator's ``long_run_seconds``, the bar says
how long and what it would encode, and the visitor goes on or cancels (nothing runs until then).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from components.panels import messages
from components.panels.cancellable import cancellable, current_cancel
from components.panels.events import AFTER_RUN_JS, PAGE_ONLY
from components.panels.images_panel import ImagesPanel, image_inputs
from components.panels.results_area import ResultsArea, render_results, stale_results
from components.panels.settings_panel import SettingsPanel, strategy_inputs
from components.panels.strategies_panel import NO_SECOND_MODEL, StrategiesPanel
from components.tables import md_escape, plural, unlabelled_note, unmatched_labels_note
from prompting.classes import parse_class_list
from prompting.errors import DatasetError, ModelLoadError, PromptingError, StrategyError
from prompting.evaluation.compare import Cancelled, ProgressFn, format_duration
from prompting.evaluation.export import one_class_note
from prompting.evaluation.results import Comparison
from prompting.service.config import AppConfig, RunLimits
from prompting.service.run_changes import waffle_redraw_note
from prompting.service.session_store import CancelRegistry, ResultStore, RunRecord
from prompting.service.workflows import (
    RunEstimate,
    StrategyInputs,
    build_specs,
    check_run_size,
    estimate_run,
    run_models,
)
from prompting.strategies.registry import STRATEGIES, StrategySpec

LOG = logging.getLogger(__name__)
RUN = "run"  # the kind of job the Stop button stops
READY = "Ready when you are: add images, check the classes, tick strategies, then press **Run**."
STOPPED = "⏹ Stopped. The previous results, if any, are still shown."
NOTHING_TO_STOP = "Nothing to stop: no run is in progress (the last one had already finished)."
NOT_RUN = "Not run. Trim the images, classes or strategies, or press **Run** again and go on."
STARTING = "⏳ Starting: loading the model if needed and counting the work…"
WAITING = "⏸ Waiting for your answer above: go on with this long run, or cancel it."
SAME_MODEL = (
    "“Compare with” names the same model as “Model”, so each strategy ran once, with that model. Choose another "
    "model to compare two."
)


@dataclass
class RunBar:
    """Handles of the run bar, with the question asked before a long run."""

    run: gr.Button
    stop: gr.Button
    status: gr.Markdown
    confirm: gr.Group
    confirm_text: gr.Markdown
    go_on: gr.Button
    cancel: gr.Button


def build_run_bar() -> RunBar:
    """A large Run button, a Stop button, a status line and the (hidden) long-run question."""
    with gr.Row(elem_classes=["run-bar"], equal_height=True):
        run = gr.Button("▶  Run comparison", variant="primary", size="lg", scale=4, elem_id="run-btn")
        stop = gr.Button("Stop", variant="stop", size="lg", scale=1, elem_id="stop-btn")
    with gr.Group(visible=False, elem_id="long-run") as confirm:
        confirm_text = gr.Markdown(elem_id="long-run-text", elem_classes=["caution-box"])
        with gr.Row():
            go_on = gr.Button("Go on", variant="primary", elem_id="long-run-go")
            cancel = gr.Button("Cancel", elem_id="long-run-cancel")
    status = gr.Markdown(READY, elem_id="run-status", elem_classes=["status-line"])
    return RunBar(run, stop, status, confirm, confirm_text, go_on, cancel)


def long_run_question(estimate: RunEstimate) -> str:
    """What the visitor is asked before a long run: how long, and what makes it long."""
    work = [plural(estimate.prompts_to_encode, "new prompt"), plural(estimate.images_to_encode, "new image")]
    models = f" with {estimate.models} models" if estimate.models > 1 else ""
    return (
        f"**This run will take {format_duration(estimate.seconds)}** on this server: it encodes "
        f"{' and '.join(work)}{models} (what was encoded before is reused). Go on, or cancel and trim the images, "
        "classes, templates or descriptions?"
    )


def chosen_models(config: AppConfig, model: str | None, second: str | None) -> list[str]:
    """The model(s) to load, given by their shown or full names; anything outside the operator's
    menu is refused."""
    asked = [model or config.model] + ([second] if second and second != NO_SECOND_MODEL else [])
    models = []
    for name in asked:
        resolved = config.resolve_model(name)
        if resolved is None:
            raise ModelLoadError(f"Model '{name}' is not offered here; choose one of: {', '.join(config.public_menu)}.")
        models.append(resolved)
    return list(dict.fromkeys(models))


def picker_order(names: list[str] | None) -> list[str]:
    """The ticked strategies in the picker's order (a CheckboxGroup gives them in tick order)."""
    chosen = set(names or [])
    return [key for key in STRATEGIES if key in chosen] + [name for name in names or [] if name not in STRATEGIES]


def chosen_specs(
    names: list[str] | None, chosen: StrategyInputs, limits: RunLimits
) -> tuple[list[StrategySpec], dict[str, str]]:
    """The ticked strategies' specs in the picker's order and the reasons of those that cannot
    run; a StrategyError when none can."""
    specs, errors = build_specs(picker_order(names), chosen, limits)
    if not specs:
        raise StrategyError("None of the chosen strategies can run. " + " ".join(errors.values()))
    return specs, errors


RunWork = Callable[[threading.Event, ProgressFn], tuple[RunRecord, dict[str, str], dict[str, int]]]
"""One run's work, given its cancel event and progress: the record, the strategies that could
not be built (title -> reason) and the typed true classes that match no class (-> images)."""
ChangeNotes = Callable[[RunRecord], list[str]]


def run_executor(results: ResultsArea, store: ResultStore) -> Callable[..., list[Any]]:
    """Runs a ``RunWork`` for a session from a handler wrapped in ``cancellable(cancels, RUN)``
    (so Stop, a cancel and the session's end reach it): errors shown in the status line (the last
    results stay, dimmed), and on success the record stored and rendered. Returns the values
    for ``[token, status, *results.outputs]``."""

    def execute(work: RunWork, session: str, progress: Any, changes: ChangeNotes = lambda record: []) -> list[Any]:
        """``changes(record)``: what changed unexpectedly since the last run, for the status and Summary."""
        skip = [gr.skip()] * len(results.outputs)
        started = time.perf_counter()
        event = current_cancel()  # the handler calling this runs under ``cancellable``
        try:
            if event.is_set():
                raise Cancelled("Stopped before the run started.")
            record, spec_errors, unknown = work(event, lambda fraction, message: progress(fraction, desc=message))
            errors = {**spec_errors, **record.comparison.strategy_errors}
            if not record.comparison.strategies:
                raise StrategyError("None of the chosen strategies could run. " + " ".join(errors.values()))
        except Cancelled:  # the page already shows "Stopped"; end the work quietly
            return [gr.skip(), gr.skip()] + skip
        except PromptingError as exc:
            message = f"⚠️ **Could not run:** {messages.markdown(exc)}"
            return [gr.skip(), _status(message, error=True)] + stale_results(results)
        except Exception as exc:  # a bug or an exhausted resource: say so plainly, keep the details in the log
            LOG.exception("Run failed unexpectedly")
            message = f"⚠️ **The run failed unexpectedly** ({type(exc).__name__}); the server log has the details."
            return [gr.skip(), _status(message, error=True)] + stale_results(results)
        record.comparison.strategy_errors = errors
        record.unmatched_labels = unknown
        notes = _warn(record.comparison, unknown)
        said = changes(record)
        status = _status(_done(record.comparison, time.perf_counter() - started, said))
        return [store.put(record, owner=session), status] + render_results(record, notes + said)

    return execute


def queued_handler(cancels: CancelRegistry) -> Callable[[gr.Request], Any]:
    """Registers a run as soon as it is asked for, so Stop also works while it waits in the queue,
    and says it is starting (replacing the last run's status, an error included)."""

    def queued(request: gr.Request) -> Any:
        cancels.start(request.session_hash or "", RUN)
        return _status(STARTING)

    return queued


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
    """Run on click (progress shown, cancellable) and Stop; after a run, charts are resized
    and a successful run scrolls the results into view."""
    limits = config.limits
    execute = run_executor(results, store)

    def prepare(gallery: Any, labels: Any, classes_text: str, names: list[str], model: str, second: str,
                templates: str, cupl: str, dclip: str, seeds: float, words: float | None, chars: float | None,
                concept: str, pool: str, beta: float | None,
                objective: str) -> tuple[list[str], list[Any], list[Any], list[Any], dict[str, str], dict[str, int]]:
        """The three steps as (models, images, classes, specs, strategies that cannot run, true
        classes not in the list with their image counts); what the visitor must fix raises."""
        classes = parse_class_list(classes_text or "")
        if not gallery:
            raise DatasetError("Add at least one image first (upload, paste, or use the example photos).")
        check_run_size(len(gallery), len(classes), limits)
        inputs, unknown = image_inputs(gallery, labels, classes)
        chosen = strategy_inputs(templates, cupl, dclip, seeds, words, chars, concept, limits, pool, beta, objective)
        specs, spec_errors = chosen_specs(names, chosen, limits)
        return chosen_models(config, model, second), inputs, classes, specs, spec_errors, unknown

    def ask(previous_token: str | None, *steps: Any) -> list[Any]:
        """Before the run: estimate it; a long one shows the question and does not start. A
        problem with the inputs is left for the run to report."""
        try:
            models, inputs, classes, specs, _, _ = prepare(*steps)
            estimate = estimate_run(models, inputs, classes, specs, loader=config.load)
        except PromptingError:
            return [True, gr.Group(visible=False), gr.skip(), gr.skip()]
        if estimate.seconds <= config.long_run_seconds:
            return [True, gr.Group(visible=False), gr.skip(), gr.skip()]
        return [False, gr.Group(visible=True), long_run_question(estimate), _status(WAITING)]

    @cancellable(cancels, RUN)
    def run(go: bool, previous_token: str | None, gallery: Any, labels: Any, classes_text: str, names: list[str],
            model: str, second: str, templates: str, cupl: str, dclip: str, seeds: float, words: float | None,
            chars: float | None, concept: str, pool: str, beta: float | None, objective: str, request: gr.Request,
            progress: gr.Progress = gr.Progress()) -> list[Any]:
        """The run, unless ``go`` is False: the visitor was asked first and it waits for Go on."""
        steps = (gallery, labels, classes_text, names, model, second, templates, cupl, dclip, seeds, words, chars,
                 concept, pool, beta, objective)
        if not go:  # its job ends with this handler (``cancellable``)
            return [gr.skip()] * (2 + len(results.outputs))
        previous = _previous(store, previous_token)  # before this run replaces it

        def changes(record: RunRecord) -> list[str]:
            notes = (same_model_note(config, model, second), waffle_redraw_note(previous, record))
            return [note for note in notes if note]

        def work(event: threading.Event, report: ProgressFn) -> tuple[RunRecord, dict[str, str], dict[str, int]]:
            models, inputs, classes, specs, spec_errors, unknown = prepare(*steps)
            record = run_models(models, inputs, classes, specs, progress=report, cancel=event, limits=limits,
                                loader=config.load)
            return record, spec_errors, unknown

        return execute(work, request.session_hash or "", progress, changes)

    def stop(request: gr.Request) -> Any:
        if cancels.cancel(request.session_hash or "", RUN):
            return _status(STOPPED)
        messages.info(NOTHING_TO_STOP, title="Nothing running")
        return gr.skip()

    run_inputs = [token, images.gallery, images.labels, classes_box, strategies.picker, strategies.model,
                  strategies.second_model, *settings.inputs]
    run_outputs = [token, bar.status, *results.outputs]
    go, confirmed = gr.State(True), gr.State(True)
    queued = queued_handler(cancels)
    in_model_queue = {"concurrency_id": "model", "concurrency_limit": 2, "show_progress_on": bar.status, **PAGE_ONLY}
    asked = bar.run.click(queued, None, bar.status, queue=False, show_progress="hidden", **PAGE_ONLY).then(
        ask, run_inputs, [go, bar.confirm, bar.confirm_text, bar.status], **in_model_queue,
    ).then(run, [go, *run_inputs], run_outputs, **in_model_queue)
    went_on = bar.go_on.click(lambda: gr.Group(visible=False), None, bar.confirm, queue=False, **PAGE_ONLY).then(
        queued, None, bar.status, queue=False, show_progress="hidden", **PAGE_ONLY,
    ).then(run, [confirmed, *run_inputs], run_outputs, **in_model_queue)
    for event in (asked, went_on):
        event.then(None, bar.status, None, js=AFTER_RUN_JS, **PAGE_ONLY)
    bar.cancel.click(lambda: (gr.Group(visible=False), _status(NOT_RUN)), None, [bar.confirm, bar.status],
                     queue=False, **PAGE_ONLY)
    # Stop works through the registry: the run ends at its next step and keeps its last results.
    # (Gradio's own ``cancels`` would also drop the outputs of a run that had just finished.)
    bar.stop.click(stop, None, bar.status, concurrency_limit=None, show_progress="hidden", **PAGE_ONLY)


def same_model_note(config: AppConfig, model: str | None, second: str | None) -> str:
    """Said when "Compare with" names the model already chosen, which then runs once ('' otherwise)."""
    if not second or second == NO_SECOND_MODEL or config.resolve_model(second) != config.resolve_model(
            model or config.model):
        return ""
    return SAME_MODEL


def _previous(store: ResultStore, token: str | None) -> RunRecord | None:
    """The session's last run, if the store still holds it."""
    try:
        return store.get(token)
    except PromptingError:
        return None


def _status(text: str, error: bool = False) -> Any:
    return gr.Markdown(text, elem_classes=["status-line", "status-error" if error else "status-ok"])


def _done(comparison: Comparison, seconds: float, changes: Sequence[str] = ()) -> str:
    """The status after a run: what was scored, what was left out, and what changed unexpectedly
    (``changes``; all also said in the Summary tab)."""
    strategies = plural(len(comparison.strategies), "strategy", "strategies")
    text = (
        f"✓ **Done in {seconds:.1f} s**: {plural(comparison.sample_of or len(comparison.images), 'image')} × "
        f"{plural(len(comparison.classes), 'class')} × {strategies}, model {md_escape(comparison.model_label)}."
    )
    problems = []
    skipped = comparison.skipped
    if skipped:
        names = ", ".join(md_escape(Path(item.get("path") or "").name or "a file") for item in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        verb = "was" if len(skipped) == 1 else "were"
        problems.append(f"{plural(len(skipped), 'file')} could not be read and {verb} skipped ({names}{more})")
    if comparison.strategy_errors:
        count = len(comparison.strategy_errors)
        problems.append(f"{plural(count, 'strategy', 'strategies')} could not run")
    if problems:
        text += "  \n⚠️ " + "; ".join(problems) + ": see the **Summary** tab."
    return text + "".join(f"  \nℹ️ {md_escape(note)}" for note in changes)


def grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(name, message) pairs as message -> the names it concerns, so each message is said once."""
    said: dict[str, list[str]] = {}
    for name, message in pairs:
        said.setdefault(message, []).append(name)
    return said


def _warn(comparison: Comparison, unknown_labels: dict[str, int]) -> list[str]:
    """Toasts for partial problems; returns notes for the summary."""
    notes: list[str] = []
    if comparison.skipped:
        messages.warning(f"{plural(len(comparison.skipped), 'file')} could not be read and skipped; the rest were "
                         "scored. The Summary tab says why.", title="Some files skipped")
    for error, names in grouped(comparison.strategy_errors.items()).items():
        messages.warning(f"{', '.join(names)}: {error}", title="A strategy could not run")
    warnings = grouped((result.label, warning) for result in comparison.strategies.values()
                       for warning in result.warnings)
    for warning, labels in warnings.items():  # said once, naming every result it concerns (e.g. both models)
        notes.append(f"{', '.join(labels)}: {warning}")
        messages.warning(notes[-1], title="Read with care")
    labelled = sum(1 for image in comparison.images if image.label is not None)
    if unknown_labels:
        notes.append(unmatched_labels_note(unknown_labels, labelled > 0))
        messages.warning(notes[-1], title="True classes not in the class list")
    if blank := unlabelled_note(comparison, unknown_labels):
        notes.append(blank)
    if one_class := one_class_note(comparison):
        notes.append(one_class)
        messages.warning(one_class, title="Only one class")
    return notes
