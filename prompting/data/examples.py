"""A built-in example set: real photographs that ship with scikit-image (no download needed).

Each example has the class it shows, so the set is labelled: a first run already shows
accuracy and calibration. ``EXAMPLE_CLASSES`` is the matching class list; two of its lines use
the ``display | prompt name`` form to show the idea.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from prompting.errors import DatasetError
from prompting.storage import atomic_write_bytes

LOG = logging.getLogger(__name__)
EXAMPLES_FOLDER = "prompt-workbench-examples"


@dataclass(frozen=True)
class Example:
    """One photograph: its file stem, its class (display name) and how to load its pixels."""

    stem: str
    label: str
    load: Callable[[], np.ndarray]


def _skimage(name: str, index: int | None = None) -> Callable[[], np.ndarray]:
    """A loader for ``skimage.data.<name>()`` (``index`` picks one image of a tuple)."""

    def load() -> np.ndarray:
        from skimage import data

        value = getattr(data, name)()
        return value[index] if index is not None else value

    return load


EXAMPLES: tuple[Example, ...] = (
    Example("astronaut", "astronaut", _skimage("astronaut")),
    Example("coffee", "coffee", _skimage("coffee")),
    Example("cat", "cat", _skimage("chelsea")),
    Example("rocket", "rocket", _skimage("rocket")),
    Example("cameraman", "cameraman", _skimage("camera")),
    Example("coins", "coins", _skimage("coins")),
    Example("clock", "clock", _skimage("clock")),
    Example("moon", "moon", _skimage("moon")),
    Example("motorcycle", "motorcycle", _skimage("stereo_motorcycle", 0)),
    Example("galaxies", "galaxy", _skimage("hubble_deep_field")),
)

EXAMPLE_CLASSES = "\n".join(
    [
        "astronaut",
        "coffee | cup of coffee",
        "cat",
        "rocket",
        "cameraman | man with a camera",
        "coins",
        "clock",
        "moon",
        "motorcycle",
        "galaxy",
    ]
)


def example_folder() -> Path:
    """Where the example PNGs are written: a fixed folder in the system temp directory."""
    return Path(tempfile.gettempdir()) / EXAMPLES_FOLDER


def example_images(folder: Path | None = None) -> list[tuple[Path, str]]:
    """Write the example photographs as PNG (once) and return ``(path, class)`` pairs.

    An example scikit-image cannot provide is skipped with a logged warning; if none can be
    provided, ``DatasetError`` says so.
    """
    folder = folder or example_folder()
    pairs: list[tuple[Path, str]] = []
    for example in EXAMPLES:
        path = folder / f"{example.stem}.png"
        if not path.is_file():
            try:
                pixels = np.asarray(example.load(), dtype=np.uint8)
            except (ImportError, OSError, ValueError, AttributeError) as exc:
                LOG.warning("Example photo '%s' is unavailable: %s", example.stem, exc)
                continue
            atomic_write_bytes(path, _png_bytes(pixels))
        pairs.append((path, example.label))
    if not pairs:
        raise DatasetError("The example photographs are unavailable: scikit-image's sample data could not be read.")
    return pairs


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
