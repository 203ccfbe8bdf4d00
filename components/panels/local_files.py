"""File inputs that only accept uploads: the server never downloads a URL sent in their place.

Gradio fetches a file given as an ``http(s)`` URL (e.g. by an API client). ``local_only``
makes a file-taking component refuse that, so every file the app reads was uploaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import gradio as gr
from gradio_client.utils import is_http_url_like

from components.panels import messages

URL_REFUSED = "This app does not fetch files from web addresses; upload the file itself instead."
FileComponent = TypeVar("FileComponent", gr.File, gr.Gallery, gr.UploadButton)


def local_only(component: FileComponent) -> FileComponent:
    """Make ``component`` refuse files given as URLs (it is returned for chaining)."""
    move = component.async_move_resource_to_block_cache

    async def guarded(url_or_file_path: str | Path | None) -> str | None:
        if isinstance(url_or_file_path, str) and is_http_url_like(url_or_file_path):
            raise messages.error(URL_REFUSED, title="Not uploaded")
        return await move(url_or_file_path)

    component.async_move_resource_to_block_cache = guarded  # type: ignore[method-assign]
    return component
