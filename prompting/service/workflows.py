"""What the web app and its API do with the core: specs from choices, runs over one or two
models, labels from names, labelled sets from uploaded zips, and top-k predictions as JSON.

Requests from visitors are bounded by ``RunLimits`` (images, classes, templates, descriptions,
WaffleCLIP seeds and counts); the page and the API endpoints pass the same limits, so a script
cannot ask for more than the page can.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from prompting.classes import ClassName, as_class_names, parse_class_list
from prompting.data.datasets import ScannedFolder, scan_folder, with_classes
from prompting.data.uploads import extract_zip_safely
from prompting.encoding.embeddings import text_store
from prompting.encoding.models import DualEncoder, load_model
from prompting.errors import (
    DatasetError,
    DescriptionsError,
    PromptingError,
    StrategyError,
)
from prompting.evaluation.compare import (
    ImageInput,
    ProgressFn,
    compare,
    estimate_seconds,
    plan_work,
    unique_keys,
)
from prompting.evaluation.export import (
    comparison_to_dict,
    headline,
    plain_language_summary,
    probability_meaning,
    to_jsonable,
)
from prompting.evaluation.results import Comparison
from prompting.evaluation.template_selection import parse_selection
from prompting.service.budgets import WorkEstimate, check_work, estimate_prompts
from prompting.service.config import RunLimits, public_model_name
from prompting.service.session_store import RunRecord, StrategySource
from prompting.strategies.autoclip import DEFAULT_BETA, AutoClipOptions
from prompting.strategies.descriptions import load_descriptions
from prompting.strategies.fudd import DEFAULT_K, FuddOptions, check_k
from prompting.strategies.fudd_pairs import LoadedPairs, load_pairs
from prompting.strategies.registry import StrategySpec, default_label, get_strategy
from prompting.strategies.templates import DEFAULT_TEMPLATE, parse_templates
from prompting.strategies.waffle import WaffleOptions

Loader = Callable[[str], DualEncoder]
TEMPLATE_POOLS = ("imagenet80", "custom")


@dataclass
class StrategyInputs:
    """What the strategies need beyond their names: templates text, CuPL/DCLIP JSON, Waffle, the
    ZPE/AutoCLIP pool (``"imagenet80"`` or ``"custom"``: the templates text) and AutoCLIP's
    settings, a selection's JSON for ``selected`` (``{"selected": [template, ...]}``), and FuDD's
    pair descriptions (JSON text), base strategy name (empty: the paper's template) and k."""

    templates_text: str = ""
    cupl_json: str = ""
    dclip_json: str = ""
    waffle_seeds: tuple[int, ...] = (0,)
    waffle_words: int = 15
    waffle_chars: int = 15
    waffle_concept: str = ""
    weighting_pool: str = "imagenet80"
    autoclip_beta: float = DEFAULT_BETA
    autoclip_objective: str = "cosine"
    selected_json: str = ""
    fudd_json: str = ""
    fudd_base: str = ""
    fudd_k: int = DEFAULT_K


def build_specs(
    names: Sequence[str], inputs: StrategyInputs, limits: RunLimits | None = None
) -> tuple[list[StrategySpec], dict[str, str]]:
    """Specs for the chosen strategies; those whose inputs are unusable go to the error dict.

    An error names the strategy's title and the reason, so other strategies can still run.
    With ``limits``, a strategy asking for more than they allow is such an error too.
    """
    if not names:
        raise StrategyError("Choose at least one strategy to compare.")
    specs: list[StrategySpec] = []
    errors: dict[str, str] = {}
    for name in dict.fromkeys(names):
        strategy = get_strategy(name)
        try:
            specs.append(_spec(name, inputs, limits))
        except PromptingError as exc:
            errors[strategy.title] = str(exc)
    return specs, errors


def _spec(name: str, inputs: StrategyInputs, limits: RunLimits | None) -> StrategySpec:
    if name == "template":
        return StrategySpec(name, templates=_templates(inputs.templates_text, limits))
    if name in ("zpe", "autoclip"):
        if inputs.weighting_pool not in TEMPLATE_POOLS:
            raise StrategyError(f"The template pool must be one of {', '.join(TEMPLATE_POOLS)}.")
        custom = inputs.weighting_pool == "custom"
        options = AutoClipOptions(float(inputs.autoclip_beta), inputs.autoclip_objective)  # type: ignore[arg-type]
        return StrategySpec(name, templates=_templates(inputs.templates_text, limits) if custom else None,
                            autoclip=options if name == "autoclip" else None)
    if name == "selected":
        spec = parse_selection(inputs.selected_json)
        if limits and len(spec.templates or []) > limits.max_templates:
            raise StrategyError(f"Too many selected templates; this server uses at most {limits.max_templates}.")
        return spec
    if name in ("cupl", "dclip"):
        text = inputs.cupl_json if name == "cupl" else inputs.dclip_json
        title = get_strategy(name).title
        if not text.strip():
            raise StrategyError(
                f"{title} needs descriptions: generate them with the language model or import a JSON file."
            )
        descriptions = load_descriptions(text)  # a str is always JSON text, never a path
        if limits:
            _check_descriptions(title, descriptions, limits)
        return StrategySpec(name, descriptions=descriptions)
    if name == "waffle":
        if limits:
            _check_waffle(inputs, limits)
        waffle = WaffleOptions(
            n_words=int(inputs.waffle_words), n_chars=int(inputs.waffle_chars), seeds=tuple(inputs.waffle_seeds),
            concept=inputs.waffle_concept.strip() or None,
        )
        return StrategySpec(name, waffle=waffle)
    if name == "fudd":
        return _fudd_spec(inputs, limits)
    return StrategySpec(name)


def _fudd_spec(inputs: StrategyInputs, limits: RunLimits | None) -> StrategySpec:
    """FuDD over ``fudd_base`` (the paper's "a photo of a {}." when empty) with the pair
    descriptions in ``fudd_json``, re-scoring each image's top ``fudd_k`` classes."""
    if not inputs.fudd_json.strip():
        raise StrategyError(
            "FuDD needs descriptions of how look-alike classes differ: send them (the JSON `describe --method fudd` "
            "writes, or the authors' file) as options.fudd.pairs, or add FuDD after a run on the page's Class names "
            "tab."
        )
    try:
        base = _spec(inputs.fudd_base, inputs, limits) if inputs.fudd_base else None
    except PromptingError as exc:
        raise StrategyError(f"FuDD's base ({get_strategy(inputs.fudd_base).title}): {exc}") from None
    if base is not None and base.name == "fudd":
        raise StrategyError("FuDD cannot be its own base; choose another strategy, such as template.")
    base_label = default_label(base) if base is not None else f"“{DEFAULT_TEMPLATE}”"
    return fudd_over(base, base_label, inputs.fudd_json, inputs.fudd_k, limits)


def fudd_over(base: StrategySpec | None, base_label: str, text: str, k: int,
              limits: RunLimits | None = None) -> StrategySpec:
    """FuDD over ``base`` (None: the paper's template), labelled with ``base_label``, with the
    pair descriptions in the JSON ``text`` (within ``limits``) and ``k`` classes per image."""
    try:
        k = check_k(k)
    except ValueError as exc:
        raise StrategyError(f"FuDD: {exc}") from None
    pairs = read_pairs(text, limits).pairs
    return StrategySpec("fudd", label=f"FuDD (k={k}) · {base_label}", fudd=FuddOptions(pairs, base, k))


def read_pairs(text: str, limits: RunLimits | None = None) -> LoadedPairs:
    """Pair descriptions from the page's JSON text, within ``limits``."""
    loaded = load_pairs(text)
    if limits is not None:
        if len(loaded.pairs) > limits.max_fudd_pairs:
            raise DescriptionsError(
                f"The FuDD descriptions cover {len(loaded.pairs)} pairs; this server uses at most "
                f"{limits.max_fudd_pairs}. Keep the look-alike pairs of your run."
            )
        crowded = [p for p in loaded.pairs if len(p.differences) > limits.max_fudd_differences]
        if crowded:
            raise DescriptionsError(
                f"The pair {crowded[0].label} has {len(crowded[0].differences)} descriptions; this server uses at "
                f"most {limits.max_fudd_differences} per pair."
            )
    return loaded



def _templates(text: str, limits: RunLimits | None) -> list[str]:
    templates = parse_templates(text)
    if limits and len(templates) > limits.max_templates:
        raise StrategyError(
            f"Too many templates: {len(templates)}. This server uses at most {limits.max_templates} per run; "
            "keep the ones that matter most."
        )
    return templates


def _check_descriptions(title: str, descriptions: dict[str, list[str]], limits: RunLimits) -> None:
    if len(descriptions) > limits.max_classes:
        raise StrategyError(
            f"The {title} descriptions cover {len(descriptions)} classes; this server accepts at most "
            f"{limits.max_classes}."
        )
    cap = limits.max_descriptions_per_class
    crowded = [(name, len(items)) for name, items in descriptions.items() if len(items) > cap]
    if crowded:
        name, count = crowded[0]
        more = f" (and {len(crowded) - 1} more classes)" if len(crowded) > 1 else ""
        raise StrategyError(
            f"The {title} descriptions list {count} entries for '{name}'{more}; this server uses at most "
            f"{cap} per class. Shorten those lists."
        )


def _check_waffle(inputs: StrategyInputs, limits: RunLimits) -> None:
    seeds = len(inputs.waffle_seeds)
    if seeds > limits.max_waffle_seeds:
        raise StrategyError(f"Too many WaffleCLIP seeds: {seeds}. This server runs at most {limits.max_waffle_seeds}.")
    for what, count in (("random-word", inputs.waffle_words), ("random-character", inputs.waffle_chars)):
        if count > limits.max_waffle_count:
            raise StrategyError(
                f"Too many WaffleCLIP {what} descriptors: {count}. This server draws at most "
                f"{limits.max_waffle_count} of each."
            )


def check_run_size(n_images: int, n_classes: int, limits: RunLimits) -> None:
    """Refuse a run with more images or classes than ``limits`` allow (a DatasetError that says
    how many are allowed)."""
    if n_images > limits.max_images:
        raise DatasetError(
            f"Too many images: {n_images}. This server scores at most {limits.max_images} per run; "
            "remove some or split them over several runs."
        )
    if n_classes > limits.max_classes:
        raise DatasetError(
            f"Too many classes: {n_classes}. This server accepts at most {limits.max_classes} per run."
        )


def match_labels(labels: Sequence[str | None], classes: list[ClassName]) -> tuple[list[int | None], list[str]]:
    """Class index per label (matched by display or prompt name, ignoring case), and the
    labels that match no class. Blank labels mean "unknown"."""
    index: dict[str, int] = {}
    for position, cls in enumerate(classes):
        index.setdefault(cls.display.strip().casefold(), position)
    for position, cls in enumerate(classes):
        index.setdefault(cls.prompt.strip().casefold(), position)
    indices: list[int | None] = []
    unknown: list[str] = []
    for label in labels:
        text = (label or "").strip()
        if not text:
            indices.append(None)
            continue
        found = index.get(text.casefold())
        if found is None and text not in unknown:
            unknown.append(text)
        indices.append(found)
    return indices, unknown


def strict_labels(labels: Sequence[str | None], classes: list[ClassName]) -> list[int | None]:
    """Like ``match_labels`` but a label outside the class list is a DatasetError."""
    indices, unknown = match_labels(labels, classes)
    if unknown:
        names = ", ".join(f"'{name}'" for name in unknown[:5])
        raise DatasetError(f"These labels are not in the class list: {names}. Add them as classes or fix the labels.")
    return indices


def model_tags(models: Sequence[str]) -> dict[str, str]:
    """A short tag per model (last part of the hub id or path); full names if tags collide."""
    tags = {name: Path(name.rstrip("/")).name or name for name in models}
    if len(set(tags.values())) < len(tags):
        return {name: name for name in models}
    return tags


def run_models(
    models: Sequence[str],
    images: list[ImageInput],
    classes: list[ClassName],
    specs: list[StrategySpec],
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    loader: Loader = load_model,
    limits: RunLimits | None = None,
) -> RunRecord:
    """Compare ``specs`` on ``images`` with each model (loaded once per process).

    With one model the comparison is returned as is. With several, results are merged into
    one comparison whose strategies are named ``<strategy>@<model tag>`` and grouped by
    strategy, so the two models sit next to each other in every table and figure. The
    comparison's ``model`` is the public name (``public_model_name``); ``sources`` keep the
    names to load. With ``limits``, too many images or classes is a DatasetError up front, and
    a run over the work budget a BudgetError before anything is encoded: new prompts to encode
    (``limits.max_prompts_per_run``, checked for all models at once) and pixels to decode
    (``limits.max_pixels_per_run``, new images at their reduced decoding size, for each model).
    """
    if limits is not None:
        check_run_size(len(images), len(classes), limits)
    models = list(dict.fromkeys(models))
    report = progress or (lambda fraction, message: None)
    report(0.0, "Preparing the model" + ("s" if len(models) > 1 else ""))
    encoders = {name: loader(name) for name in models}
    if limits is not None:
        check_work(estimate_work(list(encoders.values()), classes, specs, limits), limits)
    comparisons: dict[str, Comparison] = {}
    for number, (name, encoder) in enumerate(encoders.items()):
        prefix = f"{model_tags(models)[name]}: " if len(models) > 1 else ""

        def scaled(fraction: float, message: str, number: int = number, prefix: str = prefix) -> None:
            report((number + fraction) / len(models), prefix + message)

        comparisons[name] = compare(encoder, images, classes, specs, strict=False, progress=scaled, cancel=cancel,
                                    max_pixels=limits.max_pixels_per_run if limits else None)
    keys = unique_keys(specs)
    if len(models) == 1:
        sources = {key: StrategySource(models[0], spec) for key, spec in zip(keys, specs)}
        return RunRecord(replace(comparisons[models[0]], model=public_model_name(models[0])), images, sources)
    return _merged(comparisons, keys, specs, images)


@dataclass
class RunEstimate:
    """What ``run_models`` would encode (summed over its models) and how long that should take."""

    seconds: float = 0.0
    prompts_to_encode: int = 0
    images_to_encode: int = 0
    models: int = 0


def estimate_run(
    models: Sequence[str],
    images: list[ImageInput],
    classes: list[ClassName],
    specs: list[StrategySpec],
    loader: Loader = load_model,
) -> RunEstimate:
    """The work ``run_models`` would do, before doing it: new prompts and images per model
    (cached ones are free) times this machine's measured speed (``compare.estimate_seconds``)."""
    estimate = RunEstimate()
    for name in dict.fromkeys(models):
        encoder = loader(name)
        plan = plan_work(encoder, images, classes, specs)
        estimate.seconds += estimate_seconds(encoder, plan)
        estimate.prompts_to_encode += plan.prompts_to_encode
        estimate.images_to_encode += plan.images_to_encode
        estimate.models += 1
    return estimate


def estimate_work(
    encoders: Sequence[DualEncoder], classes: list[ClassName], specs: list[StrategySpec], limits: RunLimits,
) -> WorkEstimate:
    """The run's new prompts for ``encoders`` (those in a model's text cache are free), summed
    over every model."""
    cached = [text_store(encoder).count_cached for encoder in encoders]
    return WorkEstimate(estimate_prompts(specs, classes, cached, limits.max_prompts_per_run))


def _merged(
    comparisons: dict[str, Comparison], keys: list[str], specs: list[StrategySpec], images: list[ImageInput]
) -> RunRecord:
    tags = model_tags(list(comparisons))
    first = next(iter(comparisons.values()))
    merged = replace(
        first, model=" vs ".join(public_model_name(name) for name in comparisons), strategies={},
        strategy_errors={}, encoder_stats={},
    )
    sources: dict[str, StrategySource] = {}
    for key, spec in zip(keys, specs):
        for model, comparison in comparisons.items():
            tagged = f"{key}@{tags[model]}"
            if key in comparison.strategies:
                result = comparison.strategies[key]
                merged.strategies[tagged] = replace(result, name=tagged, label=f"{result.label} · {tags[model]}")
                sources[tagged] = StrategySource(model, spec)
            elif key in comparison.strategy_errors:
                merged.strategy_errors[tagged] = comparison.strategy_errors[key]
    for comparison in comparisons.values():
        for stat, count in comparison.encoder_stats.items():
            merged.encoder_stats[stat] = merged.encoder_stats.get(stat, 0) + count
    return RunRecord(merged, images, sources)


def extend_run(
    record: RunRecord,
    specs: list[StrategySpec],
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    loader: Loader = load_model,
    limits: RunLimits | None = None,
) -> tuple[RunRecord, list[str]]:
    """Score more strategies on a stored run's images with its model(s) and place them beside the
    run's results (images come from the image cache, prompts from the text cache). Returns the
    extended record and the keys added; a key already in the run gets a numbered suffix. With
    ``limits`` the added work is held to the run's budget, as in ``run_models``."""
    if record.comparison.sample_of is not None:
        raise DatasetError("Strategies cannot be added to a stored-set run; tick them and evaluate the stored set "
                           "again.")
    models = list(dict.fromkeys(source.model for source in record.sources.values()))
    extra = run_models(models, record.images, record.comparison.classes, specs, progress, cancel, loader, limits)
    comparison = record.comparison
    strategies, sources = dict(comparison.strategies), dict(record.sources)
    added: list[str] = []
    for key, result in extra.comparison.strategies.items():
        fresh, count = key, 2
        while fresh in strategies:
            fresh, count = f"{key}-{count}", count + 1
        strategies[fresh] = replace(result, name=fresh)
        sources[fresh] = extra.sources[key]
        added.append(fresh)
    stats = {stat: comparison.encoder_stats.get(stat, 0) + extra.comparison.encoder_stats.get(stat, 0)
             for stat in {*comparison.encoder_stats, *extra.comparison.encoder_stats}}
    extended = replace(
        comparison, strategies=strategies, encoder_stats=stats,
        strategy_errors={**comparison.strategy_errors, **extra.comparison.strategy_errors},
    )
    return replace(record, comparison=extended, sources=sources), added


def top_predictions(comparison: Comparison, k: int = 3) -> dict[str, Any]:
    """Per image, each strategy's ``k`` best classes with their probabilities, as plain JSON."""
    k = max(1, min(int(k), len(comparison.classes)))
    images = []
    for i, image in enumerate(comparison.images):
        per_strategy = {}
        for key, result in comparison.strategies.items():
            order = result.predictions(k)[i]
            per_strategy[key] = [
                {"class": comparison.classes[c].display, "probability": to_jsonable(result.probabilities[i, c])}
                for c in order
            ]
        images.append({"name": image.name, "predictions": per_strategy})
    return {
        "model": comparison.model,
        "probability_kind": comparison.probability_kind,
        "probability_meaning": probability_meaning(comparison),
        "probability_kinds": {key: result.probability_kind for key, result in comparison.strategies.items()},
        "strategies": {key: result.label for key, result in comparison.strategies.items()},
        "images": images,
        "skipped": _named_skips(comparison),
        "strategy_errors": dict(comparison.strategy_errors),
    }


def comparison_payload(comparison: Comparison) -> dict[str, Any]:
    """The export JSON plus the headline, the plain-language summary and the strategies that could
    not run.

    Images are named, not located: server paths mean nothing to the reader, and a ``path``
    key would make gradio_client treat the entry as a file to download.
    """
    payload = comparison_to_dict(comparison)
    names = {image.path: image.name for image in comparison.images}
    return {
        **payload,
        "images": [{"name": names.get(image.pop("path"), ""), **image} for image in payload["images"]],
        "skipped": _named_skips(comparison),
        "headline": headline(comparison),
        "summary": plain_language_summary(comparison),
    }


def _named_skips(comparison: Comparison) -> list[dict[str, str]]:
    """Skipped files by name and reason, without server paths."""
    return [{"name": Path(item.get("path") or "").name, "reason": item.get("reason", "")} for item in comparison.skipped]


def _scan_unpacked(root: Path, zip_path: str | Path) -> ScannedFolder:
    """``scan_folder`` of an unpacked upload; its messages name the zip, not the server folder."""
    try:
        return scan_folder(root)
    except DatasetError as exc:
        raise DatasetError(str(exc).replace(str(root), Path(zip_path).name)) from exc


def labelled_images(root: Path, zip_path: str | Path) -> list[tuple[Path, str | None]]:
    """The images of an unpacked zip with their class-folder names (None for a flat folder)."""
    scanned = _scan_unpacked(root, zip_path)
    return [(path, scanned.classes[label] if label is not None else None) for path, label in scanned.items]


def dataset_from_zip(
    zip_path: str | Path, target: Path, classes_text: str = ""
) -> tuple[list[ImageInput], list[ClassName]]:
    """A labelled data set from a zip of ``<class>/<image>`` folders.

    The classes are the folder names unless ``classes_text`` gives a class list, whose display
    names must then cover every folder (``display | prompt`` lines prompt differently).
    """
    root = extract_zip_safely(zip_path, target)
    scanned = _scan_unpacked(root, zip_path)
    if not scanned.labeled:
        raise DatasetError(
            "The zip has no class folders, so there is nothing to evaluate against: put each image in a "
            "folder named after its class (cat/1.jpg, dog/2.jpg, ...)."
        )
    if classes_text.strip():
        classes = parse_class_list(classes_text)
        scanned = with_classes(scanned, [cls.display for cls in classes])
    else:
        classes = as_class_names(scanned.classes)
    images = [
        ImageInput(str(path), label, name=path.relative_to(root).as_posix()) for path, label in scanned.items
    ]
    return images, classes
