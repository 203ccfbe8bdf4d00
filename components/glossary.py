"""Plain words for the researcher's terms a run's results use (never imports gradio).

The summary and headline speak plainly first; the tables keep the precise terms. This glossary
explains the terms of one run only: its strategies, the kinds of probabilities it shows, and the
statistics words when there are true classes.
"""

from __future__ import annotations

from prompting.evaluation.export import base_strategy
from prompting.evaluation.results import Comparison

# What each strategy does, for someone who has not read the papers (also the picker's "What do these mean?").
PLAIN_SUMMARIES = {
    "classname": "just the class name, e.g. “cat”",
    "template": "sentence templates around the name, such as “a photo of a cat.” (the default when you write none)",
    "ensemble80": "CLIP's 80 ready-made sentences, averaged",
    "ensemble7": "a well-chosen 7 of those sentences",
    "cupl": "descriptive sentences written by a language model",
    "dclip": "“cat, which has whiskers” … scored part by part",
    "waffle": "random words added to the name: a baseline that checks whether descriptions really help",
    "zpe": "many templates, weighted by how confidently each one classifies your images (no labels needed)",
    "autoclip": "many templates, weighted anew for every image by how well each fits it",
}
PROBABILITY_TERMS = {
    "softmax": ("softmax probability", "how sure the model is of each class, shared out so that all your classes "
                "add up to 1"),
    "sigmoid": ("sigmoid score", "how well the image fits each class, judged one class at a time (SigLIP), so "
                "the scores need not add up to 1"),
}
ACCURACY_TERMS = (
    ("top-1 accuracy", "the share of images whose most likely class is the true one"),
    ("points", "percentage points: the difference between two percentages (70% against 60% is 10 points)"),
    ("95% interval", "where the number would likely fall on many more images like these; a wide interval means "
     "few images"),
    ("could be chance", "the images cannot tell the two approaches apart: on other, similar images the order "
     "could flip"),
    ("calibration", "whether a model that says it is 80% sure is right about 80% of the time"),
)


def glossary_entries(comparison: Comparison) -> list[tuple[str, str]]:
    """(term, plain explanation) for the strategies, probabilities and statistics of one run."""
    entries: list[tuple[str, str]] = []
    for key, result in comparison.strategies.items():
        summary = PLAIN_SUMMARIES.get(base_strategy(key))
        if summary and all(term != result.label for term, _ in entries):
            entries.append((result.label, summary))
    kinds = sorted({result.probability_kind for result in comparison.strategies.values()})
    entries += [PROBABILITY_TERMS[kind] for kind in kinds]
    if any(result.metrics for result in comparison.strategies.values()):
        entries += list(ACCURACY_TERMS)
    return entries
