"""FastPixels makes exactly the tensor transformers' PIL image processor makes, and hands over
to the processor for anything it does not replicate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor
from transformers.image_processing_backends import PilBackend
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

from prompting.encoding.models import load_model
from prompting.encoding.pixels import fast_pixels, value_table
from prompting.encoding.workers import map_in_workers

# Landscape, portrait, square, odd sizes, thinner than the crop, much larger than the model side.
SIZES = [(320, 240), (240, 320), (224, 224), (301, 227), (225, 531), (97, 61), (30, 300), (1000, 17), (699, 700)]


def _photos(seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    photos = []
    for width, height in SIZES:
        smooth = rng.integers(0, 256, size=(height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
        base = Image.fromarray(smooth).resize((width, height), Image.BICUBIC)
        noise = rng.integers(-20, 21, size=(height, width, 3))
        photos.append(Image.fromarray(np.clip(np.asarray(base, dtype=int) + noise, 0, 255).astype(np.uint8)))
    return photos


def _reference(processor, images: list[Image.Image]) -> torch.Tensor:
    """What the processor itself makes, one image at a time (sizes differ before the crop)."""
    return torch.cat([processor(images=[image], return_tensors="pt")["pixel_values"] for image in images])


PROCESSORS = {
    "clip": CLIPImageProcessorPil(),
    "siglip": SiglipImageProcessorPil(),
    "clip, bilinear, crop larger than the resize (padding)": CLIPImageProcessorPil(
        size={"shortest_edge": 64}, crop_size={"height": 80, "width": 72}, resample=2),
    "one number as mean and std, no rescale": SiglipImageProcessorPil(
        size={"height": 48, "width": 40}, image_mean=0.25, image_std=0.5, do_rescale=False),
    "rescale only": CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                          do_normalize=False, resample=1),
}


@pytest.mark.parametrize("name", list(PROCESSORS))
def test_pixels_are_bit_for_bit_the_processors(name: str) -> None:
    processor = PROCESSORS[name]
    fast = fast_pixels(processor)
    assert fast is not None
    photos = _photos()
    expected = _reference(processor, photos)
    got = torch.cat([fast([photo]) for photo in photos])
    assert got.dtype == torch.float32 and got.shape == expected.shape
    assert torch.equal(got, expected)


def test_a_batch_of_one_size_equals_the_processors_batch(tiny_clip_dir: Path) -> None:
    """The checkpoint's own processor, loaded with from_pretrained, on a batch."""
    processor = AutoImageProcessor.from_pretrained(tiny_clip_dir)
    fast = fast_pixels(processor)
    assert fast is not None
    photos = [photo.resize((320, 240)) for photo in _photos(1)]
    assert torch.equal(fast(photos), processor(images=photos, return_tensors="pt")["pixel_values"])


def test_value_table_applies_the_processors_arithmetic() -> None:
    table = value_table(1 / 255, (0.5, 0.25, 0.0), (0.5, 0.5, 2.0))
    assert table.shape == (3, 256) and table.dtype == np.float32
    assert table[0, 0] == np.float32(-1.0) and table[0, 255] == np.float32(1.0)
    assert table[2, 255] == np.float32(0.5)
    assert table[1, 51] == (np.float32(51 / 255) - np.float32(0.25)) / np.float32(0.5)


class OwnResize(CLIPImageProcessorPil):
    """A processor with its own resize step, which FastPixels must not imitate."""

    def resize(self, image, size, resample=None, reducing_gap=None, **kwargs):  # noqa: ANN001, ANN201
        return super().resize(image, size, resample, reducing_gap=2.0, **kwargs)


@pytest.mark.parametrize("processor", [
    OwnResize(),
    CLIPImageProcessorPil(do_pad=True),
    CLIPImageProcessorPil(do_resize=False),
    CLIPImageProcessorPil(size={"shortest_edge": 224, "longest_edge": 300}),
    CLIPImageProcessorPil(do_rescale=False, do_normalize=False),
    CLIPImageProcessorPil(image_mean=[0.5, 0.5]),
], ids=["overridden step", "padding", "no resize", "longest edge", "8-bit output", "two-channel mean"])
def test_anything_else_is_left_to_the_processor(processor: PilBackend) -> None:
    assert fast_pixels(processor) is None


def test_non_rgb_images_are_left_to_the_processor() -> None:
    fast = fast_pixels(CLIPImageProcessorPil())
    assert fast([Image.new("L", (50, 40))]) is None
    assert fast([]) is None


@pytest.mark.parametrize("fixture", ["tiny_clip_dir", "tiny_siglip_dir"])
def test_encoder_embeddings_equal_the_processor_path(fixture: str, request: pytest.FixtureRequest) -> None:
    encoder = load_model(str(request.getfixturevalue(fixture)))
    photos = _photos(2)
    processor = encoder.processor.image_processor
    assert fast_pixels(processor) is not None
    pixels = _reference(processor, photos)
    with torch.inference_mode():
        features = encoder.model.get_image_features(pixel_values=pixels).pooler_output
    expected = torch.nn.functional.normalize(features, dim=-1).numpy()
    got = np.concatenate([encoder.encode_images([photo]) for photo in photos])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_workers_keep_order_and_raise_the_first_error() -> None:
    assert map_in_workers(lambda x: x * x, range(50)) == [x * x for x in range(50)]

    def fail_on_seven(x: int) -> int:
        if x == 7:
            raise ValueError("seven")
        return x

    with pytest.raises(ValueError, match="seven"):
        map_in_workers(fail_on_seven, range(20))
