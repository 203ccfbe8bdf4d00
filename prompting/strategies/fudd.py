"""FuDD (Esfandiarpoor & Bach, ICLR 2024): re-score each image among its ambiguous classes with
differential descriptions. Arrays in, arrays out; no model calls.

As the authors' code (BatsResearch/fudd, ``fudd_model.py`` / ``prompt_factory.py``) does:

* The ambiguous set S of an image is the top-k classes of a base strategy (their base: the single
  template "a photo of a {}."; k = 10 by default).
* Class c in S is described by the union (exact strings, no repeats) of its captions from the
  pairs {c, c'} with every other c' in S; its vector is the normalised mean of those captions'
  normalised embeddings, and its score the cosine with the image. The prediction is the argmax
  over S, so the class text depends on the whole set, not on the class alone.
* A pair without descriptions gives each of its classes "a photo of a {name}." instead (the
  reference does so silently; here every such pair is counted and reported).

Beyond the reference (which returns scores for S only): every class keeps a logit, so FuDD is
a full result beside the others. Outside S the base logits stay as they are. Inside S, the
share of the softmax mass that the base logits give S is redistributed by FuDD's own softmax
(the model's scale times FuDD's cosines):
``logit_c = logsumexp_{S}(base logits) + log_softmax_{S}(scale * cos_c)``. So the softmax over
all classes keeps the outside probabilities, S keeps its total, and the top class is always
FuDD's argmax over S (it gets at least 1/k of S's mass, which is at least any outside class's
probability). With k = the number of classes this is exactly FuDD's softmax. For SigLIP the same
logits go through its per-class sigmoid; since sigmoid(l) is close to exp(l) for its usual
negative logits, S's sigmoid scores keep nearly their sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from prompting.strategies.fudd_pairs import PairDescriptions
from prompting.vectors import normalise_rows

if TYPE_CHECKING:
    from prompting.strategies.registry import StrategySpec

DEFAULT_K = 10
MIN_K = 2
MAX_K = 10
FALLBACK_TEMPLATE = "a photo of a {}."

# (attribute, caption of the lower-numbered class, caption of the other), per pair (i, j), i < j.
PairTexts = Mapping[tuple[int, int], Sequence[tuple[str, str, str]]]


@dataclass
class FuddOptions:
    """What FuDD needs: the pair descriptions, the base strategy (None: the paper's single
    template "a photo of a {}.") and the size k of each image's ambiguous set."""

    pairs: list[PairDescriptions]
    base: StrategySpec | None = None
    k: int = DEFAULT_K


@dataclass(frozen=True)
class AmbiguousPair:
    """Two classes (i < j) that share the ambiguous set of ``images`` images."""

    first: int
    second: int
    images: int


@dataclass(frozen=True)
class Evidence:
    """One difference between the new and the old top class, with the image's cosine to each caption."""

    attribute: str
    after_text: str
    after_cosine: float
    before_text: str
    before_cosine: float

    @property
    def pull(self) -> float:
        """How much this difference favours the new class (cosine difference)."""
        return self.after_cosine - self.before_cosine


@dataclass
class FuddChange:
    """An image whose top class FuDD changed: the base's and FuDD's choice, FuDD's cosine for
    each, and the differences between the two classes, the most favourable to the new one first
    (empty when the pair has no descriptions)."""

    image: int
    before: int
    after: int
    before_cosine: float
    after_cosine: float
    evidence: list[Evidence]


@dataclass
class FuddDetails:
    """What FuDD did on a run: per image its ambiguous set (N x k, base order) and FuDD's cosine
    for each member; the pairs those sets induce (most images first); the pairs that had no
    descriptions and how many images they touched; the images whose top class changed."""

    base_label: str
    k: int
    sets: np.ndarray
    set_cosines: np.ndarray
    pairs: list[AmbiguousPair]
    missing_pairs: list[tuple[int, int]]
    images_missing: int
    changes: list[FuddChange] = field(default_factory=list)
    base_computed: bool = False


def check_k(k: int) -> int:
    """``k`` as an int between MIN_K and MAX_K; ValueError otherwise."""
    if isinstance(k, bool) or int(k) != k or not MIN_K <= int(k) <= MAX_K:
        raise ValueError(f"k must be a whole number from {MIN_K} to {MAX_K}, not {k!r}.")
    return int(k)


def ambiguous_sets(scores: np.ndarray, k: int) -> np.ndarray:
    """The top-``k`` classes per image by ``scores`` (N x C), best first; k is capped by C."""
    scores = np.asarray(scores, dtype=np.float64)
    k = min(int(k), scores.shape[1])
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def ambiguous_pairs(sets: np.ndarray, n_classes: int) -> list[AmbiguousPair]:
    """Every pair inside some image's set, ranked by how many images' sets hold both (then by
    class order)."""
    if sets.shape[1] < 2:
        return []
    rows, cols = np.triu_indices(sets.shape[1], k=1)
    a, b = sets[:, rows].ravel(), sets[:, cols].ravel()
    codes = np.minimum(a, b) * n_classes + np.maximum(a, b)
    unique, counts = np.unique(codes, return_counts=True)
    order = np.lexsort((unique, -counts))
    return [AmbiguousPair(int(unique[i] // n_classes), int(unique[i] % n_classes), int(counts[i])) for i in order]


@dataclass
class TextTable:
    """The captions FuDD embeds, each once: ``texts[row]``; per ordered pair (c, other) the rows
    of c's captions against ``other``, with the attribute and the row of the matching caption."""

    texts: list[str]
    sides: dict[tuple[int, int], list[tuple[str, int, int]]]
    fallback: dict[int, int]


def text_table(pair_texts: PairTexts, pairs: set[tuple[int, int]], names: Sequence[str]) -> TextTable:
    """The captions of ``pairs`` (and the fallback caption of each class in a pair without
    descriptions), indexed for ``fudd_scores``."""
    rows: dict[str, int] = {}

    def row(text: str) -> int:
        return rows.setdefault(text, len(rows))

    sides: dict[tuple[int, int], list[tuple[str, int, int]]] = {}
    fallback: dict[int, int] = {}
    for i, j in sorted(pairs):
        items = pair_texts.get((i, j)) or ()
        if not items:
            for c in (i, j):
                fallback.setdefault(c, row(FALLBACK_TEMPLATE.format(names[c])))
            continue
        sides[(i, j)] = [(attribute, row(a), row(b)) for attribute, a, b in items]
        sides[(j, i)] = [(attribute, row(b), row(a)) for attribute, a, b in items]
    return TextTable(list(rows), sides, fallback)


def _pool(c: int, members: Sequence[int], table: TextTable) -> list[int]:
    """Rows describing class ``c`` within ``members``: union over its pairs, each text once."""
    pool: dict[int, None] = {}
    for other in members:
        if other == c:
            continue
        side = table.sides.get((c, other))
        if side is None:
            pool[table.fallback[c]] = None
        else:
            pool.update(dict.fromkeys(own for _, own, _ in side))
    return list(pool)


def fudd_scores(image_vectors: np.ndarray, sets: np.ndarray, table: TextTable, text_vectors: np.ndarray) -> np.ndarray:
    """FuDD's cosine of each image with each member of its set (N x k, aligned with ``sets``).

    Class vectors are computed once per distinct set (images sharing a set share them).
    """
    text_vectors = normalise_rows(np.asarray(text_vectors, dtype=np.float64))
    images = np.asarray(image_vectors, dtype=np.float64)
    scores = np.empty(sets.shape, dtype=np.float64)
    by_set: dict[frozenset[int], dict[int, np.ndarray]] = {}
    for n, members in enumerate(sets.tolist()):
        key = frozenset(members)
        vectors = by_set.get(key)
        if vectors is None:
            ordered = sorted(key)
            means = np.stack([text_vectors[_pool(c, ordered, table)].mean(axis=0) for c in ordered])
            vectors = by_set[key] = dict(zip(ordered, normalise_rows(means)))
        scores[n] = [images[n] @ vectors[c] for c in members]
    return scores


def combine_logits(base_logits: np.ndarray, sets: np.ndarray, fudd_logits: np.ndarray) -> np.ndarray:
    """Full N x C logits: the base's outside each set; inside, the set's base softmax mass
    redistributed by the softmax of ``fudd_logits`` (N x k, aligned with ``sets``)."""
    base = np.asarray(base_logits, dtype=np.float64)
    inside = np.take_along_axis(base, sets, axis=1)
    mass = _logsumexp(inside)
    shares = fudd_logits - _logsumexp(fudd_logits)
    combined = base.copy()
    np.put_along_axis(combined, sets, mass + shares, axis=1)
    return combined


def _logsumexp(values: np.ndarray) -> np.ndarray:
    top = values.max(axis=1, keepdims=True)
    return top + np.log(np.exp(values - top).sum(axis=1, keepdims=True))


def explain_changes(
    image_vectors: np.ndarray,
    sets: np.ndarray,
    set_cosines: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    table: TextTable,
    text_vectors: np.ndarray,
) -> list[FuddChange]:
    """For each image whose top class changed from ``before`` to ``after``: the differences
    between the two classes with the image's cosine to each caption, most favourable first."""
    text_vectors = normalise_rows(np.asarray(text_vectors, dtype=np.float64))
    changes = []
    for n in np.flatnonzero(np.asarray(before) != np.asarray(after)).tolist():
        old, new = int(before[n]), int(after[n])
        members = sets[n].tolist()
        cosine = dict(zip(members, set_cosines[n].tolist()))
        evidence = []
        for attribute, own, other in table.sides.get((new, old), []):
            own_cos, other_cos = (float(image_vectors[n] @ text_vectors[r]) for r in (own, other))
            evidence.append(Evidence(attribute, table.texts[own], own_cos, table.texts[other], other_cos))
        evidence.sort(key=lambda item: -item.pull)
        changes.append(FuddChange(n, old, new, cosine.get(old, float("nan")), cosine[new], evidence))
    return changes
