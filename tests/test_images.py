"""Image decoding: every case is built in memory with Pillow."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageSequence

from prompting.encoding.images import IMAGE_EXTENSIONS, decode_size, image_fingerprint, load_image
from prompting.errors import ImageDecodeError

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _close(pixel: Any, expected: tuple[int, ...], tolerance: int = 8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def test_exif_orientation_6_rotates_clockwise() -> None:
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated; display needs a 90 degree clockwise turn
    loaded = load_image(_encode(image, "JPEG", exif=exif, quality=95))
    assert loaded.size == (20, 40)
    assert _close(loaded.getpixel((10, 5)), RED)  # the left half is now on top
    assert _close(loaded.getpixel((10, 35)), BLUE)


def test_rgba_is_composited_on_white() -> None:
    pixels = np.zeros((1, 3, 4), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 0, 0)  # fully transparent red
    pixels[0, 1] = (0, 0, 255, 255)  # opaque blue
    pixels[0, 2] = (0, 0, 0, 128)  # half-transparent black
    loaded = load_image(_encode(Image.fromarray(pixels, "RGBA"), "PNG"))
    assert loaded.mode == "RGB"
    assert loaded.getpixel((0, 0)) == WHITE
    assert loaded.getpixel((1, 0)) == BLUE
    assert _close(loaded.getpixel((2, 0)), (127, 127, 127), tolerance=1)


def test_la_and_palette_transparency_become_white() -> None:
    la = Image.fromarray(np.array([[[0, 0], [0, 255]]], dtype=np.uint8), "LA")
    loaded = load_image(_encode(la, "PNG"))
    assert [loaded.getpixel((x, 0)) for x in range(2)] == [WHITE, (0, 0, 0)]
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255])
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    loaded = load_image(_encode(palette, "PNG", transparency=0))
    assert [loaded.getpixel((x, 0)) for x in range(2)] == [WHITE, BLUE]


def test_sixteen_bit_gradient_maps_to_full_8_bit_range() -> None:
    gradient = np.tile(np.linspace(0, 65535, 256).round().astype(np.uint16), (2, 1))
    source = Image.fromarray(gradient)
    assert source.mode == "I;16"
    loaded = np.asarray(load_image(_encode(source, "PNG"), name="depth.png"))
    assert loaded.shape == (2, 256, 3)
    np.testing.assert_array_equal(loaded[0, :, 0], np.arange(256))  # 257 * i -> i, not clipped


def test_32_bit_integer_tiff_within_16_bits_is_scaled() -> None:
    values = np.array([[0, 257 * 100, 65535]], dtype=np.int32)
    source = Image.fromarray(values)
    assert source.mode == "I"
    loaded = load_image(_encode(source, "TIFF"))
    assert [loaded.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (100, 100, 100), WHITE]


def test_float_image_is_stretched() -> None:
    source = Image.fromarray(np.array([[-2.0, 0.0, 2.0]], dtype=np.float32))
    loaded = load_image(_encode(source, "TIFF"))
    assert np.asarray(loaded)[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    ("mode", "color", "expected"),
    [("CMYK", (0, 255, 255, 0), RED), ("L", 128, (128, 128, 128)), ("1", 1, WHITE)],
)
def test_other_modes_convert_to_rgb(mode: str, color: float | tuple[int, ...], expected: tuple[int, int, int]) -> None:
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    loaded = load_image(_encode(Image.new(mode, (4, 4), color), fmt, **({"quality": 100} if fmt == "JPEG" else {})))
    assert loaded.mode == "RGB"
    assert _close(loaded.getpixel((1, 1)), expected, tolerance=2)


def test_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), color) for color in (RED, BLUE, (0, 255, 0))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert sum(1 for _ in ImageSequence.Iterator(Image.open(io.BytesIO(data)))) == 3
    loaded = load_image(data, name="anim.gif")
    assert loaded.mode == "RGB"
    assert loaded.getpixel((4, 4)) == RED


def test_loads_from_path(tmp_path: Path) -> None:
    path = tmp_path / "blue.png"
    Image.new("RGB", (3, 2), BLUE).save(path)
    loaded = load_image(path)
    assert (loaded.size, loaded.getpixel((2, 1))) == ((3, 2), BLUE)
    assert load_image(str(path)).getpixel((0, 0)) == BLUE


def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("shopping list")
    with pytest.raises(ImageDecodeError, match=r"^'notes\.txt' is not an image \(cannot identify image file\)"):
        load_image(path)


def test_an_empty_file_is_called_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match=r"^'empty\.png' is an empty file \(0 bytes\), not an image\.$"):
        load_image(empty)
    with pytest.raises(ImageDecodeError, match="'paste' is an empty file"):
        load_image(b"", name="paste")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ImageDecodeError, match=r"'gone\.jpg' could not be read \(No such file"):
        load_image(tmp_path / "gone.jpg")


def test_truncated_jpeg_fails_on_load() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _encode(Image.fromarray(noise), "JPEG", quality=90)
    with pytest.raises(ImageDecodeError, match=r"^'x\.jpg' is truncated or corrupt"):
        load_image(data[: len(data) // 2], name="x.jpg")


@pytest.mark.parametrize("side", [12, 20])  # 144 pixels: Pillow warns; 400 pixels: Pillow raises
def test_decompression_bomb_limit_is_an_error(monkeypatch: pytest.MonkeyPatch, side: int) -> None:
    data = _encode(Image.new("RGB", (side, side), RED), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageDecodeError, match=r"^'big\.png' is too large"):
        load_image(data, name="big.png")


def test_bytes_without_name_get_a_generic_label() -> None:
    with pytest.raises(ImageDecodeError, match=r"^'image data' is not an image"):
        load_image(b"\x00\x01\x02")


def test_fingerprint_depends_on_pixels_mode_and_size() -> None:
    base = Image.new("RGB", (2, 2), RED)
    assert image_fingerprint(base) == image_fingerprint(Image.new("RGB", (2, 2), RED))
    assert len(image_fingerprint(base)) == 64
    others = [Image.new("RGB", (2, 2), BLUE), Image.new("RGB", (4, 1), RED), base.convert("RGBA")]
    assert len({image_fingerprint(base), *map(image_fingerprint, others)}) == 4


def test_image_extensions_are_lowercase_with_dot() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp"} <= IMAGE_EXTENSIONS
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)


def _processed(image: Image.Image, side: int = 30) -> np.ndarray:
    """What a CLIP processor resizing to ``side`` feeds the model."""
    from transformers import CLIPImageProcessor

    processor = CLIPImageProcessor(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    return processor(images=[image], return_tensors="np")["pixel_values"][0]


def _photo_like(width: int, height: int) -> Image.Image:
    """A real photograph (scikit-image's cat) at a camera's resolution."""
    from skimage import data

    return Image.fromarray(data.chelsea()).resize((width, height), Image.Resampling.BICUBIC)


def test_large_jpeg_is_decoded_in_draft_mode_at_model_size(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    _photo_like(2400, 1600).save(path, quality=92)
    assert decode_size(path) == (2400, 1600)
    assert decode_size(path, min_side=30) == (300, 200)  # DCT scaling by 1/8 keeps >= 3 x 30 on the short side
    small = load_image(path, min_side=30)
    assert small.mode == "RGB" and small.size == (150, 100)  # then halved: still >= 90 on the short side
    full = load_image(path)
    assert full.size == (2400, 1600)
    # what the model sees differs by resampling only
    assert np.abs(_processed(small) - _processed(full)).mean() < 0.01  # measured: 0.005


def test_a_photograph_drafted_at_twice_the_model_side_looks_the_same_to_the_model(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    _photo_like(1600, 1200).save(path, quality=92)
    drafted = load_image(path, min_side=224)
    assert drafted.size == (800, 600)  # DCT scaling by 1/2 keeps >= 2 x 224 on the short side
    assert np.abs(_processed(drafted, 224) - _processed(load_image(path), 224)).mean() < 0.01  # measured: 0.003


def test_small_png_declaring_8000_by_8000_is_reduced_right_after_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    Image.new("L", (8000, 8000), 200).save(path)
    assert path.stat().st_size < 300_000
    assert decode_size(path, min_side=30) == (8000, 8000)  # PNG has no draft mode: all of it is decoded once
    loaded = load_image(path, name="huge.png", min_side=224)
    assert loaded.size == (728, 728) and loaded.mode == "RGB"  # reduced by 11: short side >= 3 x 224
    assert loaded.getpixel((5, 5)) == (200, 200, 200)


def test_reduced_decoding_keeps_orientation_transparency_and_palettes() -> None:
    image = _photo_like(1600, 800)
    image.paste(RED, (0, 0, 800, 800))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = load_image(_encode(image, "JPEG", exif=exif, quality=95), min_side=30)
    assert rotated.width < rotated.height and min(rotated.size) >= 90
    assert _close(rotated.getpixel((rotated.width // 2, 5)), RED, tolerance=12)  # the red half is on top
    palette = image.convert("P", palette=Image.Palette.ADAPTIVE)
    palette.info["transparency"] = palette.getpixel((1500, 400))
    loaded = load_image(_encode(palette, "PNG", transparency=palette.info["transparency"]), min_side=30)
    assert loaded.mode == "RGB" and loaded.size == (200, 100)  # reduced by 8


def test_decode_size_of_what_is_no_image_is_none(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    assert decode_size(tmp_path / "notes.txt", 30) is None
    assert decode_size(tmp_path / "missing.png", 30) is None
