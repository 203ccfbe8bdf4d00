"""FuDD in the page: look-alike pairs of a run, pair descriptions within the server's limits,
FuDD added beside a run's results, and its A/B against the base strategy."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from prompting.encoding.models import load_model
from prompting.errors import DescriptionsError, StrategyError
from prompting.evaluation.compare import ProgressFn
from prompting.evaluation.export import fudd_why_text
from prompting.evaluation.fudd_scoring import mark_base_shown, same_strategy
from prompting.llm.config import LLMConfig
from prompting.llm.generate import Controls, PairReport, ProgressCallback, generate_fudd
from prompting.service.config import RunLimits
from prompting.service.rewrite_ab import ABTable, ab_table
from prompting.service.session_store import RunRecord
from prompting.service.workflows import Loader, extend_run, fudd_over, read_pairs
from prompting.strategies.fudd import (
    DEFAULT_K,
    AmbiguousPair,
    FuddChange,
    ambiguous_pairs,
    ambiguous_sets,
)
from prompting.strategies.fudd_pairs import (
    PairDescriptions,
    load_pairs,
    match_pairs,
    merge_pairs,
    pairs_to_json,
)
from prompting.strategies.registry import StrategySpec, build_prompts, fudd_base
from prompting.strategies.templates import DEFAULT_TEMPLATE


def base_keys(record: RunRecord) -> list[str]:
    """The run's results FuDD can build on (every one but FuDD's own)."""
    return [key for key, source in record.sources.items()
            if source.spec.name != "fudd" and key in record.comparison.strategies]


def default_base(record: RunRecord) -> str | None:
    """The paper's base when the run has it (the template "a photo of a {}."), else the run's first result."""
    keys = base_keys(record)
    paper = [key for key in keys if record.sources[key].spec.name == "template"
             and (record.sources[key].spec.templates or [DEFAULT_TEMPLATE]) == [DEFAULT_TEMPLATE]]
    return (paper or keys or [None])[0]


def latest_fudd(record: RunRecord) -> tuple[str, str] | None:
    """(FuDD key, its base's key) of the run's most recently added FuDD result whose base is
    among the run's results for the same model; None when there is none."""
    for key in reversed(list(record.comparison.strategies)):
        source = record.sources.get(key)
        if source is None or source.spec.name != "fudd" or source.spec.fudd is None:
            continue
        base = fudd_base(source.spec)
        for candidate in base_keys(record):
            other = record.sources[candidate]
            if other.model == source.model and same_strategy(other.spec, base, record.comparison.classes):
                return key, candidate
    return None


def clamp_k(k: float | None, n_classes: int) -> int:
    """A usable k for the run: the paper's 10 by default, within 2..10, at most the class count."""
    value = DEFAULT_K if k is None else int(k)
    return max(2, min(value, DEFAULT_K, max(n_classes, 2)))


def look_alike_pairs(record: RunRecord, base_key: str, k: int) -> list[AmbiguousPair]:
    """The pairs inside the images' top-k sets under ``base_key``, most images first."""
    result = record.comparison.strategies[base_key]
    return ambiguous_pairs(ambiguous_sets(result.logits, k), len(record.comparison.classes))


def fudd_spec(record: RunRecord, base_key: str, text: str, k: int, limits: RunLimits | None = None) -> StrategySpec:
    """A FuDD spec over the run's ``base_key`` result with the page's descriptions."""
    if base_key not in base_keys(record):
        raise StrategyError("Choose one of this run's strategies as FuDD's base.")
    base = replace(record.sources[base_key].spec, label=None)
    return fudd_over(base, record.comparison.strategies[base_key].label, text, k, limits)


def add_fudd(
    record: RunRecord,
    base_key: str,
    text: str,
    k: int,
    limits: RunLimits | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    loader: Loader = load_model,
) -> tuple[RunRecord, str]:
    """Score FuDD on the run's images and add it beside the results; returns the new record and
    the key of FuDD's result for the base's model."""
    spec = fudd_spec(record, base_key, text, k, limits)
    build_prompts(spec, record.comparison.classes)  # its inputs' errors, before any model work
    extended, added = extend_run(record, [spec], progress, cancel, loader)
    model = record.sources[base_key].model
    key = next((key for key in added if extended.sources[key].model == model), None)
    if key is None:
        raise StrategyError("FuDD could not be scored for the base strategy's model.")
    for added_key in added:
        mark_base_shown(extended.comparison.strategies[added_key])  # the run shows the base already
    return extended, key


@dataclass
class FuddTrial:
    """FuDD against its base on the run's images: the A/B table (with a "Why" column for the
    images whose top class changed), the changes, and labels for the summary."""

    base_label: str
    fudd_label: str
    table: ABTable
    changes: list[FuddChange]
    missing_pairs: int
    images_missing: int

    def summary(self) -> str:
        """One plain sentence on what FuDD changed."""
        total = len(self.table.rows)
        text = (f"{self.fudd_label} changed the top prediction of {self.table.changed} of {total} "
                f"image{'s' if total != 1 else ''} compared with {self.base_label}")
        if self.table.correct_before is not None and self.table.correct_after is not None:
            text += f"; correct: {self.table.correct_before} → {self.table.correct_after} of {self.table.labelled} " \
                    "labelled images."
        else:
            text += ". Add true classes to see whether that is better."
        if self.missing_pairs:
            text += (f" {self.missing_pairs} look-alike pairs had no descriptions (they used “a photo of a "
                     f"{{class}}.” in {self.images_missing} images).")
        return text


def fudd_trial(record: RunRecord, base_key: str, fudd_key: str) -> FuddTrial:
    """The A/B of FuDD (``fudd_key``) against its base (``base_key``) on the run's images."""
    comparison = record.comparison
    base, fudd = comparison.strategies[base_key], comparison.strategies[fudd_key]
    names = [c.display for c in comparison.classes]
    table = ab_table(comparison.images, names, base, fudd)
    details = fudd.fudd
    changes = details.changes if details else []
    why = {change.image: fudd_why_text(change, names) for change in changes}
    table.headers = table.headers + ["Why (FuDD's descriptions, cosine with the image)"]
    table.rows = [row + [why.get(i, "")] for i, row in enumerate(table.rows)]
    return FuddTrial(base.label, fudd.label, table, changes, len(details.missing_pairs) if details else 0,
                     details.images_missing if details else 0)


def pair_changes(trial: FuddTrial, first: int, second: int, names: list[str]) -> list[str]:
    """The images whose top class moved between ``first`` and ``second``, as "image: A → B"."""
    return [f"{trial.table.rows[c.image][0]}: {names[c.before]} → {names[c.after]}"
            for c in trial.changes if {c.before, c.after} == {first, second}]


def described_pairs(record: RunRecord, text: str) -> set[tuple[int, int]]:
    """The pairs (i < j) of the run's classes the JSON text describes (empty when it cannot be read)."""
    try:
        pairs = load_pairs(text).pairs
    except DescriptionsError:
        return set()
    return {key for key, items in match_pairs(record.comparison.classes, pairs).differences.items() if items}


def generate_descriptions(
    record: RunRecord,
    pairs: list[tuple[int, int]],
    config: LLMConfig,
    text: str,
    limits: RunLimits,
    progress: ProgressCallback | None = None,
    controls: Controls | None = None,
) -> tuple[str, PairReport]:
    """Ask the language model about ``pairs`` (class indices; at most ``limits.max_fudd_generate``,
    by their prompt names; ``controls``: cancel and request budget) and merge the answers, under
    display names, into the JSON ``text``."""
    if not pairs:
        raise StrategyError("There are no look-alike pairs without descriptions to ask about.")
    if len(pairs) > limits.max_fudd_generate:
        raise StrategyError(f"This server asks about at most {limits.max_fudd_generate} pairs at a time.")
    existing = read_pairs(text, limits).pairs if text.strip() else []
    classes = record.comparison.classes
    asked = {(" ".join(classes[i].prompt.split()), " ".join(classes[j].prompt.split())): (i, j) for i, j in pairs}
    report = generate_fudd(list(asked), config, progress=progress, controls=controls)
    named = [PairDescriptions(classes[i].display, classes[j].display, pair.differences)
             for pair in report.pairs for i, j in [asked[(pair.first, pair.second)]]]
    return pairs_to_json(merge_pairs(existing, named)), report
