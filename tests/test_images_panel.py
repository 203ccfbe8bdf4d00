"""The images card's count line: the gallery shows about two rows, so the count says how many there are."""

from __future__ import annotations

from components.panels.images_panel import GALLERY_COLUMNS, images_count


def test_the_count_names_every_image_and_says_when_the_gallery_must_be_scrolled() -> None:
    assert images_count(None) == images_count([]) == ""
    assert images_count([("a.png", None)]) == "1 image added."
    shown = GALLERY_COLUMNS * 2
    assert images_count([("x.png", None)] * shown) == f"{shown} images added."
    assert images_count([("x.png", None)] * 10) == "10 images added; scroll the gallery to see them all."
