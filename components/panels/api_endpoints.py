"""Named API endpoints for scripts (``gradio_client``): classify, compare and evaluate.

They take plain values: image files (``handle_file(path)``), the class list as text (one class
per line) or as a list of names, strategy names as a list, optional true classes as a list of
names aligned with the images, and optional strategy settings as a JSON object::

    {"templates": ["a photo of a {}."], "cupl": {"cat": ["..."]}, "dclip": {"cat": ["..."]},
     "waffle": {"seeds": [0, 1, 2], "n_words": 15, "n_chars": 15, "concept": "animal"},
     "weighting": {"pool": "imagenet80" or "custom" (the templates above), "beta": 0.85, "objective": "cosine"},
     "selected": ["itap of a {}.", ...] or the JSON /select_templates returned}

The components live in a hidden column; nothing of this shows in the page. Every request is
held to the same limits as the page (``AppConfig.limits``: images, classes, templates,
descriptions per class, WaffleCLIP seeds and counts, prompts to encode and pixels to decode); going over one is a readable error, and
so is an argument of the wrong type (``prompting/service/api_args.py``; files and numbers are
checked before Gradio reads them, ``check_raw_arguments``).
"""

from __future__ import annotations

import functools
import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from components.panels import messages
from components.panels.cancellable import cancellable, current_cancel
from components.panels.local_files import local_only
from components.panels.run_panel import chosen_models
from components.panels.strategies_panel import DEFAULT_STRATEGIES, NO_SECOND_MODEL
from prompting.classes import ClassName, parse_class_list
from prompting.errors import DatasetError, PromptingError, StrategyError
from prompting.evaluation.compare import ImageInput
from prompting.evaluation.results import Comparison
from prompting.service.api_args import (
    class_list_text,
    labels_list,
    name_list,
    optional_name,
    shown,
    strategy_inputs_from_options,
    whole_number,
)
from prompting.service.config import AppConfig, RunLimits
from prompting.service.session_store import CancelRegistry
from prompting.service.workflows import (
    StrategyInputs,
    build_specs,
    check_run_size,
    comparison_payload,
    dataset_from_zip,
    run_models,
    strict_labels,
    top_predictions,
)
from prompting.strategies.registry import list_strategies

DEFAULT_TOP_K = 3
API_JOB = "api"
Endpoint = TypeVar("Endpoint", bound=Callable[..., dict[str, Any]])


def _file_paths(files: Any) -> list[str]:
    if not files:
        raise DatasetError("Send at least one image file.")
    return [str(f) for f in (files if isinstance(files, list) else [files])]


def as_api(cancels: CancelRegistry) -> Callable[[Endpoint], Endpoint]:
    """Make an endpoint cancellable and turn the core's specific errors into messages the
    client receives."""

    def decorate(fn: Endpoint) -> Endpoint:
        @cancellable(cancels, API_JOB)
        @functools.wraps(fn)
        def call(*args: Any) -> dict[str, Any]:
            try:
                return fn(*args)
            except PromptingError as exc:
                raise messages.error(exc) from exc

        return call  # type: ignore[return-value]

    return decorate


def _score(config: AppConfig, inputs: list[ImageInput], classes: list[ClassName], strategies: list[str],
           settings: StrategyInputs, models: list[str]) -> Comparison:
    """Run the chosen strategies; unusable ones are listed in ``strategy_errors``."""
    limits = config.limits
    specs, errors = build_specs(strategies, settings, limits)
    if not specs:
        raise StrategyError("None of the strategies can run: " + " ".join(errors.values()))
    comparison = run_models(models, inputs, classes, specs, cancel=current_cancel(), limits=limits,
                            loader=config.load).comparison
    comparison.strategy_errors.update(errors)
    return comparison


def request_images(images: Any, labels: Any, classes: list[ClassName], limits: RunLimits) -> list[ImageInput]:
    """Uploaded files with their (optional) true classes, which must be in the class list."""
    paths = _file_paths(images)
    check_run_size(len(paths), len(classes), limits)
    names = labels_list(labels, len(paths))
    indices = strict_labels(names, classes) if names is not None else [None] * len(paths)
    return [ImageInput(path, label, name=Path(path).name) for path, label in zip(paths, indices)]


def _classes(value: Any) -> list[ClassName]:
    return parse_class_list(class_list_text(value))


def _strategies(value: Any) -> list[str]:
    return name_list(value, "strategies", list_strategies(), DEFAULT_STRATEGIES)


def _models(config: AppConfig, model: Any, second: Any = None) -> list[str]:
    return chosen_models(config, optional_name(model, "model"), optional_name(second, "second_model"))


def build_api(config: AppConfig, cancels: CancelRegistry) -> None:
    """The hidden components and the three named endpoints (cancellable: a client's
    ``job.cancel()`` or its session's end stops the work)."""
    limits = config.limits
    api = as_api(cancels)

    @api
    def classify(images: Any, classes: Any, strategies: Any, model: Any, top_k: Any,
                 request: gr.Request) -> dict[str, Any]:
        """Top-k classes per image and strategy, with probabilities."""
        class_names = _classes(classes)
        k = DEFAULT_TOP_K if top_k is None else whole_number(top_k, "top_k", 1, limits.max_classes)
        models, names = _models(config, model), _strategies(strategies)
        inputs = request_images(images, None, class_names, limits)
        return top_predictions(_score(config, inputs, class_names, names, StrategyInputs(), models), k)

    @api
    def compare(images: Any, classes: Any, strategies: Any, labels: Any, options: Any, model: Any,
                second_model: Any, request: gr.Request) -> dict[str, Any]:
        """The full comparison (probabilities, predictions, metrics with labels) and a summary."""
        class_names = _classes(classes)
        models, names = _models(config, model, second_model), _strategies(strategies)
        settings = strategy_inputs_from_options(options, limits)
        inputs = request_images(images, labels, class_names, limits)
        return comparison_payload(_score(config, inputs, class_names, names, settings, models))

    @api
    def evaluate(dataset: Any, classes: Any, strategies: Any, options: Any, model: Any,
                 request: gr.Request) -> dict[str, Any]:
        """Metrics per strategy on a zip of <class>/<image> folders."""
        if not dataset:
            raise DatasetError("Send a zip of class folders (cat/1.jpg, dog/2.jpg, ...).")
        text, models, names = class_list_text(classes or ""), _models(config, model), _strategies(strategies)
        settings = strategy_inputs_from_options(options, limits)
        with tempfile.TemporaryDirectory(prefix="zsp-eval-") as folder:
            inputs, class_names = dataset_from_zip(str(dataset), Path(folder), text)
            comparison = _score(config, inputs, class_names, names, settings, models)
        payload = comparison_payload(comparison)
        payload["metrics"] = {key: value["metrics"] for key, value in payload["strategies"].items()}
        payload["n_images"] = len(comparison.images)
        return payload

    menu = list(config.public_menu)  # shown names; full menu names are accepted too
    with gr.Column(visible=False):
        images = local_only(gr.File(label="images", file_count="multiple", file_types=["image"]))
        dataset = local_only(gr.File(label="dataset", file_types=[".zip"]))
        classes = gr.JSON(label="classes")
        strategies = gr.Dropdown(list_strategies(), value=DEFAULT_STRATEGIES, multiselect=True, label="strategies")
        labels = gr.JSON([], label="labels")
        options = gr.JSON({}, label="options")
        model = gr.Dropdown(menu, value=menu[0], label="model", allow_custom_value=True)
        second = gr.Dropdown([NO_SECOND_MODEL, *menu], value=NO_SECOND_MODEL, label="second_model",
                             allow_custom_value=True)
        top_k = gr.Number(DEFAULT_TOP_K, precision=0, label="top_k")
        result = gr.JSON(label="result")
        endpoints = {
            "classify": (classify, [images, classes, strategies, model, top_k]),
            "compare": (compare, [images, classes, strategies, labels, options, model, second]),
            "evaluate": (evaluate, [dataset, classes, strategies, options, model]),
        }
        for name, (fn, inputs) in endpoints.items():
            gr.Button(visible=False).click(fn, inputs, result, api_name=name, concurrency_id="model",
                                           concurrency_limit=2)


def check_raw_arguments(inputs: list[Any], values: list[Any]) -> None:
    """Before Gradio reads an event's files and numbers from the request: a readable error when
    one has the wrong shape (Gradio itself would fail with an opaque one)."""
    for block, value in zip(inputs, values):
        name = getattr(block, "label", None) or "an argument"
        if isinstance(block, gr.File) and value is not None:
            many = block.file_count in ("multiple", "directory")
            files = value if many and isinstance(value, list) else [value]
            if (many and not isinstance(value, list)) or not all(_is_file_payload(item) for item in files):
                example = "[handle_file('cat.jpg'), ...]" if many else "handle_file('set.zip')"
                raise messages.error(
                    f"{name} must be {'a list of uploaded files' if many else 'an uploaded file'}, e.g. {example} "
                    f"with gradio_client; not {shown(value)}.", title="Wrong argument")
        if isinstance(block, gr.Number) and value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
            raise messages.error(f"{name} must be a number, not {shown(value)}.", title="Wrong argument")


def _is_file_payload(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("path") or value.get("url"), str)


def unreadable_argument(inputs: list[Any], error: Exception) -> gr.Error:
    """A readable error for an input Gradio could not read (its own message names the index)."""
    found = re.search(r"input component at index (\d+)", str(error))
    index = int(found.group(1)) if found else -1
    name = getattr(inputs[index], "label", None) if 0 <= index < len(inputs) else None
    what = f"The argument {name!r}" if name else "An argument"
    return messages.error(f"{what} could not be read: it has the wrong type or shape.", title="Wrong argument")
