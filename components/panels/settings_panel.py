"""Strategy settings, full width below the three steps: custom templates, CuPL/DCLIP
descriptions (generate, import, review, edit), WaffleCLIP's seeds, counts and concept, and the
template pool and AutoCLIP settings of ZPE and AutoCLIP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from components.panels.cancellable import cancellable
from components.panels.descriptions_panel import (
    LLM_JOB,
    DescriptionsPanel,
    LLMGuard,
    build_descriptions_panel,
    concept_suggester,
    wire_descriptions_panel,
)
from components.panels.events import PAGE_ONLY
from prompting.errors import StrategyError
from prompting.service.config import AppConfig, RunLimits
from prompting.service.workflows import StrategyInputs
from prompting.strategies.autoclip import DEFAULT_BETA
from prompting.strategies.templates import DEFAULT_TEMPLATE

DEFAULT_TEMPLATES = f"{DEFAULT_TEMPLATE}\na close-up photo of a {{}}.\na blurry photo of a {{}}."
DESCRIPTIONS_TAB = "settings-descriptions"
APP_SEEDS = 3  # the CLI's default is one seed (0)
PAPER_SEEDS = 7  # WaffleCLIP reports mean ± std over seeds 0-6 (replicate_key_runs.sh: --reps=7)
WAFFLE_HELP = (
    "Random words and characters are drawn as WaffleCLIP's code draws them: the same classes and seed give the "
    "paper's prompts. The characters come from DCLIP's ImageNet descriptions, where WaffleCLIP uses each data "
    "set's own. The draw depends on the whole class list (descriptor sizes follow the class names), so **adding, "
    "removing or renaming a class gives every class new WaffleCLIP prompts**: all its scores move, and the new "
    "prompts are encoded on the next run."
)
NO_CONCEPT_LLM = "Unavailable: no language model is configured on this server. Type a concept yourself instead."
WEIGHTING_HELP = (
    "**ZPE** (Allingham et al. 2023) scores each template by how confidently it classifies your images and "
    "averages the templates with softmax weights; it needs no labels, but several images (with one image all "
    "weights are equal). The paper also subtracts mean scores on a sample of pretraining images; none is "
    "available here, so we use its variant that normalises with your images only. **AutoCLIP** (Metzen et al. "
    "2024) weights the templates for each image separately, by one gradient step whose size is set so that the "
    "weights' entropy is β × that of equal weights. Both show their weights under *Find better prompts*."
)


@dataclass
class SettingsPanel:
    """Handles of the strategy settings."""

    accordion: gr.Accordion
    tabs: gr.Tabs
    templates: gr.Textbox
    descriptions: DescriptionsPanel
    waffle_seeds: gr.Slider
    paper_seeds: gr.Button
    waffle_words: gr.Number
    waffle_chars: gr.Number
    waffle_concept: gr.Textbox
    concept_button: gr.Button
    weighting_pool: gr.Radio
    autoclip_beta: gr.Slider
    autoclip_objective: gr.Radio

    @property
    def inputs(self) -> list[gr.components.Component]:
        """Inputs that ``strategy_inputs`` turns into StrategyInputs, in its argument order."""
        return [
            self.templates, self.descriptions.cupl.code, self.descriptions.dclip.code,
            self.waffle_seeds, self.waffle_words, self.waffle_chars, self.waffle_concept,
            self.weighting_pool, self.autoclip_beta, self.autoclip_objective,
        ]


def _whole(value: float | None, default: int, what: str) -> int:
    try:
        return int(value if value is not None else default)
    except (TypeError, ValueError, OverflowError):
        raise StrategyError(f"The WaffleCLIP {what} must be a whole number, not {value!r}.") from None


def strategy_inputs(
    templates: str, cupl: str, dclip: str, seeds: float, words: float | None, chars: float | None, concept: str,
    limits: RunLimits | None = None, pool: str = "imagenet80", beta: float | None = DEFAULT_BETA,
    objective: str = "cosine",
) -> StrategyInputs:
    """The strategies' settings from the widgets (``SettingsPanel.inputs`` order).

    The seed count is checked against ``limits`` before any seed list is made, so a forged
    request cannot ask for millions of seeds.
    """
    count = max(_whole(seeds or 1, 1, "number of seeds"), 1)
    limits = limits or RunLimits()
    if count > limits.max_waffle_seeds:
        raise StrategyError(f"Too many WaffleCLIP seeds: {count}. This server runs at most {limits.max_waffle_seeds}.")
    return StrategyInputs(
        templates_text=templates or "",
        cupl_json=cupl or "",
        dclip_json=dclip or "",
        waffle_seeds=tuple(range(count)),
        waffle_words=_whole(words, 15, "number of random-word descriptors"),
        waffle_chars=_whole(chars, 15, "number of random-character descriptors"),
        waffle_concept=concept or "",
        weighting_pool=pool or "imagenet80",
        autoclip_beta=float(beta if beta is not None else DEFAULT_BETA),
        autoclip_objective=objective or "cosine",
    )


def build_settings_panel(config: AppConfig) -> SettingsPanel:
    """A closed accordion with one tab per strategy family."""
    with gr.Accordion("⚙️  Strategy settings: custom templates, CuPL & DCLIP descriptions, WaffleCLIP, ZPE & AutoCLIP",
                      open=False,
                      elem_id="settings-accordion", elem_classes=["settings-card"]) as accordion:
        with gr.Tabs() as tabs:
            with gr.Tab("Custom templates", id="settings-templates"):
                templates = gr.Textbox(
                    DEFAULT_TEMPLATES, lines=5, max_lines=14, label="Templates for the “Template” strategy",
                    info="One per line; {} marks where the class name goes. Data-set presets fill in their own.",
                    elem_id="templates-box",
                )
            with gr.Tab("CuPL & DCLIP descriptions", id=DESCRIPTIONS_TAB):
                descriptions = build_descriptions_panel(config.llm, config.llm_note)
            with gr.Tab("WaffleCLIP", id="settings-waffle"):
                limits = config.limits
                gr.Markdown(WAFFLE_HELP, elem_classes=["help"])
                with gr.Row(equal_height=True):
                    seeds = gr.Slider(1, limits.max_waffle_seeds, value=APP_SEEDS, step=1, label="Random seeds",
                                      scale=2, elem_id="waffle-seeds",
                                      info=f"Seeds 0 to n−1; {APP_SEEDS} by default here (the CLI: 1), the paper "
                                      f"reports mean ± std over {PAPER_SEEDS}. Heatmaps pool all seeds' prompts; "
                                      "accuracy is also given per seed as mean ± std.")
                    paper_seeds = gr.Button(f"Paper's {PAPER_SEEDS} seeds", size="sm", scale=0,
                                            visible=limits.max_waffle_seeds >= PAPER_SEEDS, elem_id="waffle-paper-seeds")
                    words = gr.Number(15, label="Random-word descriptors", precision=0, minimum=0,
                                      maximum=limits.max_waffle_count)
                    chars = gr.Number(15, label="Random-character descriptors", precision=0, minimum=0,
                                      maximum=limits.max_waffle_count)
                concept = gr.Textbox("", label="Concept (optional)", placeholder="e.g. bird",
                                     info="A shared idea in every prompt: “A photo of a bird: a crane, which …”")
                with gr.Row(equal_height=True):
                    concept_button = gr.Button("Suggest a concept with the language model", size="sm", scale=0,
                                               interactive=config.llm is not None, elem_id="concept-btn")
                    if config.llm is None:
                        gr.Markdown(NO_CONCEPT_LLM, elem_classes=["help"], elem_id="concept-why")
            with gr.Tab("ZPE & AutoCLIP", id="settings-weighting"):
                gr.Markdown(WEIGHTING_HELP, elem_classes=["help"])
                with gr.Row():
                    pool = gr.Radio([("CLIP's 80 ImageNet templates", "imagenet80"),
                                     ("My templates (the Custom templates tab)", "custom")], value="imagenet80",
                                    label="Template pool to weight", elem_id="weighting-pool", scale=2)
                    beta = gr.Slider(0.05, 1.0, value=DEFAULT_BETA, step=0.05, label="AutoCLIP β", scale=1,
                                     elem_id="autoclip-beta",
                                     info="Target entropy as a share of equal weights' (paper: 0.85; 0.7 suggested).")
                    objective = gr.Radio([("Raw cosines (reference code)", "cosine"), ("Scaled logits", "logit")],
                                         value="cosine", label="AutoCLIP objective", scale=2,
                                         info="What AutoCLIP's log-sum-exp runs over.")
    return SettingsPanel(accordion, tabs, templates, descriptions, seeds, paper_seeds, words, chars, concept,
                         concept_button, pool, beta, objective)


def wire_settings_panel(
    panel: SettingsPanel, config: AppConfig, classes_box: gr.Textbox, picker: gr.CheckboxGroup, guard: LLMGuard
) -> None:
    """Descriptions, the concept suggestion, and opening the descriptions tab when CuPL/DCLIP
    are ticked without descriptions."""
    wire_descriptions_panel(panel.descriptions, config.llm, classes_box, guard)
    panel.paper_seeds.click(lambda: PAPER_SEEDS, None, panel.waffle_seeds, show_progress="hidden", **PAGE_ONLY)
    if config.llm is not None:
        panel.concept_button.click(
            cancellable(guard.jobs, LLM_JOB)(concept_suggester(config.llm, guard)),
            [classes_box, panel.descriptions.llm_model], panel.waffle_concept,
            concurrency_id="llm", concurrency_limit=2, **PAGE_ONLY,
        )
    picker.input(
        _reveal_descriptions, [picker, panel.descriptions.cupl.code, panel.descriptions.dclip.code],
        [panel.accordion, panel.tabs], show_progress="hidden", **PAGE_ONLY,
    )


def _reveal_descriptions(names: list[str], cupl: str, dclip: str) -> tuple[Any, Any]:
    missing = ("cupl" in names and not (cupl or "").strip()) or ("dclip" in names and not (dclip or "").strip())
    if not missing:
        return gr.skip(), gr.skip()
    return gr.Accordion(open=True), gr.Tabs(selected=DESCRIPTIONS_TAB)
