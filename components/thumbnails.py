"""Small embedded thumbnails of the scored images (never imports gradio).

A thumbnail is a JPEG data URI, so the page's tables and the exported report show the images
without serving or linking any file. They are bounded twice: in pixels (the longest side) and
in number (``THUMBNAIL_LIMIT`` per table or report), so a large run keeps a small page.
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache

from PIL import Image

from prompting.encoding.images import load_image
from prompting.errors import PromptingError

PAGE_SIZE = 56  # px, the longest side in the page's predictions table
REPORT_SIZE = 96  # px, in the HTML report
THUMBNAIL_LIMIT = 200  # images per table or report that get one; the rest are named only
JPEG_QUALITY = 70
CACHED = 2048


@lru_cache(maxsize=CACHED)
def thumbnail_uri(path: str, size: int) -> str | None:
    """A ``data:image/jpeg;base64,...`` thumbnail of the image at ``path`` whose longest side is
    at most ``size`` px; None when the file cannot be read as an image (any more)."""
    try:
        image = load_image(path)
    except PromptingError:
        return None
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnails(paths: list[str], size: int, limit: int = THUMBNAIL_LIMIT) -> list[str | None]:
    """A thumbnail per path for the first ``limit`` paths, None for the others and for unreadable files."""
    return [thumbnail_uri(path, size) if index < limit else None for index, path in enumerate(paths)]
