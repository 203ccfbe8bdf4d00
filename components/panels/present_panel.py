"""The Present tab: one large chart at a time, with previous/next and full screen, for showing
results to people who did not run them (slides from components/presentation.py). Full screen also
shows the headline over the chart; on the page the results banner above the tabs shows it instead
(``assets/style.css``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from components.panels.events import PAGE_ONLY
from components.panels.results_panel import lookup
from components.presentation import slide_figure, slides
from components.tables import headline_markdown
from prompting.evaluation.paired import PairedComparison
from prompting.service.session_store import ResultStore, RunRecord

FULL_SCREEN_JS = """() => {
  const stage = document.getElementById('present-stage');
  if (document.fullscreenElement) { document.exitFullscreen(); return; }
  if (stage && stage.requestFullscreen) stage.requestFullscreen().then(() => window.dispatchEvent(new Event('resize')));
}"""


@dataclass
class PresentPanel:
    """Handles of the Present tab."""

    headline: gr.Markdown
    slide: gr.Dropdown
    previous: gr.Button
    next: gr.Button
    full_screen: gr.Button
    plot: gr.Plot

    @property
    def outputs(self) -> list[gr.components.Component]:
        """Components ``render_present`` fills, in its order."""
        return [self.headline, self.slide, self.plot]


def build_present_panel() -> PresentPanel:
    """The tab's content (call inside a gr.Tab)."""
    with gr.Column(elem_id="present-stage"):
        headline = gr.Markdown(elem_id="present-headline", elem_classes=["present-headline"])  # full screen only
        with gr.Row(elem_classes=["present-controls"], equal_height=True):
            previous = gr.Button("◀", size="sm", elem_id="present-previous", scale=0, min_width=56)
            slide = gr.Dropdown(label="Chart", show_label=False, elem_id="present-slide", scale=6, min_width=160)
            following = gr.Button("▶", size="sm", elem_id="present-next", scale=0, min_width=56)
            full_screen = gr.Button("Full screen", size="sm", elem_id="present-full-screen", scale=0,
                                    min_width=120)
        plot = gr.Plot(show_label=False, elem_id="present-plot", label="Slide")
    return PresentPanel(headline, slide, previous, following, full_screen, plot)


def render_present(record: RunRecord, pairs: list[PairedComparison]) -> list[Any]:
    """Values for ``PresentPanel.outputs`` after a run: the headline and the first slide."""
    comparison = record.comparison
    shown = slides(comparison)
    first = shown[0].key if shown else None
    return [
        headline_markdown(comparison, pairs),
        gr.Dropdown(choices=[(slide.title, slide.key) for slide in shown], value=first),
        slide_figure(comparison, first) if first else None,
    ]


def wire_present_panel(panel: PresentPanel, token: gr.State, store: ResultStore) -> None:
    """Show the chosen slide; step through them; full screen."""

    def show(tok: str | None, key: str | None) -> go.Figure | None:
        record = lookup(store, tok)
        return slide_figure(record.comparison, key) if key else None

    def step(tok: str | None, key: str | None, offset: int) -> tuple[Any, Any]:
        comparison = lookup(store, tok).comparison
        keys = [slide.key for slide in slides(comparison)]
        if not keys:
            return gr.skip(), gr.skip()
        chosen = keys[((keys.index(key) if key in keys else 0) + offset) % len(keys)]
        return chosen, slide_figure(comparison, chosen)

    panel.slide.input(show, [token, panel.slide], panel.plot, **PAGE_ONLY)
    for button, offset in ((panel.previous, -1), (panel.next, 1)):
        button.click(lambda tok, key, offset=offset: step(tok, key, offset), [token, panel.slide],
                     [panel.slide, panel.plot], **PAGE_ONLY)
    panel.full_screen.click(None, js=FULL_SCREEN_JS, **PAGE_ONLY)
