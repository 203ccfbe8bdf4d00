"""Find class names the model can hardly tell apart and suggest clearer prompt names.

Confusable pairs come from the cosine between class text vectors under a strategy; a
suggested rewrite adds the super-category that best fits the class and the list around it
while telling it apart from the class it is confused with ("crane" among herons and storks ->
"crane, a type of bird"), scored by the model's own text encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from prompting.classes import ClassName, spoken_name
from prompting.encoding.embeddings import text_store
from prompting.encoding.models import DualEncoder
from prompting.vectors import normalise_rows

CATEGORIES: tuple[str, ...] = (
    "bird", "mammal", "dog breed", "cat breed", "fish", "insect", "reptile", "amphibian", "animal",
    "flower", "tree", "plant", "mushroom", "fruit", "vegetable", "dish", "food", "drink",
    "car", "aircraft", "boat", "vehicle", "machine", "tool", "weapon", "musical instrument",
    "electronic device", "piece of furniture", "piece of clothing", "building", "landmark", "landscape",
    "texture", "sport", "toy", "body part", "person", "satellite image", "logo", "kitchen utensil",
)
CATEGORY_TEMPLATE = "a photo of a {}."


@dataclass(frozen=True)
class ConfusablePair:
    """Two classes whose text vectors are close: ``similarity`` is their cosine."""

    first: int
    second: int
    similarity: float


def class_similarity_matrix(class_vectors: np.ndarray) -> np.ndarray:
    """C x C cosine between (already normalised) class text vectors."""
    return np.clip(class_vectors @ class_vectors.T, -1.0, 1.0)


def confusable_pairs(class_vectors: np.ndarray, top: int = 5) -> list[ConfusablePair]:
    """The ``top`` most similar distinct class pairs, most similar first."""
    matrix = class_similarity_matrix(class_vectors)
    rows, cols = np.triu_indices(len(matrix), k=1)
    order = np.argsort(-matrix[rows, cols], kind="stable")[:top]
    return [ConfusablePair(int(rows[i]), int(cols[i]), float(matrix[rows[i], cols[i]])) for i in order]


def top2_margins(probabilities: np.ndarray) -> np.ndarray:
    """Per image, top-1 minus top-2 score: small margins mark images the classes split."""
    if probabilities.shape[1] < 2:
        return np.ones(len(probabilities))
    ordered = np.sort(probabilities, axis=1)
    return ordered[:, -1] - ordered[:, -2]


def rank_categories(
    encoder: DualEncoder, classes: list[ClassName], index: int, partner: int | None = None,
    categories: tuple[str, ...] = CATEGORIES,
) -> list[tuple[str, float]]:
    """Super-categories for class ``index``, best first.

    Score = cos(category, the class) + cos(category, the other classes' centroid), so the
    category fits both the class and the list it sits in; with a ``partner`` (the class it is
    confused with), minus cos(category, partner), so the category also tells the two apart.
    """
    store = text_store(encoder)
    vectors = store.embed([CATEGORY_TEMPLATE.format(spoken_name(c.prompt)) for c in classes])
    others = np.delete(vectors, index, axis=0) if len(classes) > 1 else vectors
    context = normalise_rows(others.mean(axis=0, keepdims=True))[0]
    category_vectors = store.embed([CATEGORY_TEMPLATE.format(c) for c in categories])
    scores = category_vectors @ vectors[index] + category_vectors @ context
    if partner is not None and partner != index:
        scores = scores - category_vectors @ vectors[partner]
    order = np.argsort(-scores, kind="stable")
    return [(categories[i], float(scores[i])) for i in order]


def suggest_rewrites(
    encoder: DualEncoder, classes: list[ClassName], index: int, partner: int | None = None, count: int = 3,
    categories: tuple[str, ...] = CATEGORIES,
) -> list[str]:
    """Prompt-name rewrites for class ``index`` that add the best-fitting super-categories."""
    name = spoken_name(classes[index].prompt)
    suggestions: list[str] = []
    for category, _ in rank_categories(encoder, classes, index, partner, categories):
        if category in name.lower():
            continue
        suggestions.append(f"{name}, a type of {category}")
        if len(suggestions) == count:
            break
    return suggestions


def with_prompt_name(classes: list[ClassName], index: int, prompt_name: str) -> list[ClassName]:
    """A copy of ``classes`` where class ``index`` is prompted as ``prompt_name`` (display unchanged)."""
    updated = list(classes)
    updated[index] = replace(updated[index], prompt=prompt_name.strip() or updated[index].prompt)
    return updated
