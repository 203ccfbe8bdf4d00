"""The page's look: a soft theme with offline fonts, plus ``assets/style.css``."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from components.figures.style import fit_charts_script

CSS_FILE = Path(__file__).resolve().parents[2] / "assets" / "style.css"
HELP_TEXT = "#4b5563"  # 7.6:1 on white


def build_theme() -> gr.themes.Base:
    """A calm indigo/slate theme using the fonts bundled with Gradio (no network)."""
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="sky", neutral_hue="slate", radius_size="md").set(
        block_title_text_weight="600",
        block_label_text_weight="600",
        button_primary_text_color="white",
        # The Soft theme's subdued text (slate-400) is too faint on white; this grey passes WCAG AA.
        body_text_color_subdued=HELP_TEXT,
        block_info_text_color=HELP_TEXT,
    )


def page_css() -> str:
    """The stylesheet text (inlined into the page, so nothing extra is served)."""
    return CSS_FILE.read_text(encoding="utf-8")


def page_js() -> str:
    """The script run when the page loads: it fits chart titles to narrow charts."""
    return fit_charts_script()
