"""What the page and the API do to find better prompts for a run, within the server's limits:
select templates on its labelled images and export a classifier head of one of its strategies
(``workflows.extend_run`` adds the selected set to the run).

Selection uses the run's first model; the images' embeddings come from the process's image
cache and the prompts' from the text cache, so nothing the run encoded is encoded again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from prompting.classes import ClassName
from prompting.errors import DatasetError, StrategyError
from prompting.evaluation.compare import ImageInput, ProgressFn, encode_images
from prompting.evaluation.head import ClassifierHead, check_linear, head_for_strategy, head_from_result
from prompting.evaluation.template_selection import TemplateSelection, candidate_pool, select_templates
from prompting.service.config import RunLimits, public_model_name
from prompting.service.session_store import RunRecord
from prompting.service.workflows import TEMPLATE_POOLS, Loader, check_run_size
from prompting.strategies.registry import StrategySpec
from prompting.strategies.templates import DEFAULT_TEMPLATE, IMAGENET_TEMPLATES, parse_templates


def selection_pool(sources: Sequence[str], custom_text: str, limits: RunLimits) -> list[str]:
    """The candidate pool from the chosen ``sources`` (``"imagenet80"``, ``"custom"``: the
    templates text), deduplicated; at most ``limits.max_templates`` candidates."""
    unknown = [source for source in sources if source not in TEMPLATE_POOLS]
    if unknown or not sources:
        raise StrategyError(f"Choose the candidate pool from: {', '.join(TEMPLATE_POOLS)}.")
    pool = candidate_pool(
        IMAGENET_TEMPLATES if "imagenet80" in sources else (),
        parse_templates(custom_text) if "custom" in sources else (),
    )
    if len(pool) > limits.max_templates:
        raise StrategyError(
            f"The candidate pool has {len(pool)} templates; this server selects from at most {limits.max_templates}."
        )
    return pool


def check_selection_size(n_images: int, n_classes: int, pool: Sequence[str], folds: int, max_templates: int,
                         limits: RunLimits) -> None:
    """Refuse a selection bigger than ``limits`` allow, saying which bound and by how much."""
    check_run_size(n_images, n_classes, limits)
    if not 2 <= folds <= limits.max_folds:
        raise StrategyError(f"Choose between 2 and {limits.max_folds} folds, not {folds}.")
    if not 1 <= max_templates <= limits.max_selected_templates:
        raise StrategyError(f"Choose a size limit between 1 and {limits.max_selected_templates} templates.")
    embedded = len(set(pool) | set(IMAGENET_TEMPLATES) | {DEFAULT_TEMPLATE})
    cells = embedded * n_images * n_classes
    if cells > limits.max_selection_cells:
        raise DatasetError(
            f"This selection is too big for this server: {embedded} templates × {n_images} images × {n_classes} "
            f"classes = {cells:,} scores, over its limit of {limits.max_selection_cells:,}. Use fewer images, "
            "classes or candidate templates."
        )


def select_for_images(
    model: str, images: list[ImageInput], classes: list[ClassName], pool: Sequence[str], folds: int,
    max_templates: int, seed: int, limits: RunLimits, loader: Loader, progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> TemplateSelection:
    """Cross-validated template selection on labelled ``images`` with ``model``, within ``limits``."""
    check_selection_size(len(images), len(classes), pool, folds, max_templates, limits)
    if any(image.label is None for image in images):
        raise DatasetError("Template selection needs the true class of every image: add the missing ones first.")
    report = progress or (lambda fraction, message: None)
    encoder = loader(model)
    encoded = encode_images(encoder, images, lambda fraction, message: report(0.1 * fraction, message), cancel)
    return select_templates(encoder, encoded, classes, pool, folds, max_templates, seed,
                            lambda fraction, message: report(0.1 + 0.9 * fraction, message), cancel)


def first_model(record: RunRecord) -> str:
    """The model a run's selection uses: the first it compared."""
    models = list(dict.fromkeys(source.model for source in record.sources.values()))
    if not models:
        raise StrategyError("This run has no results to work from: press Run first.")
    return models[0]


def head_for_run(record: RunRecord, key: str, loader: Loader) -> ClassifierHead:
    """The classifier head of the run's strategy ``key`` (temperature fitted when every image of
    the run is labelled); the model is named publicly, never by a server path."""
    if key not in record.comparison.strategies or key not in record.sources:
        raise StrategyError("That strategy is not part of this run; pick one of its results.")
    source = record.sources[key]
    check_linear(source.spec.name)
    comparison = record.comparison
    return head_from_result(loader(source.model), comparison.classes, source.spec, comparison.strategies[key],
                            comparison.labels, public_model_name(source.model), source.spec.name)


def head_for_request(model: str, classes: list[ClassName], spec: StrategySpec, images: list[ImageInput],
                     limits: RunLimits, loader: Loader) -> ClassifierHead:
    """A head for an API request: scored on ``images`` when given (ZPE's weights; the temperature
    when all are labelled), else from the prompts alone."""
    check_linear(spec.name)
    check_run_size(len(images), len(classes), limits)
    encoder = loader(model)
    encoded = encode_images(encoder, images) if images else None
    return head_for_strategy(encoder, classes, spec, public_model_name(model), encoded)
