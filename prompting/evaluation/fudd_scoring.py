"""Score FuDD on encoded images: the base strategy's top-k sets, the captions of their pairs
(embedded through the text cache), FuDD's cosines and full logits, and why decisions changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from prompting.classes import ClassName, spoken_name
from prompting.encoding.embeddings import EncodeStats, Progress, TextEmbeddingStore
from prompting.encoding.models import DualEncoder
from prompting.errors import PromptingError
from prompting.evaluation.results import StrategyResult
from prompting.evaluation.scoring import PromptScores, labelled_metrics, score_plan
from prompting.strategies.fudd import (
    FALLBACK_TEMPLATE,
    FuddDetails,
    TextTable,
    ambiguous_pairs,
    ambiguous_sets,
    combine_logits,
    explain_changes,
    fudd_scores,
    text_table,
)
from prompting.strategies.fudd_pairs import match_pairs
from prompting.strategies.registry import (
    StrategySpec,
    build_prompts,
    default_label,
    fudd_base,
)
from prompting.vectors import normalise_rows

Scored = Sequence[tuple[StrategySpec, StrategyResult]]
MISSING_SHOWN = 5
BASE_COMPUTED = "{base} (FuDD's base) was scored for FuDD only; add it to the comparison to see it beside FuDD."


def same_strategy(a: StrategySpec, b: StrategySpec, classes: list[ClassName]) -> bool:
    """True when two specs score the same prompts the same way for ``classes`` (labels aside)."""
    if a.name != b.name:
        return False
    if replace(a, label=None) == replace(b, label=None):
        return True
    try:
        first, second = build_prompts(a, classes), build_prompts(b, classes)
    except PromptingError:
        return False
    return (first.prompts, first.aggregation, first.seed_groups) == (second.prompts, second.aggregation,
                                                                      second.seed_groups)


def base_result(
    encoder: DualEncoder,
    store: TextEmbeddingStore,
    image_vectors: np.ndarray,
    classes: list[ClassName],
    spec: StrategySpec,
    labels: np.ndarray | None,
    stats: EncodeStats,
    scored: Scored = (),
) -> tuple[StrategyResult, bool]:
    """FuDD's base result: one already scored in this comparison, else scored now (True)."""
    base = fudd_base(spec)
    for earlier_spec, result in scored:
        if same_strategy(earlier_spec, base, classes):
            return result, False
    label = default_label(base)
    return score_plan(encoder, store, image_vectors, build_prompts(base, classes), base.name, label, labels,
                      stats), True


def score_fudd(
    encoder: DualEncoder,
    store: TextEmbeddingStore,
    image_vectors: np.ndarray,
    classes: list[ClassName],
    spec: StrategySpec,
    name: str,
    label: str,
    labels: np.ndarray | None,
    stats: EncodeStats,
    scored: Scored = (),
    progress: Progress | None = None,
) -> StrategyResult:
    """FuDD on the images (see ``strategies/fudd.py`` for the method and its logits)."""
    plan = build_prompts(spec, classes)  # checks the options
    options = spec.fudd
    assert options is not None
    base, computed = base_result(encoder, store, image_vectors, classes, spec, labels, stats, scored)
    sets = ambiguous_sets(base.logits, options.k)
    pairs = ambiguous_pairs(sets, len(classes))
    needed = {(p.first, p.second) for p in pairs}
    match = match_pairs(classes, options.pairs)
    table = text_table(match.differences, needed, [spoken_name(c.prompt) for c in classes])
    text_vectors = store.embed(table.texts, stats=stats, progress=progress) if table.texts else None
    set_cosines = fudd_scores(image_vectors, sets, table, text_vectors) if text_vectors is not None else (
        np.take_along_axis(base.similarities, sets, axis=1))
    logits = combine_logits(base.logits, sets, encoder.logits(set_cosines))
    similarities = np.array(base.similarities, dtype=np.float64)
    np.put_along_axis(similarities, sets, set_cosines, axis=1)
    prompts, per_prompt, class_vectors = _class_views(image_vectors, base, table, text_vectors)
    missing = sorted(needed - set(match.differences))
    result = StrategyResult(
        name=name, label=label, similarities=similarities, logits=logits,
        probabilities=encoder.probabilities(logits), probability_kind=encoder.probability_kind, prompts=prompts,
        prompt_similarities=per_prompt, class_text_vectors=class_vectors,
        metrics=labelled_metrics(logits, labels, encoder.probability_kind),
    )
    before, after = base.predictions(1)[:, 0], result.predictions(1)[:, 0]
    changes = explain_changes(image_vectors, sets, set_cosines, before, after, table, text_vectors) if (
        text_vectors is not None) else []
    result.fudd = FuddDetails(
        base_label=base.label, k=sets.shape[1], sets=sets, set_cosines=set_cosines, pairs=pairs,
        missing_pairs=missing, images_missing=_images_touching(sets, set(missing)), changes=changes,
        base_computed=computed,
    )
    result.notes = plan.notes + fudd_notes(result.fudd, classes, len(needed))
    return result


def _class_views(
    image_vectors: np.ndarray, base: StrategyResult, table: TextTable, text_vectors: np.ndarray | None
) -> tuple[list[list[str]], PromptScores, np.ndarray | None]:
    """Per class: the captions FuDD used for it (their cosines with the images computed on demand,
    as for every strategy) and its mean caption vector; a class FuDD never described keeps the
    base's prompts and vector."""
    base_vectors = base.prompt_similarities.prompt_vectors if isinstance(base.prompt_similarities, PromptScores) \
        else None
    class_vectors = None if base.class_text_vectors is None else np.array(base.class_text_vectors, dtype=np.float64)
    used: dict[int, dict[int, None]] = {}
    for (c, _), side in table.sides.items():
        used.setdefault(c, {}).update(dict.fromkeys(own for _, own, _ in side))
    for c, row in table.fallback.items():
        used.setdefault(c, {})[row] = None
    prompts, vectors = [], []
    for c in range(len(base.prompts)):
        rows = list(used.get(c, {}))
        if not rows or text_vectors is None:
            prompts.append(list(base.prompts[c]))
            vectors.append(base_vectors[c] if base_vectors is not None else np.zeros((0, image_vectors.shape[1])))
            continue
        prompts.append([table.texts[r] for r in rows])
        vectors.append(text_vectors[rows])
        if class_vectors is not None:
            class_vectors[c] = normalise_rows(text_vectors[rows].mean(axis=0, keepdims=True))[0]
    return prompts, PromptScores(image_vectors, vectors), class_vectors


def _images_touching(sets: np.ndarray, pairs: set[tuple[int, int]]) -> int:
    """How many images' sets hold both classes of some pair in ``pairs``."""
    if not pairs:
        return 0
    return sum(1 for members in sets.tolist()
               if any((min(a, b), max(a, b)) in pairs for i, a in enumerate(members) for b in members[i + 1:]))


def fudd_notes(details: FuddDetails, classes: list[ClassName], needed: int) -> list[str]:
    """Plain sentences on what FuDD did: the set, the base, the missing pairs."""
    base = details.base_label
    notes = [(
        f"FuDD re-scores each image among the {details.k} classes {base} ranks highest, using the differential "
        f"descriptions of every pair in that set; classes outside it keep {base}'s scores, and the set keeps its "
        f"share of the probability. It changed the top class of {_images(len(details.changes))}."
    )]
    if details.base_computed:
        notes.append(BASE_COMPUTED.format(base=base))
    if details.missing_pairs:
        names = [c.display for c in classes]
        shown = ", ".join(f"{names[i]} / {names[j]}" for i, j in details.missing_pairs[:MISSING_SHOWN])
        more = f" and {len(details.missing_pairs) - MISSING_SHOWN} more" if len(details.missing_pairs) > MISSING_SHOWN \
            else ""
        notes.append(
            f"{len(details.missing_pairs)} of {needed} look-alike pairs have no differential descriptions ({shown}{more}); "
            f"in the {_images(details.images_missing)} they touch, those classes are described by "
            f"“{FALLBACK_TEMPLATE.format('{class}')}” instead, as in the authors' code."
        )
    return notes


def mark_base_shown(result: StrategyResult) -> None:
    """Say that FuDD's base is among the shown results after all (FuDD added to an existing run)."""
    if result.fudd is not None and result.fudd.base_computed:
        result.fudd.base_computed = False
        result.notes = [n for n in result.notes if n != BASE_COMPUTED.format(base=result.fudd.base_label)]


def _images(count: int) -> str:
    return f"{count} image" + ("" if count == 1 else "s")
