"""Preset class lists with the zero-shot templates CLIP used for each dataset.

The data lives in ``prompting/strategies/class_sets.json``. Class names and templates are those of
CLIP's ``data/prompts.md`` (CLIP_benchmark's ``en_classnames.json`` and
``en_zeroshot_classification_templates.json`` hold the same), with these deliberate changes:

* ImageNet-1k uses OpenAI's cleaned names, which name two pairs of classes identically.
  Class lists must be unique, so index 744 is ``projectile | missile`` and index 836 is
  ``sunglass | sunglasses``: a distinct display name (WordNet's first lemma) while the prompt
  name stays OpenAI's (see ``prompting.classes`` for the ``display | prompt`` form).
* EuroSAT lists its classes in the order of the dataset's folders (AnnualCrop, Forest, ...),
  as CLIP_benchmark and torchvision do, not in the order printed in prompts.md.
* Oxford-IIIT Pets follows CLIP_benchmark (title case, the dataset's label order) rather than
  prompts.md (cats first, lower-case dogs); the tokenizers lower-case, so prompts are unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from prompting.classes import ClassName, as_class_names
from prompting.errors import StrategyError

DATA_FILE = "class_sets.json"


@dataclass(frozen=True)
class ClassSet:
    """A preset: its key, a title for people, class lines and per-dataset templates."""

    key: str
    title: str
    classes: tuple[str, ...]
    templates: tuple[str, ...]

    def class_names(self) -> list[ClassName]:
        """The classes as ``ClassName`` objects (lines may use the ``display | prompt`` form)."""
        return as_class_names(self.classes)


def _load_class_sets() -> dict[str, ClassSet]:
    """Read the packaged presets (done once, at import)."""
    text = resources.files("prompting.strategies").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return {
        key: ClassSet(
            key=key,
            title=entry["title"],
            classes=tuple(entry["classes"]),
            templates=tuple(entry["templates"]),
        )
        for key, entry in json.loads(text).items()
    }


CLASS_SETS: dict[str, ClassSet] = _load_class_sets()


def list_class_sets() -> list[str]:
    """Keys of the presets, in the order they are offered."""
    return list(CLASS_SETS)


def get_class_set(key: str) -> ClassSet:
    """The preset named ``key``; StrategyError listing the valid keys when it is unknown."""
    try:
        return CLASS_SETS[key.strip()]
    except KeyError:
        valid = ", ".join(CLASS_SETS)
        raise StrategyError(f"Unknown class set '{key}'. Choose one of: {valid}.") from None
