"""Every message the page or the API shows a visitor goes through here.

Gradio renders the text of ``gr.Error``, ``gr.Warning`` and ``gr.Info`` as HTML, so text from
users or a language model (class names, template lines, JSON keys, zip entry names, answers)
could otherwise load remote images or draw links inside the app. Each message is first made
public (``PublicText``: no secrets, no server paths, model folders by their shown names), then
escaped for where it goes: HTML for pop-ups, Markdown for status lines. Titles are shown as
plain text by Gradio and are fixed strings here. ``tests/test_messages.py`` fails when a panel
calls ``gr.Error``/``gr.Warning``/``gr.Info`` directly.
"""

from __future__ import annotations

import html
import logging

import gradio as gr

from components.tables import md_escape
from prompting.errors import public_message
from prompting.service.public_text import PublicText

LOG = logging.getLogger(__name__)
_public = PublicText()


def register(rewrite: PublicText) -> None:
    """Add an app's rewrite (its secrets, model names, server folders) to the process's."""
    global _public
    _public = _public.merged(rewrite)


def public(text: object) -> str:
    """``text`` without secrets or server paths (not escaped). An error with advice for the
    server's operator (``operator_hint``) is logged in full and shown without that advice."""
    if isinstance(text, Exception) and getattr(text, "operator_hint", ""):
        LOG.warning("Told a visitor: %s", text)
        text = public_message(text)
    return _public(text)


def toast_text(text: object) -> str:
    """``text`` made public and HTML-escaped, as a pop-up message must be."""
    return html.escape(public(text), quote=False)


def markdown(text: object) -> str:
    """``text`` made public and escaped for Markdown (shown literally, no links or HTML)."""
    return md_escape(public(text))


def error(text: object, title: str = "Error") -> gr.Error:
    """A ``gr.Error`` to raise, with ``text`` made safe (a visitor's mistake: no traceback in
    the server log)."""
    return gr.Error(toast_text(text), title=title, print_exception=False)


def warning(text: object, title: str = "Warning") -> None:
    """Show a warning pop-up with ``text`` made safe."""
    gr.Warning(toast_text(text), title=title)


def info(text: object, title: str = "Info") -> None:
    """Show an information pop-up with ``text`` made safe."""
    gr.Info(toast_text(text), title=title)
