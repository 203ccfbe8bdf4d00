"""Files the page offers for download, written inside Gradio's upload cache (which Gradio
serves and cleans up), each in its own unguessable folder."""

from __future__ import annotations

import secrets
from pathlib import Path

from gradio.utils import get_upload_folder

from prompting.storage import atomic_write_bytes


def download_file(filename: str, data: str | bytes) -> str:
    """Write ``data`` to a fresh folder as ``filename``; return the path to hand to Gradio."""
    folder = Path(get_upload_folder()) / "downloads" / secrets.token_hex(12)
    path = folder / filename
    atomic_write_bytes(path, data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)
