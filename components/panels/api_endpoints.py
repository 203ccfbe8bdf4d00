"""Named API endpoints for scripts (``gradio_client``): classify, compare and evaluate.

They take plain values: image files (``handle_file(path)``), the class list as text (one class
per line), strategy names as a list, optional true classes as a list of names aligned with
the images, and optional strategy settings as a JSON object::

    {"templates": ["a photo of a {}."], "cupl": {"cat": ["..."]}, "dclip": {"cat": ["..."]},
     "waffle": {"seeds": [0, 1, 2], "n_words": 15, "n_chars": 15, "concept": "animal"},
     "weighting": {"pool": "imagenet80" or "custom" (the templates above), "beta": 0.85, "objective": "cosine"},
     "selected": ["itap of a {}.", ...] or the JSON /select_templates returned}

The components live in a hidden column; nothing of this shows in the page. Every request is
held to the same limits as the page (``AppConfig.limits``: images, classes, templates,
descriptions per class, WaffleCLIP seeds and counts); going over one is a readable error.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from components.panels.local_files import local_only
from components.panels.run_panel import chosen_models
from components.panels.strategies_panel import DEFAULT_STRATEGIES, NO_SECOND_MODEL
from prompting.classes import ClassName, parse_class_list
from prompting.errors import DatasetError, PromptingError, StrategyError, public_message
from prompting.evaluation.compare import ImageInput
from prompting.evaluation.results import Comparison
from prompting.service.config import AppConfig, RunLimits
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
from prompting.strategies.autoclip import DEFAULT_BETA
from prompting.strategies.registry import list_strategies

DEFAULT_TOP_K = 3

LOG = logging.getLogger(__name__)


def strategy_inputs_from_options(options: dict[str, Any] | None, limits: RunLimits | None = None) -> StrategyInputs:
    """StrategyInputs from the API's options object (see the module notes); wrong types are a
    StrategyError, and so are more WaffleCLIP seeds than ``limits`` allow."""
    options = options or {}
    if not isinstance(options, dict):
        raise StrategyError("options must be a JSON object such as {\"templates\": [\"a photo of a {}.\"]}.")
    templates = options.get("templates", "")
    waffle = options.get("waffle") or {}
    if not isinstance(waffle, dict):
        raise StrategyError("options.waffle must be a JSON object such as {\"seeds\": [0, 1], \"n_words\": 15}.")
    seeds = waffle.get("seeds", [0])
    if not isinstance(seeds, list) or not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in seeds):
        raise StrategyError("options.waffle.seeds must be a list of whole numbers, e.g. [0, 1, 2].")
    cap = (limits or RunLimits()).max_waffle_seeds
    if len(seeds) > cap:
        raise StrategyError(f"Too many WaffleCLIP seeds: {len(seeds)}. This server runs at most {cap}.")
    counts = {key: waffle.get(key, 15) for key in ("n_words", "n_chars")}
    for key, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise StrategyError(f"options.waffle.{key} must be a whole number, e.g. 15.")
    weighting = options.get("weighting") or {}
    if not isinstance(weighting, dict):
        raise StrategyError("options.weighting must be a JSON object such as {\"pool\": \"imagenet80\"}.")
    beta = weighting.get("beta", DEFAULT_BETA)
    if not isinstance(beta, (int, float)) or isinstance(beta, bool):
        raise StrategyError("options.weighting.beta must be a number between 0 and 1, e.g. 0.85.")
    selected = options.get("selected")
    return StrategyInputs(
        templates_text="\n".join(map(str, templates)) if isinstance(templates, list) else str(templates),
        cupl_json=_json_text(options.get("cupl")),
        dclip_json=_json_text(options.get("dclip")),
        waffle_seeds=tuple(seeds),
        waffle_words=counts["n_words"],
        waffle_chars=counts["n_chars"],
        waffle_concept=str(waffle.get("concept") or ""),
        weighting_pool=str(weighting.get("pool", "imagenet80")),
        autoclip_beta=float(beta),
        autoclip_objective=str(weighting.get("objective", "cosine")),
        selected_json=_json_text({"selected": selected} if isinstance(selected, list) else selected),
    )


def _json_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _file_paths(files: Any) -> list[str]:
    if not files:
        raise DatasetError("Send at least one image file.")
    return [str(f) for f in (files if isinstance(files, list) else [files])]


def as_api(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Turn the core's specific errors into messages the client receives."""

    @functools.wraps(fn)
    def call(*args: Any) -> dict[str, Any]:
        try:
            return fn(*args)
        except PromptingError as exc:
            if getattr(exc, "operator_hint", ""):
                LOG.warning("An API call failed: %s", exc)
            raise gr.Error(public_message(exc)) from exc

    return call


def _score(config: AppConfig, inputs: list[ImageInput], classes: list[ClassName], strategies: list[str] | None,
           options: Any, models: list[str]) -> Comparison:
    """Run the chosen strategies; unusable ones are listed in ``strategy_errors``."""
    limits = config.limits
    specs, errors = build_specs(strategies or DEFAULT_STRATEGIES, strategy_inputs_from_options(options, limits), limits)
    if not specs:
        raise StrategyError("None of the strategies can run: " + " ".join(errors.values()))
    comparison = run_models(models, inputs, classes, specs, limits=limits).comparison
    comparison.strategy_errors.update(errors)
    return comparison


def request_images(images: Any, labels: Any, classes: list[ClassName], limits: RunLimits) -> list[ImageInput]:
    """Uploaded files with their (optional) true classes, which must be in the class list."""
    paths = _file_paths(images)
    check_run_size(len(paths), len(classes), limits)
    if labels is not None and (not isinstance(labels, list) or len(labels) != len(paths)):
        raise DatasetError(f"Send labels as a list with one class name (or null) per image ({len(paths)} images).")
    indices = strict_labels(labels, classes) if labels is not None else [None] * len(paths)
    return [ImageInput(path, label, name=Path(path).name) for path, label in zip(paths, indices)]


def build_api(config: AppConfig) -> None:
    """The hidden components and the three named endpoints."""

    @as_api
    def classify(images: Any, classes: str, strategies: list[str], model: str, top_k: float | None) -> dict[str, Any]:
        """Top-k classes per image and strategy, with probabilities."""
        class_names = parse_class_list(classes or "")
        inputs = request_images(images, None, class_names, config.limits)
        comparison = _score(config, inputs, class_names, strategies, None, chosen_models(config, model, None))
        return top_predictions(comparison, int(top_k or DEFAULT_TOP_K))

    @as_api
    def compare(images: Any, classes: str, strategies: list[str], labels: Any, options: Any, model: str,
                second_model: str | None) -> dict[str, Any]:
        """The full comparison (probabilities, predictions, metrics with labels) and a summary."""
        class_names = parse_class_list(classes or "")
        inputs = request_images(images, labels or None, class_names, config.limits)
        models = chosen_models(config, model, second_model)
        return comparison_payload(_score(config, inputs, class_names, strategies, options, models))

    @as_api
    def evaluate(dataset: Any, classes: str, strategies: list[str], options: Any, model: str) -> dict[str, Any]:
        """Metrics per strategy on a zip of <class>/<image> folders."""
        if not dataset:
            raise DatasetError("Send a zip of class folders (cat/1.jpg, dog/2.jpg, ...).")
        with tempfile.TemporaryDirectory(prefix="zsp-eval-") as folder:
            inputs, class_names = dataset_from_zip(str(dataset), Path(folder), classes or "")
            comparison = _score(config, inputs, class_names, strategies, options, chosen_models(config, model, None))
        payload = comparison_payload(comparison)
        payload["metrics"] = {key: value["metrics"] for key, value in payload["strategies"].items()}
        payload["n_images"] = len(comparison.images)
        return payload

    menu = list(config.public_menu)  # shown names; full menu names are accepted too
    with gr.Column(visible=False):
        images = local_only(gr.File(label="images", file_count="multiple", file_types=["image"]))
        dataset = local_only(gr.File(label="dataset", file_types=[".zip"]))
        classes = gr.Textbox(label="classes")
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
