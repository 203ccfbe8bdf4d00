"""Named API endpoints for finding better prompts (``gradio_client``), held to the page's limits:

- ``/select_templates``: cross-validated template selection on labelled images; returns the
  selection JSON of ``python -m prompting select`` (``selected``, ``cv``, ``folds``, details).
  Pass its ``selected`` list back as ``options.selected`` to ``/compare`` the selected strategy.
- ``/export_head``: a linear strategy's classifier head as two files, ``head.safetensors`` and
  ``head.json``; with images it is scored on them first (ZPE's weights; the temperature when all
  are labelled).

ZPE and AutoCLIP need no endpoint of their own: they are strategies of ``/compare`` and
``/evaluate`` (``"zpe"``, ``"autoclip"``; their pool and settings in ``options.weighting``).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from components.panels.api_endpoints import as_api, request_images
from components.panels.cancellable import current_cancel
from components.panels.downloads import download_file
from components.panels.local_files import local_only
from components.panels.run_panel import chosen_models
from prompting.classes import parse_class_list
from prompting.errors import DatasetError, StrategyError
from prompting.evaluation.export import to_jsonable
from prompting.evaluation.template_selection import DEFAULT_FOLDS, DEFAULT_MAX_TEMPLATES
from prompting.service.api_args import MAX_SEED, strategy_inputs_from_options, whole_number
from prompting.service.config import AppConfig
from prompting.service.prompt_search import head_for_request, select_for_images, selection_pool
from prompting.service.session_store import CancelRegistry
from prompting.service.workflows import build_specs
from prompting.strategies.registry import list_strategies


def build_prompt_search_api(config: AppConfig, cancels: CancelRegistry) -> None:
    """The hidden components and the two named endpoints (cancellable, as the others)."""
    limits = config.limits
    api = as_api(cancels)

    @api
    def select_templates(images: Any, labels: Any, classes: str, pool: list[str] | None, templates: Any,
                         folds: float | None, max_templates: float | None, seed: float | None,
                         model: str, request: gr.Request) -> dict[str, Any]:
        """Held-out accuracy of the selection procedure, the 80-template ensemble and the single
        template on the same folds, and the templates selected on all images."""
        class_names = parse_class_list(classes or "")
        if not labels:
            raise DatasetError("Template selection needs labels: one true class per image.")
        inputs = request_images(images, labels, class_names, limits)
        text = "\n".join(map(str, templates)) if isinstance(templates, list) else str(templates or "")
        candidates = selection_pool(pool or ["imagenet80"], text, limits)
        selection = select_for_images(
            chosen_models(config, model, None)[0], inputs, class_names, candidates,
            int(folds or DEFAULT_FOLDS), int(max_templates or DEFAULT_MAX_TEMPLATES),
            whole_number(seed or 0, "seed", 0, MAX_SEED), limits, config.load, cancel=current_cancel(),
        )
        return to_jsonable(selection.to_dict())

    @api
    def export_head(images: Any, labels: Any, classes: str, strategy: str, options: Any, model: str,
                    request: gr.Request) -> list[str]:
        """``head.safetensors`` and ``head.json`` of one linear strategy."""
        class_names = parse_class_list(classes or "")
        specs, errors = build_specs([strategy], strategy_inputs_from_options(options, limits), limits)
        if not specs:
            raise StrategyError(" ".join(errors.values()))
        inputs = request_images(images, labels or None, class_names, limits) if images else []
        head = head_for_request(chosen_models(config, model, None)[0], class_names, specs[0], inputs, limits,
                                config.load)
        return [download_file(name, data) for name, data in head.files().items()]

    menu = list(config.public_menu)
    with gr.Column(visible=False):
        images = local_only(gr.File(label="images", file_count="multiple", file_types=["image"]))
        labels = gr.JSON([], label="labels")
        classes = gr.Textbox(label="classes")
        pool = gr.Dropdown(["imagenet80", "custom"], value=["imagenet80"], multiselect=True, label="pool")
        templates = gr.JSON([], label="templates")
        folds = gr.Number(DEFAULT_FOLDS, precision=0, label="folds")
        max_templates = gr.Number(DEFAULT_MAX_TEMPLATES, precision=0, label="max_templates")
        seed = gr.Number(0, precision=0, label="seed")
        strategy = gr.Dropdown(list_strategies(), value="ensemble80", label="strategy")
        options = gr.JSON({}, label="options")
        model = gr.Dropdown(menu, value=menu[0], label="model", allow_custom_value=True)
        selection = gr.JSON(label="selection")
        files = gr.File(label="head files", file_count="multiple")
        gr.Button(visible=False).click(
            select_templates, [images, labels, classes, pool, templates, folds, max_templates, seed, model],
            selection, api_name="select_templates", concurrency_id="model", concurrency_limit=2,
        )
        gr.Button(visible=False).click(
            export_head, [images, labels, classes, strategy, options, model], files, api_name="export_head",
            concurrency_id="model", concurrency_limit=2,
        )
