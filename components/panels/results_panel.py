"""Results: summary and predictions, then two strategies side by side as heatmaps, per-prompt
heatmaps for one class and per-descriptor explanations for one image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import gradio as gr
import plotly.graph_objects as go

from components.figures.heatmaps import comparison_heatmap
from components.figures.prompts import descriptor_bars, prompt_heatmap, shared_cosine_range
from components.panels import messages
from components.panels.events import PAGE_ONLY
from components.tables import glossary_markdown, predictions_table, skipped_markdown, summary_markdown
from components.thumbnails import PAGE_SIZE
from prompting.errors import PromptingError
from prompting.evaluation.export import top1_indices
from prompting.evaluation.paired import PairedComparison
from prompting.service.session_store import ResultStore, RunRecord

VALUE_KINDS = [("Probability", "probabilities"), ("Cosine similarity", "similarities")]
ValueKind = Literal["probabilities", "similarities"]


@dataclass
class SidePair:
    """The same kind of figure for the left and right strategy."""

    left: gr.Plot
    right: gr.Plot


@dataclass
class PredictionsPanel:
    """Handles of the summary tab and the side-by-side tab."""

    summary: gr.Markdown
    glossary: gr.Markdown
    skipped: gr.Markdown
    table: gr.Dataframe
    left_strategy: gr.Dropdown
    right_strategy: gr.Dropdown
    value_kind: gr.Radio
    heatmaps: SidePair
    prompt_class: gr.Dropdown
    prompts: SidePair
    explain_image: gr.Dropdown
    explanations: SidePair

    @property
    def outputs(self) -> list[gr.components.Component]:
        """Components ``render`` fills, in its order."""
        return [
            self.summary, self.glossary, self.skipped, self.table, self.left_strategy, self.right_strategy,
            self.value_kind,
            self.heatmaps.left, self.heatmaps.right, self.prompt_class, self.prompts.left, self.prompts.right,
            self.explain_image, self.explanations.left, self.explanations.right,
        ]


def build_summary_tab() -> tuple[gr.Markdown, gr.Markdown, gr.Markdown, gr.Dataframe]:
    """The summary tab's content: plain-language summary, a glossary of its terms, skipped files,
    predictions with thumbnails."""
    summary = gr.Markdown(elem_id="summary", elem_classes=["summary-box"])
    with gr.Accordion("What do these words mean?", open=False, elem_id="glossary-box"):
        glossary = gr.Markdown(elem_id="glossary")
    skipped = gr.Markdown(elem_id="skipped", elem_classes=["skipped-box"])
    gr.Markdown("#### Top prediction per image", elem_classes=["section-title"])
    gr.Markdown("✓ = the true class, ✗ = a mistake; the number is how sure the approach was (0 to 1).",
                elem_classes=["help"])
    table = gr.Dataframe(interactive=False, wrap=True, max_height=560, elem_id="predictions-table",
                         show_label=False, label="Predictions")
    return summary, glossary, skipped, table


def _plot_pair(prefix: str) -> SidePair:
    with gr.Row(equal_height=True, elem_classes=["side-by-side"]):
        left = gr.Plot(show_label=False, elem_id=f"{prefix}-left", label="Left strategy")
        right = gr.Plot(show_label=False, elem_id=f"{prefix}-right", label="Right strategy")
    return SidePair(left, right)


def build_predictions_panel() -> PredictionsPanel:
    """Summary tab, then the side-by-side tab (call inside a gr.Tabs)."""
    with gr.Tab("Summary", id="tab-summary"):
        summary, glossary, skipped, table = build_summary_tab()
    with gr.Tab("Side by side", id="tab-heatmaps"):
        gr.Markdown("Pick two strategies to compare. Hover over a cell for the prompts behind it.",
                    elem_classes=["help"])
        with gr.Row(elem_classes=["side-by-side"]):
            left_strategy = gr.Dropdown(label="Left", elem_id="left-strategy", scale=2)
            right_strategy = gr.Dropdown(label="Right", elem_id="right-strategy", scale=2)
            value_kind = gr.Radio(VALUE_KINDS, value="probabilities", label="Colour shows", scale=2)
        heatmaps = _plot_pair("heatmap")
        with gr.Row(equal_height=True):
            with gr.Column(scale=3):
                gr.Markdown("#### Which prompts help?", elem_classes=["section-title"])
                gr.Markdown("For one class: how well each prompt (template or description) matches each image. "
                            "Prompts at the top match best on average.", elem_classes=["help"])
            prompt_class = gr.Dropdown(label="Class", elem_id="prompt-class", scale=1)
        prompts = _plot_pair("prompts")
        with gr.Row(equal_height=True):
            with gr.Column(scale=3):
                gr.Markdown("#### Why this prediction?", elem_classes=["section-title"])
                gr.Markdown("For one image: the prompts of its predicted class that matched it best. With DCLIP "
                            "these are the descriptors: “classified as X because: …”.", elem_classes=["help"])
            explain_image = gr.Dropdown(label="Image", elem_id="explain-image", scale=1)
        explanations = _plot_pair("explain")
    return PredictionsPanel(summary, glossary, skipped, table, left_strategy, right_strategy, value_kind, heatmaps,
                            prompt_class, prompts, explain_image, explanations)


def render_predictions(
    record: RunRecord, notes: list[str], pairs: list[PairedComparison], right: str | None = None
) -> list[Any]:
    """Values for ``PredictionsPanel.outputs`` after a run (``pairs``: its paired comparisons);
    ``right`` picks the strategy on the right (default: the second)."""
    comparison = record.comparison
    keys = list(comparison.strategies)
    choices = [(result.label, key) for key, result in comparison.strategies.items()]
    right = right if right in comparison.strategies else keys[1] if len(keys) > 1 else keys[0]
    left = keys[0] if keys[0] != right or len(keys) == 1 else keys[1]
    given = {image.path: image.given_label for image in record.images if image.given_label}
    headers, rows = predictions_table(comparison, thumbnail_size=PAGE_SIZE, given_labels=given)
    class_choices = [(cls.display, index) for index, cls in enumerate(comparison.classes)]
    image_choices = [(image.name, index) for index, image in enumerate(comparison.images)]
    focus = _focus_class(record, left)
    unmatched = bool(record.unmatched_labels) and all(image.label is None for image in comparison.images)
    left_prompts, right_prompts = prompts_pair(record, left, right, focus)
    return [
        summary_markdown(comparison, notes, labels_unmatched=unmatched, pairs=pairs),
        glossary_markdown(comparison),
        skipped_markdown(comparison),
        gr.Dataframe(value=rows, headers=headers, datatype=["html"] * len(headers)),
        gr.Dropdown(choices=choices, value=left),
        gr.Dropdown(choices=choices, value=right),
        "probabilities",
        heatmap(record, left, "probabilities"),
        heatmap(record, right, "probabilities"),
        gr.Dropdown(choices=class_choices, value=focus),
        left_prompts,
        right_prompts,
        gr.Dropdown(choices=image_choices, value=0),
        explanation(record, left, 0),
        explanation(record, right, 0),
    ]


def _focus_class(record: RunRecord, key: str) -> int:
    """The class to open the prompt view on: the first image's true class, else its prediction."""
    first = record.comparison.images[0]
    if first.label is not None:
        return first.label
    return int(top1_indices(record.comparison.strategies[key])[0])


def heatmap(record: RunRecord, key: str, value: ValueKind) -> go.Figure:
    """Images x classes heatmap of one strategy."""
    return comparison_heatmap(record.comparison, key, value)


def prompts_figure(
    record: RunRecord, key: str, class_index: int, zrange: tuple[float, float] | None = None
) -> go.Figure:
    """Prompts x images heatmap of one strategy for one class (colour range ``zrange`` if given)."""
    comparison = record.comparison
    return prompt_heatmap(comparison.strategies[key], class_index, [image.name for image in comparison.images],
                          comparison.classes[class_index].display, zrange=zrange)


def prompts_pair(record: RunRecord, left: str, right: str, class_index: int) -> tuple[go.Figure, go.Figure]:
    """The prompt heatmaps of two strategies for one class on one shared colour range, so the
    same colour means the same cosine on both sides."""
    strategies = record.comparison.strategies
    zrange = shared_cosine_range([strategies[left], strategies[right]], class_index)
    return prompts_figure(record, left, class_index, zrange), prompts_figure(record, right, class_index, zrange)


def explanation(record: RunRecord, key: str, image_index: int) -> go.Figure:
    """The best-matching prompts of the predicted class for one image under one strategy."""
    comparison = record.comparison
    result = comparison.strategies[key]
    predicted = int(top1_indices(result)[image_index])
    return descriptor_bars(result, image_index, predicted, image_name=comparison.images[image_index].name,
                           class_name=comparison.classes[predicted].display)


def lookup(store: ResultStore, token: str | None) -> RunRecord:
    """The session's last run, or a readable gr.Error when there is none."""
    try:
        return store.get(token)
    except PromptingError as exc:
        raise messages.error(exc, title="No results") from exc


def wire_predictions_panel(panel: PredictionsPanel, token: gr.State, store: ResultStore) -> None:
    """Redraw one side when its strategy changes, and both sides when the shared choices change."""

    def side(tok: str | None, key: str, left: str, right: str, kind: ValueKind, class_index: int,
             image_index: int) -> tuple[go.Figure, ...]:
        record = lookup(store, tok)
        return (heatmap(record, key, kind), *prompts_pair(record, left, right, class_index),
                explanation(record, key, image_index))

    def both_heatmaps(tok: str | None, left: str, right: str, kind: ValueKind) -> tuple[go.Figure, go.Figure]:
        record = lookup(store, tok)
        return heatmap(record, left, kind), heatmap(record, right, kind)

    def both_prompts(tok: str | None, left: str, right: str, class_index: int) -> tuple[go.Figure, go.Figure]:
        return prompts_pair(lookup(store, tok), left, right, class_index)

    def both_explanations(tok: str | None, left: str, right: str, image_index: int) -> tuple[go.Figure, go.Figure]:
        record = lookup(store, tok)
        return explanation(record, left, image_index), explanation(record, right, image_index)

    shared = [panel.left_strategy, panel.right_strategy, panel.value_kind, panel.prompt_class, panel.explain_image]
    for dropdown, plots in ((panel.left_strategy, "left"), (panel.right_strategy, "right")):
        outputs = [getattr(panel.heatmaps, plots), panel.prompts.left, panel.prompts.right,
                   getattr(panel.explanations, plots)]
        dropdown.input(side, [token, dropdown, *shared], outputs, **PAGE_ONLY)
    pair = [token, panel.left_strategy, panel.right_strategy]
    panel.value_kind.input(both_heatmaps, [*pair, panel.value_kind], [panel.heatmaps.left, panel.heatmaps.right],
                           **PAGE_ONLY)
    panel.prompt_class.input(both_prompts, [*pair, panel.prompt_class], [panel.prompts.left, panel.prompts.right],
                             **PAGE_ONLY)
    panel.explain_image.input(
        both_explanations, [*pair, panel.explain_image], [panel.explanations.left, panel.explanations.right],
        **PAGE_ONLY,
    )
