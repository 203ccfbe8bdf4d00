"""Step 3 of the page: which prompt strategies to compare, and with which model(s)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from components.glossary import PLAIN_SUMMARIES
from prompting.service.config import AppConfig
from prompting.strategies.registry import STRATEGIES

DEFAULT_STRATEGIES = ["classname", "ensemble80"]
NO_SECOND_MODEL = "(none)"
# "selected" comes from "Find better prompts", FuDD from the Class names tab after a run, not from a tick.
PICKED_ELSEWHERE = ("selected", "fudd")


@dataclass
class StrategiesPanel:
    """Handles of the strategies card."""

    picker: gr.CheckboxGroup
    model: gr.Dropdown
    second_model: gr.Dropdown


def build_strategies_panel(config: AppConfig) -> StrategiesPanel:
    """The strategies card: strategy picker and model picker (settings live below the cards)."""
    with gr.Column(elem_classes=["step-card"]):
        gr.Markdown("### 3 · Strategies & model", elem_classes=["step-title"])
        gr.Markdown(
            "Tick the ways of writing prompts to compare; each is scored on the same images. "
            "Templates, CuPL, DCLIP, WaffleCLIP, ZPE and AutoCLIP have settings under *Strategy settings*.",
            elem_classes=["help"],
        )
        picker = gr.CheckboxGroup(
            [(STRATEGIES[key].title, key) for key in STRATEGIES if key not in PICKED_ELSEWHERE],
            value=DEFAULT_STRATEGIES, show_label=False,
            label="Strategies", elem_id="strategy-picker",
        )
        with gr.Accordion("What do these mean?", open=False):
            gr.Markdown("\n".join(f"- **{STRATEGIES[k].title}**: {text}." for k, text in PLAIN_SUMMARIES.items())
                        + "\n- **FuDD**: after a run, the *Class names* tab re-scores look-alike classes with "
                          "language-model descriptions of how they differ.")
        menu = list(config.public_menu)  # shown names: never a server path
        with gr.Row():
            model = gr.Dropdown(menu, value=menu[0], label="Model", elem_id="model-picker", scale=3,
                                info="Loaded at the first run, then shared by everyone.")
            second_model = gr.Dropdown(
                [NO_SECOND_MODEL, *menu], value=NO_SECOND_MODEL, label="Compare with", elem_id="second-model",
                scale=2, info="Same prompts, a second model.", visible=len(menu) > 1,
            )
    return StrategiesPanel(picker, model, second_model)
