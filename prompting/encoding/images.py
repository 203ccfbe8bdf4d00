"""Robust image decoding to RGB: EXIF orientation, odd modes, bit depth, bombs, bad files."""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from prompting.errors import ImageDecodeError

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
)
BYTES_LABEL = "image data"
EMPTY_FILE = "'{label}' is an empty file (0 bytes), not an image."
WHITE = (255, 255, 255, 255)
ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
MAX_16_BIT = 65535
# What Pillow raises on data it cannot decode, besides OSError.
CORRUPT_DATA_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


def load_image(source: str | Path | bytes, name: str | None = None) -> Image.Image:
    """Decode a file path or raw bytes into an 8-bit RGB image (first frame of animations).

    EXIF orientation is applied, transparency is composited on white and 16-bit / 32-bit
    images are scaled (not clipped) to 8 bits. Pillow's decompression-bomb limit
    (``Image.MAX_IMAGE_PIXELS``) is enforced, already at its warning threshold. Any failure
    raises ``ImageDecodeError`` naming ``name`` (default: the file name).
    """
    if isinstance(source, bytes):
        if not source:
            raise ImageDecodeError(EMPTY_FILE.format(label=name or BYTES_LABEL))
        return _decode(io.BytesIO(source), name or BYTES_LABEL)
    path = Path(source)
    label = name or path.name
    try:
        with open(path, "rb") as handle:
            if not handle.read(1):
                raise ImageDecodeError(EMPTY_FILE.format(label=label))
            handle.seek(0)
            return _decode(handle, label)
    except OSError as exc:
        raise ImageDecodeError(f"'{label}' could not be read ({exc.strerror or exc}).") from exc


def _decode(stream: BinaryIO, label: str) -> Image.Image:
    """Open, fully load, orient and convert one image from ``stream``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                image.load()
                oriented = ImageOps.exif_transpose(image)
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(f"'{label}' is not an image (cannot identify image file).") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"'{label}' is too large to decode safely ({exc}).") from exc
    except CORRUPT_DATA_ERRORS as exc:
        raise ImageDecodeError(f"'{label}' is truncated or corrupt ({exc}).") from exc
    try:
        return _to_rgb(oriented)
    except ValueError as exc:
        raise ImageDecodeError(
            f"'{label}' uses colour mode {oriented.mode}, which cannot be converted to RGB."
        ) from exc


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB, compositing transparency on white."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = _to_8_bit_grey(image)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, WHITE)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _to_8_bit_grey(image: Image.Image) -> Image.Image:
    """Scale a 16/32-bit integer or float grey image to mode L without clipping.

    Integer data within 0..65535 is treated as 16-bit (divided by 257, so 65535 -> 255);
    anything else (floats, negative or wider integers) is stretched from its min..max.
    """
    values = np.nan_to_num(np.asarray(image, dtype=np.float64))
    low, high = float(values.min()), float(values.max())
    if image.mode != "F" and low >= 0 and high <= MAX_16_BIT:
        scaled = values / 257.0
    elif high > low:
        scaled = (values - low) / (high - low) * 255.0
    else:
        scaled = np.zeros_like(values)
    return Image.fromarray(np.rint(scaled).astype(np.uint8))


def image_fingerprint(image: Image.Image) -> str:
    """SHA-256 of the image's mode, size and pixel bytes (a cache key for decoded images)."""
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()
