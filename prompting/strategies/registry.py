"""Registry of prompting strategies: each turns a class list into prompts and names its aggregation.

Class names enter prompts with underscores as spaces (``spoken_name``), as the references do.

Aggregation rules:
- ``mean_embedding`` (class name, templates, 80/7-template ensembles, CuPL): the class vector is
  the mean of L2-normalised prompt embeddings, normalised again (CLIP notebook, open_clip).
  CuPL keeps repeated sentences, which weight the mean as in CuPL's reference code.
  CuPL and DCLIP match file keys to classes with ``matching.match_descriptions``, whose report
  (inexact matches, shared keys, empty lists, unused keys) becomes the plan's notes.
- ``mean_score`` (DCLIP, WaffleCLIP): the class score is the mean of per-prompt cosine
  similarities (DCLIP's and WaffleCLIP's reference code), not the cosine of a mean embedding.
- ``zpe`` (ZPE, ``zpe.py``): a weighted mean of per-template cosines, one weight per template
  learnt from the run's unlabelled images.
- ``autoclip`` (AutoCLIP, ``autoclip.py``): a weighted mean of per-template cosines with weights
  per image.
``selected`` is the template set a cross-validated selection (``selection.py``) chose; its
templates come with the spec.
- ``fudd`` (FuDD, ``fudd.py``): each image re-scored among its base strategy's top-k classes with
  differential descriptions of those classes' pairs; scored by ``evaluation/fudd_scoring.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from prompting.classes import ClassName, spoken_name
from prompting.errors import DescriptionsError, StrategyError
from prompting.strategies.autoclip import AutoClipOptions
from prompting.strategies.descriptors import dclip_ending, dclip_prompt
from prompting.strategies.fudd import FuddOptions, check_k
from prompting.strategies.fudd_pairs import match_pairs
from prompting.strategies.matching import DescriptionMatch, match_descriptions
from prompting.strategies.templates import DEFAULT_TEMPLATE, IMAGENET_TEMPLATES, IMAGENET_TEMPLATES_7, fill
from prompting.strategies.waffle import WaffleOptions, waffle_class_prompts

Aggregation = Literal["mean_embedding", "mean_score", "zpe", "autoclip", "fudd"]
WEIGHTED: tuple[Aggregation, ...] = ("zpe", "autoclip")
SELECTED_IN_SAMPLE = (
    "These templates were chosen on labelled images: on those same images their accuracy is optimistic. "
    "The honest estimate is the selection's cross-validated (held-out) accuracy."
)


@dataclass
class StrategySpec:
    """What the user chose: a registry name plus the inputs that strategy needs.

    ``zpe_reference`` (ZPE only): normalised embeddings of unlabelled pretraining-like images,
    for the paper's main normalisation; without them ZPE normalises with the scored images only.
    """

    name: str
    templates: list[str] | None = None
    descriptions: dict[str, list[str]] | None = None
    waffle: WaffleOptions | None = None
    label: str | None = None
    autoclip: AutoClipOptions | None = None
    zpe_reference: np.ndarray | None = None
    fudd: FuddOptions | None = None


@dataclass
class PromptPlan:
    """Prompts per class (aligned with the class list) and how to aggregate their scores.

    ``seed_groups`` (WaffleCLIP) holds the prompts of each seed separately, aligned with
    ``seeds``; ``prompts`` then concatenates them per class. Weighted aggregations (ZPE,
    AutoCLIP) fill every class from the same ``templates``, in their order. ``warnings`` are
    notes the reader must not miss.
    """

    prompts: list[list[str]]
    aggregation: Aggregation
    seeds: list[int] = field(default_factory=list)
    seed_groups: list[list[list[str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    autoclip: AutoClipOptions | None = None
    warnings: list[str] = field(default_factory=list)
    zpe_reference: np.ndarray | None = None


@dataclass(frozen=True)
class Strategy:
    """A registry entry: display title, one-line summary, aggregation and its prompt builder."""

    key: str
    title: str
    summary: str
    aggregation: Aggregation
    build: Callable[[list[ClassName], StrategySpec], PromptPlan]


def _templated(templates: list[str] | tuple[str, ...], classes: list[ClassName]) -> list[list[str]]:
    return [[fill(t, spoken_name(c.prompt)) for t in templates] for c in classes]


def _build_classname(classes: list[ClassName], spec: StrategySpec) -> PromptPlan:
    return PromptPlan([[spoken_name(c.prompt)] for c in classes], "mean_embedding")


def _checked(templates: list[str] | tuple[str, ...]) -> list[str]:
    bad = [t for t in templates if t.count("{}") != 1]
    if bad:
        raise StrategyError(f"Each template needs exactly one '{{}}' for the class name; not: {bad[0]!r}.")
    return list(templates)


def _build_template(classes: list[ClassName], spec: StrategySpec) -> PromptPlan:
    return PromptPlan(_templated(_checked(spec.templates or [DEFAULT_TEMPLATE]), classes), "mean_embedding")


def _build_selected(classes: list[ClassName], spec: StrategySpec) -> PromptPlan:
    if not spec.templates:
        raise StrategyError(
            "The selected strategy needs the templates a selection chose: run template selection first "
            "(in the app, or `python -m prompting select`, then pass its file with --selected)."
        )
    return PromptPlan(_templated(_checked(spec.templates), classes), "mean_embedding", warnings=[SELECTED_IN_SAMPLE])


def _weighted(aggregation: Aggregation) -> Callable[[list[ClassName], StrategySpec], PromptPlan]:
    """Builder of a weighted strategy over a template pool: the spec's templates, else the 80
    ImageNet templates. A pool of one template has nothing to weight."""

    def build(classes: list[ClassName], spec: StrategySpec) -> PromptPlan:
        templates = list(dict.fromkeys(_checked(spec.templates or IMAGENET_TEMPLATES)))
        if len(templates) < 2:
            raise StrategyError("ZPE and AutoCLIP weight templates against each other: give at least two templates.")
        return PromptPlan(_templated(templates, classes), aggregation, templates=templates,
                          autoclip=spec.autoclip if aggregation == "autoclip" else None,
                          zpe_reference=spec.zpe_reference if aggregation == "zpe" else None)

    return build


def _build_ensemble80(classes: list[ClassName], spec: StrategySpec) -> PromptPlan:
    return PromptPlan(_templated(IMAGENET_TEMPLATES, classes), "mean_embedding")


def _build_ensemble7(classes: list[ClassName], spec: StrategySpec) -> PromptPlan:
    return PromptPlan(_templated(IMAGENET_TEMPLATES_7, classes), "mean_embedding")


def _matched(classes: list[ClassName], spec: StrategySpec, kind: str) -> DescriptionMatch:
    """The descriptions matched to ``classes``; DescriptionsError naming classes without an entry."""
    if not spec.descriptions:
        raise StrategyError(f"The {kind} strategy needs descriptions: generate them with an LLM or import a {kind} JSON file.")
    match = match_descriptions(classes, spec.descriptions)
    if match.missing:
        raise DescriptionsError(
            f"The {kind} descriptions have no entries for: {', '.join(match.missing)}. "
            "Add them (generate or edit) or remove those classes."
        )
    return match


def _build_cupl(classes: list[ClassName], spec: StrategySpec) -> PromptPlan:
    match = _matched(classes, spec, "CuPL")
    if match.empty:
        raise DescriptionsError(
            f"The CuPL descriptions list no sentences for: {', '.join(match.empty)}. "
            "Add some (generate or edit) or remove those classes."
        )
    return PromptPlan(match.per_class, "mean_embedding", notes=match.notes())


def _build_dclip(classes: list[ClassName], spec: StrategySpec) -> PromptPlan:
    """Each descriptor as written, repeats kept; an empty list gives the one prompt
    "{class}, which has " as DCLIP's code does with ['']; "." ends every prompt for ImageNet-1k."""
    match = _matched(classes, spec, "DCLIP")
    ending = dclip_ending(classes)
    prompts = [
        [dclip_prompt(spoken_name(cls.prompt), phrase, ending) for phrase in (phrases or [""])]
        for cls, phrases in zip(classes, match.per_class)
    ]
    notes = match.notes()
    if match.empty:
        notes.append(
            f"{len(match.empty)} classes have no descriptors and are scored with the one prompt "
            f"'{{class}}, which has {ending}', as DCLIP's code does: {', '.join(match.empty)}"
        )
    return PromptPlan(prompts, "mean_score", notes=notes)


def _build_waffle(classes: list[ClassName], spec: StrategySpec) -> PromptPlan:
    options = spec.waffle or WaffleOptions()
    if not options.seeds:
        raise StrategyError("WaffleCLIP needs at least one seed.")
    names = [c.prompt for c in classes]
    groups = [waffle_class_prompts(names, options, seed) for seed in options.seeds]
    merged = [[p for group in groups for p in group[index]] for index in range(len(classes))]
    notes = []
    if len(options.seeds) > 1:
        notes.append(
            f"Scores average the prompts of all {len(options.seeds)} seeds; accuracy is also reported per seed "
            "(mean ± std), as the WaffleCLIP paper does."
        )
    return PromptPlan(merged, "mean_score", seeds=list(options.seeds), seed_groups=groups, notes=notes)


def fudd_base(spec: StrategySpec) -> StrategySpec:
    """FuDD's base strategy: the spec's, else the paper's single template "a photo of a {}."."""
    if spec.fudd is not None and spec.fudd.base is not None:
        return spec.fudd.base
    return StrategySpec("template", templates=[DEFAULT_TEMPLATE], label=f"Template “{DEFAULT_TEMPLATE}”")


def _build_fudd(classes: list[ClassName], spec: StrategySpec) -> PromptPlan:
    """Checks FuDD's inputs; the prompts listed are each class's captions over all its pairs."""
    options = spec.fudd
    if options is None or not options.pairs:
        raise StrategyError(
            "FuDD needs differential descriptions of look-alike class pairs: generate them with a language model "
            "or import a FuDD JSON file."
        )
    try:
        check_k(options.k)
    except ValueError as exc:
        raise StrategyError(f"FuDD: {exc}") from None
    base = fudd_base(spec)
    if base.name == "fudd":
        raise StrategyError("FuDD's base must be another strategy (its top classes are what FuDD re-scores).")
    get_strategy(base.name).build(classes, base)
    match = match_pairs(classes, options.pairs)
    if not match.differences:
        raise DescriptionsError(
            "None of the FuDD pairs with descriptions names two classes of your class list"
            + (f" (unknown: {', '.join(match.unknown[:5])})." if match.unknown else ".")
        )
    notes = [(f"{len(match.unknown)} class names in the FuDD pairs match no class and their pairs were ignored: "
              f"{', '.join(match.unknown[:10])}")] if match.unknown else []
    return PromptPlan([match.texts_for(i) for i in range(len(classes))], "fudd", notes=notes)


STRATEGIES: dict[str, Strategy] = {
    s.key: s
    for s in (
        Strategy("classname", "Class name", "The bare class name as the prompt.", "mean_embedding", _build_classname),
        Strategy("template", "Template", "Your templates with {} for the class name; several are averaged.",
                 "mean_embedding", _build_template),
        Strategy("ensemble80", "80-template ensemble", "CLIP's 80 ImageNet templates, embeddings averaged.",
                 "mean_embedding", _build_ensemble80),
        Strategy("ensemble7", "7-template ensemble", "The 7-template subset from the CLIP notebook.",
                 "mean_embedding", _build_ensemble7),
        Strategy("cupl", "CuPL", "LLM-written sentences per class (Pratt et al. 2023), embeddings averaged.",
                 "mean_embedding", _build_cupl),
        Strategy("dclip", "DCLIP", "LLM descriptor phrases (Menon & Vondrick 2023); score = mean of per-descriptor "
                 "similarities.", "mean_score", _build_dclip),
        Strategy("waffle", "WaffleCLIP", "Random-word and random-character descriptors (Roth et al. 2023); score = "
                 "mean of per-prompt similarities.", "mean_score", _build_waffle),
        Strategy("zpe", "ZPE", "Templates weighted by their confidence on your unlabelled images (Allingham et al. "
                 "2023); score = weighted mean of per-template similarities.", "zpe", _weighted("zpe")),
        Strategy("autoclip", "AutoCLIP", "Template weights per image from one gradient step (Metzen et al. 2024); "
                 "score = weighted mean of per-template similarities.", "autoclip", _weighted("autoclip")),
        Strategy("selected", "Selected templates", "The templates a cross-validated greedy selection chose on "
                 "your labelled images, embeddings averaged.", "mean_embedding", _build_selected),
        Strategy("fudd", "FuDD", "Each image re-scored among its base strategy's top classes with LLM descriptions "
                 "of how each look-alike pair differs (Esfandiarpoor & Bach 2024).", "fudd", _build_fudd),
    )
}


def list_strategies() -> list[str]:
    """Registered strategy names, in display order."""
    return list(STRATEGIES)


def get_strategy(name: str) -> Strategy:
    """The registry entry for ``name``; a StrategyError lists the valid names otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise StrategyError(f"Unknown strategy '{name}'. Choose from: {', '.join(STRATEGIES)}.") from None


def build_prompts(spec: StrategySpec, classes: list[ClassName]) -> PromptPlan:
    """Prompts per class for ``spec`` over ``classes``."""
    return get_strategy(spec.name).build(classes, spec)


def default_label(spec: StrategySpec) -> str:
    """The label shown for a strategy: the user's, else the registry title."""
    return spec.label or get_strategy(spec.name).title
