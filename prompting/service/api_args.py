"""Arguments of the API endpoints, checked one by one with messages a script writer can act on.

Scripts send any JSON they like: labels as numbers or an object, seeds past 2**63, a class
list as a list, typos in option names. Each argument is checked for type and range here
before any work starts; a bad one is an ``ArgumentError`` naming the argument, what was sent
and what is expected.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from prompting.errors import PromptingError
from prompting.service.config import RunLimits
from prompting.service.workflows import StrategyInputs
from prompting.strategies.autoclip import DEFAULT_BETA
from prompting.strategies.fudd import DEFAULT_K, MAX_K, MIN_K
from prompting.strategies.registry import list_strategies

# Seeds must fit the JSON the API sends back (a signed 64-bit integer).
MAX_SEED = 2**63 - 1
OPTION_KEYS = ("templates", "cupl", "dclip", "waffle", "weighting", "selected", "fudd")
WAFFLE_KEYS = ("seeds", "n_words", "n_chars", "concept")
WEIGHTING_KEYS = ("pool", "beta", "objective")
FUDD_KEYS = ("pairs", "base", "k")
FUDD_EXAMPLE = '{"pairs": {...}, "base": "template", "k": 10}'
OPTIONS_EXAMPLE = '{"templates": ["a photo of a {}."], "waffle": {"seeds": [0, 1], "n_words": 15}}'


class ArgumentError(PromptingError):
    """An API argument has the wrong type or is out of range."""


def shown(value: Any, limit: int = 60) -> str:
    """A short rendering of a sent value for messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "an object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def whole_number(value: Any, name: str, minimum: int, maximum: int) -> int:
    """``value`` as an int in [minimum, maximum]; a float is accepted when it is whole."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not (math.isfinite(value) and value.is_integer())):
        raise ArgumentError(f"{name} must be a whole number from {minimum} to {maximum}, not {shown(value)}.")
    number = int(value)
    if not minimum <= number <= maximum:
        raise ArgumentError(f"{name} must be a whole number from {minimum} to {maximum}, not {shown(number)}.")
    return number


def class_list_text(value: Any) -> str:
    """The class list as text: one name per line, or a list of names (joined with newlines)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        bad = next((item for item in value if "\n" in item), None)
        if bad is not None:
            raise ArgumentError(f"classes: each name in the list must be one line, not {shown(bad)}.")
        return "\n".join(value)
    raise ArgumentError(
        f"classes must be text with one class per line (or a list of class names), not {_kind(value)} "
        f"({shown(value)})."
    )


def name_list(value: Any, name: str, allowed: Sequence[str], default: Sequence[str]) -> list[str]:
    """A list of names from ``allowed`` (one name alone is taken as a list of one); ``default``
    when nothing is sent."""
    if value is None or value == []:
        return list(default)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ArgumentError(f"{name} must be a list of names such as {shown(list(default))}, not {shown(value)}.")
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise ArgumentError(f"{name}: unknown {shown(unknown[0])}; choose from {', '.join(allowed)}.")
    return items


def labels_list(value: Any, n_images: int) -> list[str | None] | None:
    """True classes aligned with the images: a list of class names or nulls (None if not sent)."""
    if value is None or value == []:
        return None
    expected = f"a list with one class name (or null) per image ({n_images} images)"
    if not isinstance(value, list):
        raise ArgumentError(f"Send labels as {expected}, not {_kind(value)} ({shown(value)}).")
    if len(value) != n_images:
        raise ArgumentError(f"Send labels as {expected}; got {len(value)} labels.")
    for index, label in enumerate(value):
        if label is not None and not isinstance(label, str):
            raise ArgumentError(f"labels[{index}] must be a class name (text) or null, not {shown(label)}; "
                                f"send labels as {expected}.")
    return value


def optional_name(value: Any, name: str) -> str | None:
    """A name (text) or nothing."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ArgumentError(f"{name} must be a name (text), not {shown(value)}.")
    return value


def strategy_inputs_from_options(options: Any, limits: RunLimits | None = None) -> StrategyInputs:
    """StrategyInputs from the API's ``options`` object::

        {"templates": ["a photo of a {}."], "cupl": {"cat": ["..."]}, "dclip": {"cat": ["..."]},
         "waffle": {"seeds": [0, 1, 2], "n_words": 15, "n_chars": 15, "concept": "animal"},
         "weighting": {"pool": "imagenet80", "beta": 0.85, "objective": "cosine"},
         "selected": ["itap of a {}.", ...] or the JSON /select_templates returned,
         "fudd": {"pairs": <pair descriptions JSON>, "base": "template", "k": 10}}

    Every key and value is checked (unknown keys too, so a typo is not silently ignored); more
    WaffleCLIP seeds or descriptors than ``limits`` allow are refused before anything is built.
    """
    limits = limits or RunLimits()
    options = options or {}
    if not isinstance(options, dict):
        raise ArgumentError(f"options must be a JSON object such as {OPTIONS_EXAMPLE}, not {shown(options)}.")
    _known_keys(options, OPTION_KEYS, "options")
    waffle = options.get("waffle") or {}
    if not isinstance(waffle, dict):
        raise ArgumentError(f"options.waffle must be a JSON object such as {{\"seeds\": [0, 1], \"n_words\": 15}}, "
                            f"not {shown(waffle)}.")
    _known_keys(waffle, WAFFLE_KEYS, "options.waffle")
    seeds = waffle.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds:
        raise ArgumentError(
            f"options.waffle.seeds must be a list of whole numbers, e.g. [0, 1, 2], not {shown(seeds)}.")
    if len(seeds) > limits.max_waffle_seeds:
        raise ArgumentError(
            f"Too many WaffleCLIP seeds: {len(seeds)}. This server runs at most {limits.max_waffle_seeds}.")
    checked_seeds = tuple(whole_number(seed, f"options.waffle.seeds[{i}]", 0, MAX_SEED) for i, seed in enumerate(seeds))
    counts = {key: whole_number(waffle.get(key, 15), f"options.waffle.{key}", 0, limits.max_waffle_count)
              for key in ("n_words", "n_chars")}
    concept = waffle.get("concept") or ""
    if not isinstance(concept, str):
        raise ArgumentError(f"options.waffle.concept must be text, e.g. \"bird\", not {shown(concept)}.")
    weighting = options.get("weighting") or {}
    if not isinstance(weighting, dict):
        raise ArgumentError(f"options.weighting must be a JSON object such as {{\"pool\": \"imagenet80\"}}, "
                            f"not {shown(weighting)}.")
    _known_keys(weighting, WEIGHTING_KEYS, "options.weighting")
    beta = weighting.get("beta", DEFAULT_BETA)
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta <= 1:
        raise ArgumentError(f"options.weighting.beta must be a number between 0 and 1, e.g. 0.85, not {shown(beta)}.")
    pool, objective = (_text(weighting.get(key, default), f"options.weighting.{key}")
                       for key, default in (("pool", "imagenet80"), ("objective", "cosine")))
    return StrategyInputs(
        templates_text=_templates_text(options.get("templates")),
        cupl_json=_descriptions_text(options.get("cupl"), "cupl"),
        dclip_json=_descriptions_text(options.get("dclip"), "dclip"),
        waffle_seeds=checked_seeds,
        waffle_words=counts["n_words"],
        waffle_chars=counts["n_chars"],
        waffle_concept=concept,
        weighting_pool=pool,
        autoclip_beta=float(beta),
        autoclip_objective=objective,
        selected_json=_selected_text(options.get("selected")),
        **_fudd_inputs(options.get("fudd")),
    )


def _fudd_inputs(value: Any) -> dict[str, Any]:
    """FuDD's pair descriptions (our JSON or the authors', as an object, a list or its text; checked
    when the strategy is built), base strategy name and k."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ArgumentError(f"options.fudd must be a JSON object such as {FUDD_EXAMPLE}, not {shown(value)}.")
    _known_keys(value, FUDD_KEYS, "options.fudd")
    pairs = value.get("pairs")
    if pairs is not None and not isinstance(pairs, (str, dict, list)):
        raise ArgumentError(f"options.fudd.pairs must be the pair descriptions' JSON, not {shown(pairs)}.")
    base = value.get("base") or ""
    bases = [name for name in list_strategies() if name != "fudd"]
    if base and base not in bases:
        raise ArgumentError(f"options.fudd.base must be one of {', '.join(bases)}, not {shown(base)}.")
    return {
        "fudd_json": pairs if isinstance(pairs, str) else json.dumps(pairs) if pairs is not None else "",
        "fudd_base": base,
        "fudd_k": whole_number(value.get("k", DEFAULT_K), "options.fudd.k", MIN_K, MAX_K),
    }


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ArgumentError(f"{name} must be text, not {shown(value)}.")
    return value


def _selected_text(value: Any) -> str:
    """The selected templates as a list of templates or /select_templates' JSON (object or text)."""
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return json.dumps({"selected": value})
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    raise ArgumentError(f"options.selected must be a list of templates or the JSON /select_templates returned, "
                        f"not {shown(value)}.")


def _known_keys(value: dict[str, Any], known: Sequence[str], name: str) -> None:
    unknown = [key for key in value if key not in known]
    if unknown:
        raise ArgumentError(f"{name} has no setting {shown(unknown[0])}; the settings are: {', '.join(known)}.")


def _templates_text(value: Any) -> str:
    """Templates as a list of strings or as text, one per line."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "\n".join(value)
    raise ArgumentError(f"options.templates must be a list of templates such as [\"a photo of a {{}}.\"], "
                        f"not {shown(value)}.")


def _descriptions_text(value: Any, name: str) -> str:
    """Descriptions as a JSON object {class: [text, ...]} or as its JSON text (checked when the
    strategy is built, which names the class and item that are wrong)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value)
    raise ArgumentError(f"options.{name} must be an object such as {{\"cat\": [\"a small pet\"]}}, not {shown(value)}.")
