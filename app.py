"""Prompt Workbench web app: ``python app.py [--model M] [--models A,B] [--host H] [--port P]``.

Thin: settings are parsed once, the page is composed from ``components/``, and all logic
lives in ``prompting/``. Models load lazily at the first run, so the page starts even when
the default model cannot be loaded (the error then shows in the page).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from components.panels import messages
from components.panels.api_endpoints import build_api, check_raw_arguments, unreadable_argument
from components.panels.classes_panel import build_classes_panel, wire_classes_panel
from components.panels.descriptions_panel import LLMGuard
from components.panels.images_panel import build_images_panel, wire_images_panel
from components.panels.prompt_search_api import build_prompt_search_api
from components.panels.prompt_search_panel import wire_prompt_search_panel
from components.panels.results_area import build_results_area, wire_results_area
from components.panels.run_panel import build_run_bar, wire_run
from components.panels.settings_panel import build_settings_panel, wire_settings_panel
from components.panels.stored_set_panel import build_mistakes_panel, build_stored_set_panel, wire_stored_set_panel
from components.panels.strategies_panel import build_strategies_panel
from components.panels.theme import build_theme, page_css, page_js
from prompting.service.config import AppConfig, apply_cache_size, parse_app_args
from prompting.service.public_text import public_text_for
from prompting.service.sessions import Sessions

ASSETS = Path(__file__).resolve().parent / "assets"
TITLE = "Prompt Workbench"
INTRO = (
    "Compare ways of writing prompts for a zero-shot image classifier on your own images: "
    "no training, just words. Follow the three steps, press **Run**, and read the results below."
)
CACHE_CLEANUP = (3600, 6 * 3600)  # every hour, delete uploads and downloads older than six hours


class Workbench(gr.Blocks):
    """The app's Blocks; ``launch()`` always applies the theme, CSS and upload limits."""

    def __init__(self, config: AppConfig) -> None:
        super().__init__(title=TITLE, delete_cache=CACHE_CLEANUP, analytics_enabled=False)
        self.workbench_config = config

    async def preprocess_data(self, block_fn: Any, inputs: list[Any], state: Any, explicit_call: bool = False) -> Any:
        """Gradio's reading of an event's inputs, with readable errors for arguments of the wrong
        shape (a script can send anything) instead of Gradio's opaque one."""
        check_raw_arguments(block_fn.inputs, inputs)
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as exc:  # Gradio could not read an input: say which, not how it failed inside
            raise unreadable_argument(block_fn.inputs, exc) from exc

    def launch(self, **kwargs: Any) -> Any:  # type: ignore[override]  # keyword arguments only
        """Launch with the operator's limits: upload size, and no file serving beyond assets."""
        defaults = {
            "theme": build_theme(),
            "css": page_css(),
            "js": page_js(),
            "max_file_size": self.workbench_config.max_upload_bytes,
            "allowed_paths": [str(ASSETS)],
            "footer_links": ["api"],
        }
        return super().launch(**{**defaults, **kwargs})


def build_demo(config: AppConfig) -> Workbench:
    """The whole page: three input steps, the run bar, the results tabs and the API endpoints."""
    limits = config.limits
    apply_cache_size(config)
    sessions = Sessions.for_limits(limits)
    store, cancels = sessions.results, sessions.jobs
    guard = LLMGuard(limits.max_classes, sessions.llm_requests, cancels)
    shown_models = {full: shown for shown, full in config.public_menu.items()}
    messages.register(public_text_for(shown_models, config.llm, [get_upload_folder()]))
    with Workbench(config) as demo:
        token = gr.State(None)
        with gr.Column(elem_id="header"):
            gr.Markdown(f"# {TITLE}", elem_id="title")
            gr.Markdown(INTRO, elem_classes=["intro"])
        with gr.Row(equal_height=False, elem_id="steps"):
            images = build_images_panel()
            classes = build_classes_panel()
            strategies = build_strategies_panel(config)
        stored = build_stored_set_panel(config)
        settings = build_settings_panel(config)
        bar = build_run_bar()
        results = build_results_area(config)
        mistakes = build_mistakes_panel()
        wire_images_panel(images, classes.box, sessions.files, limits)
        wire_classes_panel(classes, settings.templates)
        wire_settings_panel(settings, config, classes.box, strategies.picker, guard)
        wire_run(bar, images, classes.box, strategies, settings, results, token, config, store, cancels)
        wire_stored_set_panel(stored, mistakes, bar, classes.box, strategies, settings, results, token, config, store,
                              cancels)
        wire_results_area(results, token, store, classes.box, config, guard)
        wire_prompt_search_panel(results.search, token, store, cancels, config, settings.templates, results.views())
        build_api(config, cancels)
        build_prompt_search_api(config, cancels)

        def end_session(request: gr.Request) -> None:
            """A closed tab or client: its jobs stop, its files go, its results are dropped."""
            sessions.end(request.session_hash or "")

        demo.unload(end_session)
    return demo


def main(argv: Sequence[str] | None = None) -> None:
    """Parse settings, build the page and serve it until interrupted."""
    config = parse_app_args(argv)
    demo = build_demo(config)
    demo.queue(default_concurrency_limit=2).launch(server_name=config.host, server_port=config.port)


if __name__ == "__main__":
    main()
