"""The "Find better prompts" tab: cross-validated template selection on the run's labelled images
(cancellable), adding the selected set to the side-by-side views, ZPE/AutoCLIP template weights,
and a classifier head to download."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from components.figures.weights import weights_figure
from components.panels import messages
from components.panels.cancellable import cancellable, current_cancel
from components.panels.downloads import download_file
from components.panels.events import PAGE_ONLY
from components.panels.results_panel import lookup
from components.tables import md_escape, plural, top1_text
from prompting.errors import PromptingError
from prompting.evaluation.compare import Cancelled
from prompting.evaluation.template_selection import DEFAULT_FOLDS, TemplateSelection
from prompting.service.config import AppConfig
from prompting.service.prompt_search import first_model, head_for_run, select_for_images, selection_pool
from prompting.service.session_store import CancelRegistry, ResultStore, RunRecord
from prompting.service.workflows import extend_run
from prompting.strategies.registry import StrategySpec

DEFAULT_SIZE_LIMIT = 8
SELECT = "select"  # the kind of job this tab's Stop button stops
ADD = "add"
POOL_CHOICES = [("CLIP's 80 ImageNet templates", "imagenet80"), ("My templates", "custom")]
ALL_IMAGES = -1
INTRO = (
    "Let your labelled images choose the prompts. **Select templates** adds, one at a time, the template that most "
    "improves accuracy (as CLIP's authors picked their 7 of 80) and checks the procedure honestly: each of *k* "
    "folds selects on the other images and is scored on its own, beside CLIP's 80-template ensemble and the single "
    "template “a photo of a {}.” on the same folds."
)
NEEDS_LABELS = "Template selection needs the true class of every image: add them under *1 · Images* and Run again."
SELECTING_STOPPED = "⏹ Selection stopped."
WEIGHTS_HELP = (
    "**ZPE** learns one weight per template from all the run's images (label-free; with test-images-only "
    "normalisation, as no sample of pretraining images is available here). **AutoCLIP** weights templates for "
    "each image separately. Tick them under *Strategies*; their template pool is set under *Strategy settings*."
)
HEAD_HELP = (
    "Download the chosen strategy as a classifier head: `head.safetensors` (class weights) and `head.json` "
    "(model, scale, bias, temperature, classes, prompts). The README shows how to classify new images with it and "
    "transformers. With true classes for every image, the temperature is fitted on them; otherwise it is 1. "
    "AutoCLIP weights templates per image and has no fixed head."
)


@dataclass
class PromptSearchPanel:
    """Handles of the tab."""

    pool: gr.CheckboxGroup
    folds: gr.Slider
    size_limit: gr.Slider
    seed: gr.Number
    select: gr.Button
    stop: gr.Button
    status: gr.Markdown
    table: gr.Dataframe
    summary: gr.Markdown
    add: gr.Button
    chosen: gr.State
    weights_strategy: gr.Dropdown
    weights_image: gr.Dropdown
    weights_plot: gr.Plot
    head_strategy: gr.Dropdown
    head_button: gr.Button
    head_files: gr.File

    @property
    def outputs(self) -> list[Any]:
        """Components ``render_prompt_search`` fills after a run, in its order."""
        return [self.status, self.table, self.summary, self.add, self.chosen, self.weights_strategy,
                self.weights_image, self.weights_plot, self.head_strategy, self.head_files]


@dataclass
class ViewRefresh:
    """The result views to redraw when a strategy joins the run: their components and a renderer
    given the new record and the key of the strategy to show."""

    outputs: list[Any]
    render: Callable[[RunRecord, str], list[Any]]


def build_prompt_search_panel(config: AppConfig) -> PromptSearchPanel:
    """The tab's content (call inside a gr.Tab)."""
    limits = config.limits
    gr.Markdown("#### Select templates on your labelled images", elem_classes=["section-title"])
    gr.Markdown(INTRO, elem_classes=["help"])
    with gr.Row(equal_height=True):
        pool = gr.CheckboxGroup(POOL_CHOICES, value=["imagenet80"],
                                label="Candidate templates", elem_id="selection-pool", scale=3,
                                info="Your templates are those under Strategy settings → Custom templates "
                                     "(a preset puts its own there).")
        folds = gr.Slider(2, limits.max_folds, value=DEFAULT_FOLDS, step=1, label="Folds", elem_id="selection-folds",
                          scale=1)
        size_limit = gr.Slider(1, limits.max_selected_templates, value=DEFAULT_SIZE_LIMIT, step=1,
                               label="At most templates", elem_id="selection-size", scale=1)
        seed = gr.Number(0, precision=0, label="Seed", elem_id="selection-seed", scale=1, minimum=0)
    with gr.Row():
        select = gr.Button("Select templates", variant="primary", elem_id="select-btn", scale=3)
        stop = gr.Button("Stop", variant="stop", elem_id="select-stop-btn", scale=1)
    status = gr.Markdown("", elem_id="select-status", elem_classes=["status-line"])
    table = gr.Dataframe(interactive=False, wrap=True, visible=False, elem_id="selection-table", show_label=False,
                         label="Held-out accuracy")
    summary = gr.Markdown(visible=False, elem_id="selection-summary", elem_classes=["summary-box"])
    add = gr.Button("Add the selected templates to the side-by-side views", visible=False, elem_id="add-selected-btn")
    chosen = gr.State(None)
    gr.Markdown("#### Template weights: ZPE and AutoCLIP", elem_classes=["section-title"])
    gr.Markdown(WEIGHTS_HELP, elem_classes=["help"])
    with gr.Row():
        weights_strategy = gr.Dropdown(label="Strategy", elem_id="weights-strategy", scale=2)
        weights_image = gr.Dropdown(label="Image (AutoCLIP weights each image)", elem_id="weights-image", scale=2,
                                    visible=False)
    weights_plot = gr.Plot(show_label=False, elem_id="weights-plot", label="Template weights")
    gr.Markdown("#### Classifier head", elem_classes=["section-title"])
    gr.Markdown(HEAD_HELP, elem_classes=["help"])
    with gr.Row(equal_height=True):
        head_strategy = gr.Dropdown(label="Strategy to export", elem_id="head-strategy", scale=3)
        head_button = gr.Button("Export classifier head", elem_id="head-btn", scale=1)
    head_files = gr.File(label="Head files", file_count="multiple", interactive=False, elem_id="head-files")
    return PromptSearchPanel(pool, folds, size_limit, seed, select, stop, status, table, summary, add, chosen,
                             weights_strategy, weights_image, weights_plot, head_strategy, head_button, head_files)


def weighted_keys(record: RunRecord) -> list[tuple[str, str]]:
    """(label, key) of the run's strategies that learnt template weights."""
    return [(r.label, key) for key, r in record.comparison.strategies.items() if r.prompt_weights is not None]


def linear_keys(record: RunRecord) -> list[tuple[str, str]]:
    """(label, key) of the run's strategies that have a fixed classifier head."""
    return [(r.label, key) for key, r in record.comparison.strategies.items()
            if key in record.sources and record.sources[key].spec.name != "autoclip"]


def render_prompt_search(record: RunRecord) -> list[Any]:
    """Values for ``PromptSearchPanel.outputs`` after a run (or after a strategy joined it)."""
    labelled = record.comparison.labels is not None
    return [
        gr.Markdown("" if labelled else f"ℹ️ {NEEDS_LABELS}"),
        gr.Dataframe(value=None, visible=False),
        gr.Markdown("", visible=False),
        gr.Button(visible=False),
        None,
        *strategy_views(record),
        None,
    ]


def strategy_views(record: RunRecord) -> list[Any]:
    """The weights strategy, image and chart, and the head strategy, for the run's strategies."""
    weighted = weighted_keys(record)
    linear = linear_keys(record)
    first = weighted[0][1] if weighted else None
    return [
        gr.Dropdown(choices=weighted, value=first),
        _image_choices(record, first),
        weights_view(record, first, ALL_IMAGES),
        gr.Dropdown(choices=linear, value=linear[0][1] if linear else None),
    ]


def _image_choices(record: RunRecord, key: str | None) -> Any:
    result = record.comparison.strategies.get(key) if key else None
    per_image = result is not None and result.prompt_weights is not None and result.prompt_weights.ndim == 2
    choices = [("All images (average)", ALL_IMAGES)] + [(image.name, i) for i, image in
                                                          enumerate(record.comparison.images)]
    return gr.Dropdown(choices=choices, value=ALL_IMAGES, visible=per_image)


def weights_view(record: RunRecord, key: str | None, image: int | None) -> go.Figure:
    """The weights chart of strategy ``key`` (one image's, or all images' average)."""
    result = record.comparison.strategies.get(key) if key else None
    names = [image.name for image in record.comparison.images]
    index = None if image is None or not 0 <= int(image) < len(names) else int(image)
    return weights_figure(result, index, names)


def selection_table(selection: TemplateSelection) -> tuple[list[str], list[list[str]]]:
    """Held-out top-1 per template set with its 95% interval and its per-fold numbers."""
    data = selection.to_dict()
    n = data["n_images"]
    rows = []
    for name, label in selection.set_labels().items():
        correct = data["cv_correct"][name]
        metrics = {"top1": correct / n, "n_images": n, "top1_correct": correct, "top1_interval": data["cv_ci95"][name]}
        folds = " · ".join(f"{fold['top1'][name]:.0%}" for fold in data["per_fold"])
        rows.append([label, top1_text(metrics), folds])
    return ["Template set", "Held-out top-1 (95% interval)", "Per fold"], rows


def selection_markdown(selection: TemplateSelection) -> str:
    """What was chosen, how it was validated, and what the numbers may and may not say."""
    data = selection.to_dict()
    split = "stratified by class" if data["stratified"] else "shuffled"
    lines = [
        f"**{md_escape(selection.label)}**, chosen on all {plural(data['n_images'], 'image')} "
        f"({data['folds']} folds, {split}, seed {data['seed']}):",
        "",
        *[f"{number}. {md_escape(template)}" for number, template in enumerate(selection.selected, start=1)],
        "",
        f"The held-out numbers above score the *procedure*: each fold chose its own templates "
        f"({' / '.join(str(len(fold['selected'])) for fold in data['per_fold'])} of them) on the other images. "
        "The set above was then chosen on all images, so its accuracy on these same images is optimistic; "
        "judge it by the held-out row.",
    ]
    lines += ["", *[f"- {md_escape(sentence)}" for sentence in selection.verdicts()]]
    if data["fold_note"]:
        lines.append(f"\n⚠️ {md_escape(data['fold_note'])}")
    return "\n".join(lines)


def wire_prompt_search_panel(
    panel: PromptSearchPanel, token: gr.State, store: ResultStore, cancels: CancelRegistry, config: AppConfig,
    templates_box: gr.Textbox, views: ViewRefresh,
) -> None:
    """Select (cancellable), add the selection to the run, redraw weights, export a head."""
    limits = config.limits

    @cancellable(cancels, SELECT)
    def select(tok: str | None, pool: list[str], folds: float, size: float, seed: float | None, templates: str,
               request: gr.Request, progress: gr.Progress = gr.Progress()) -> list[Any]:
        event = current_cancel()
        try:
            record = lookup(store, tok)
            candidates = selection_pool(pool or [], templates or "", limits)
            selection = select_for_images(
                first_model(record), record.images, record.comparison.classes, candidates, int(folds), int(size),
                int(seed or 0), limits, config.load, lambda fraction, message: progress(fraction, desc=message), event,
            )
        except Cancelled:
            return [gr.Markdown(SELECTING_STOPPED), gr.skip(), gr.skip(), gr.skip(), gr.skip()]
        except PromptingError as exc:
            return [gr.Markdown(f"⚠️ **Could not select templates:** {messages.markdown(exc)}"), gr.skip(), gr.skip(),
                    gr.skip(), gr.skip()]
        headers, rows = selection_table(selection)
        spec = selection.spec()
        done = (f"✓ Selected {plural(len(selection.selected), 'template')} from {len(selection.pool)}; "
                f"prompts newly encoded: {selection.encoder_stats['prompts_encoded']}.")
        return [gr.Markdown(done), gr.Dataframe(value=rows, headers=headers, visible=True),
                gr.Markdown(selection_markdown(selection), visible=True), gr.Button(visible=True),
                {"templates": spec.templates, "label": spec.label}]

    def stop(request: gr.Request) -> Any:
        if cancels.cancel(request.session_hash or "", SELECT):
            return gr.Markdown(SELECTING_STOPPED)
        messages.info("Nothing to stop: no selection is running.", title="Nothing running")
        return gr.skip()

    @cancellable(cancels, ADD)
    def add(tok: str | None, chosen: dict | None, request: gr.Request) -> list[Any]:
        if not chosen:
            raise messages.error("Select templates first.", title="Nothing to add")
        record = lookup(store, tok)
        spec = StrategySpec("selected", templates=list(chosen["templates"]), label=chosen["label"])
        try:
            updated, added = extend_run(record, [spec], loader=config.load, cancel=current_cancel(), limits=limits)
        except PromptingError as exc:
            raise messages.error(exc, title="Could not add the selected templates") from exc
        new_token = store.put(updated, owner=request.session_hash or "")
        messages.info(f"“{chosen['label']}” now appears in every view, scored on these same images (optimistic: it was "
                "chosen on them).", title="Added")
        return [new_token, *views.render(updated, added[0]), *strategy_views(updated)]

    def redraw(tok: str | None, key: str | None, image: int | None) -> go.Figure:
        return weights_view(lookup(store, tok), key, image)

    def switch(tok: str | None, key: str | None) -> tuple[Any, go.Figure]:
        record = lookup(store, tok)
        return _image_choices(record, key), weights_view(record, key, ALL_IMAGES)

    @cancellable()
    def export(tok: str | None, key: str | None) -> list[str]:
        if not key:
            raise messages.error("Pick a strategy of this run to export.", title="Nothing to export")
        try:
            head = head_for_run(lookup(store, tok), key, config.load)
        except PromptingError as exc:
            raise messages.error(exc, title="Could not export the head") from exc
        return [download_file(name, data) for name, data in head.files().items()]

    def queued(request: gr.Request) -> None:
        cancels.start(request.session_hash or "", SELECT)

    settings = [token, panel.pool, panel.folds, panel.size_limit, panel.seed, templates_box]
    panel.select.click(queued, None, None, queue=False, show_progress="hidden", **PAGE_ONLY).then(
        select, settings, [panel.status, panel.table, panel.summary, panel.add, panel.chosen],
        concurrency_id="model", concurrency_limit=2, show_progress_on=panel.status, **PAGE_ONLY,
    )
    panel.stop.click(stop, None, panel.status, concurrency_limit=None, show_progress="hidden", **PAGE_ONLY)
    panel.add.click(
        add, [token, panel.chosen],
        [token, *views.outputs, panel.weights_strategy, panel.weights_image, panel.weights_plot, panel.head_strategy],
        concurrency_id="model", concurrency_limit=2, **PAGE_ONLY,
    )
    panel.weights_strategy.input(switch, [token, panel.weights_strategy], [panel.weights_image, panel.weights_plot],
                                 **PAGE_ONLY)
    panel.weights_image.input(redraw, [token, panel.weights_strategy, panel.weights_image], panel.weights_plot,
                              **PAGE_ONLY)
    panel.head_button.click(export, [token, panel.head_strategy], panel.head_files, concurrency_id="model",
                            concurrency_limit=2, **PAGE_ONLY)


