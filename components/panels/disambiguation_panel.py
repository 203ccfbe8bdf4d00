"""Class names the model can hardly tell apart, suggested clearer prompt names, and a one-click
A/B test of a rewrite on the current images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from components.figures.class_similarity import class_similarity_heatmap
from components.panels import messages
from components.panels.cancellable import cancellable, current_cancel
from components.panels.events import PAGE_ONLY
from components.panels.results_panel import lookup
from components.tables import confusable_table
from prompting.encoding.models import load_model
from prompting.errors import PromptingError
from prompting.evaluation.disambiguation import (
    class_similarity_matrix,
    confusable_pairs,
    suggest_rewrites,
)
from prompting.service.class_text import set_prompt_name
from prompting.service.rewrite_ab import ab_test_rewrite
from prompting.service.session_store import ResultStore, RunRecord

TOP_PAIRS = 5
MATRIX_LIMIT = 40


@dataclass
class DisambiguationPanel:
    """Handles of the class-names tab."""

    strategy: gr.Dropdown
    matrix: gr.Plot
    pairs: gr.Dataframe
    class_choice: gr.Dropdown
    suggest: gr.Button
    rewrite: gr.Dropdown
    run_ab: gr.Button
    apply: gr.Button
    ab_summary: gr.Markdown
    ab_table: gr.Dataframe

    @property
    def outputs(self) -> list[gr.components.Component]:
        """Components ``render_disambiguation`` fills, in its order."""
        return [self.strategy, self.matrix, self.pairs, self.class_choice, self.rewrite, self.ab_summary,
                self.ab_table]


def build_disambiguation_panel() -> DisambiguationPanel:
    """The tab's content (call inside a gr.Tab)."""
    gr.Markdown(
        "Class names that mean similar things to the model are easy to mix up. The heatmap compares the "
        "classes' text embeddings; the outlined cells are the most alike pairs. Try a clearer prompt name "
        "(the shown name stays the same) and test it on your images with one click.",
        elem_classes=["help"],
    )
    strategy = gr.Dropdown(label="Prompts of strategy", elem_id="disambiguation-strategy")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            matrix = gr.Plot(show_label=False, elem_id="class-similarity-plot", label="Class similarity")
        with gr.Column(scale=2):
            pairs = gr.Dataframe(interactive=False, wrap=True, elem_id="confusable-table", label="Most alike pairs",
                                 column_widths=["24%", "24%", "26%", "26%"])
            with gr.Row(equal_height=False, elem_classes=["suggest-row"]):
                class_choice = gr.Dropdown(label="Class to rename", elem_id="rewrite-class", scale=2)
                suggest = gr.Button("Suggest clearer names", size="md", elem_id="suggest-btn", scale=1,
                                    min_width=200)
            rewrite = gr.Dropdown(label="Prompt name to try (pick a suggestion or type your own)",
                                  allow_custom_value=True, elem_id="rewrite-choice")
            with gr.Row():
                run_ab = gr.Button("A/B test on current images", variant="primary", size="sm", elem_id="ab-btn")
                apply = gr.Button("Use in my class list", size="sm", elem_id="apply-rewrite-btn")
    ab_summary = gr.Markdown(elem_id="ab-summary", elem_classes=["summary-box"], visible=False)
    ab_table = gr.Dataframe(interactive=False, wrap=True, visible=False, elem_id="ab-table", label="A/B result")
    return DisambiguationPanel(strategy, matrix, pairs, class_choice, suggest, rewrite, run_ab, apply, ab_summary,
                               ab_table)


def render_disambiguation(record: RunRecord) -> list[Any]:
    """Values for ``DisambiguationPanel.outputs`` after a run."""
    comparison = record.comparison
    key = next(iter(comparison.strategies))
    figure, table, first = similarity_view(record, key)
    headers, rows = table
    return [
        gr.Dropdown(choices=[(r.label, k) for k, r in comparison.strategies.items()], value=key),
        figure,
        gr.Dataframe(value=rows, headers=headers),
        gr.Dropdown(choices=[(cls.display, i) for i, cls in enumerate(comparison.classes)], value=first),
        gr.Dropdown(choices=[], value=None),
        gr.Markdown("", visible=False),
        gr.Dataframe(value=None, visible=False),
    ]


def similarity_view(record: RunRecord, key: str) -> tuple[go.Figure, tuple[list[str], list[list[str]]], int]:
    """Class-similarity heatmap, most-alike pairs table, and the first class of the top pair.

    With many classes the heatmap keeps only the classes of the most alike pairs.
    """
    comparison = record.comparison
    vectors = comparison.strategies[key].class_text_vectors
    names = [cls.display for cls in comparison.classes]
    label = comparison.strategies[key].label
    if vectors is None or len(names) < 2:
        figure = class_similarity_heatmap(np.ones((len(names), len(names))), names, [], strategy=label)
        return figure, (["Class"], []), 0
    pairs = confusable_pairs(vectors, top=TOP_PAIRS)
    shown = list(range(len(names)))
    if len(names) > MATRIX_LIMIT:
        wide = confusable_pairs(vectors, top=MATRIX_LIMIT // 2)
        shown = sorted({index for pair in wide for index in (pair.first, pair.second)})
    position = {index: i for i, index in enumerate(shown)}
    matrix = class_similarity_matrix(vectors[shown])
    flagged = [(position[p.first], position[p.second], p.similarity) for p in pairs
               if p.first in position and p.second in position]
    figure = class_similarity_heatmap(matrix, [names[i] for i in shown], flagged, strategy=label)
    return figure, confusable_table(comparison, key, pairs), pairs[0].first if pairs else 0


def closest_class(record: RunRecord, key: str, index: int) -> int | None:
    """The class whose prompts are most like class ``index``'s under strategy ``key``: the
    other half of its most confusable pair (None with one class or no text vectors)."""
    vectors = record.comparison.strategies[key].class_text_vectors
    if vectors is None or len(vectors) < 2:
        return None
    similarity = class_similarity_matrix(vectors)[index].copy()
    similarity[index] = -np.inf
    return int(np.argmax(similarity))


def wire_disambiguation_panel(
    panel: DisambiguationPanel, token: gr.State, store: ResultStore, classes_box: gr.Textbox
) -> None:
    """Strategy switch, suggestions, A/B test and applying a rewrite to the class list."""

    def switch(tok: str | None, key: str) -> tuple[Any, Any]:
        figure, (headers, rows), _ = similarity_view(lookup(store, tok), key)
        return figure, gr.Dataframe(value=rows, headers=headers)

    @cancellable()
    def suggest(tok: str | None, key: str, index: int) -> Any:
        record = lookup(store, tok)
        try:
            encoder = load_model(record.sources[key].model, quantize=record.comparison.quantization)
            partner = closest_class(record, key, int(index))
            options = suggest_rewrites(encoder, record.comparison.classes, int(index), partner=partner)
        except PromptingError as exc:
            raise messages.error(exc, title="Could not suggest names") from exc
        return gr.Dropdown(choices=options, value=options[0] if options else None)

    @cancellable()
    def run_ab(tok: str | None, key: str, index: int, rewritten: str | None) -> tuple[Any, Any]:
        record = lookup(store, tok)
        source = record.sources[key]
        try:
            encoder = load_model(source.model, quantize=record.comparison.quantization)
            trial = ab_test_rewrite(encoder, record.images, record.comparison.classes, source.spec, int(index),
                                    rewritten or "", cancel=current_cancel())
        except PromptingError as exc:
            raise messages.error(exc, title="Could not run the A/B test") from exc
        summary = gr.Markdown(messages.markdown(trial.summary()), visible=True)
        return summary, gr.Dataframe(value=trial.rows, headers=trial.headers, visible=True)

    def apply(tok: str | None, index: int, rewritten: str | None, text: str) -> str:
        record = lookup(store, tok)
        try:
            updated = set_prompt_name(text, record.comparison.classes[int(index)].display, rewritten or "")
        except PromptingError as exc:
            raise messages.error(exc, title="Could not rename") from exc
        messages.info("Class list updated: press Run to score everything with the new name.")
        return updated

    panel.strategy.input(switch, [token, panel.strategy], [panel.matrix, panel.pairs], **PAGE_ONLY)
    panel.suggest.click(suggest, [token, panel.strategy, panel.class_choice], panel.rewrite,
                        concurrency_id="model", concurrency_limit=2, **PAGE_ONLY)
    panel.run_ab.click(run_ab, [token, panel.strategy, panel.class_choice, panel.rewrite],
                       [panel.ab_summary, panel.ab_table], concurrency_id="model", concurrency_limit=2, **PAGE_ONLY)
    panel.apply.click(apply, [token, panel.class_choice, panel.rewrite, classes_box], classes_box, **PAGE_ONLY)
