"""Templates: CLIP's published ImageNet lists, parsing user templates, filling them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from prompting.errors import StrategyError
from prompting.strategies.templates import (
    DEFAULT_TEMPLATE,
    IMAGENET_TEMPLATES,
    IMAGENET_TEMPLATES_7,
    fill,
    parse_templates,
    read_template_file,
)


def test_imagenet_templates_are_clips_80_in_order() -> None:
    assert len(IMAGENET_TEMPLATES) == 80
    assert len(set(IMAGENET_TEMPLATES)) == 80
    assert IMAGENET_TEMPLATES[0] == "a bad photo of a {}."
    assert IMAGENET_TEMPLATES[1] == "a photo of many {}."
    assert IMAGENET_TEMPLATES[39] == "a photo of a {}."
    assert IMAGENET_TEMPLATES[59] == "itap of the {}."
    assert IMAGENET_TEMPLATES[-1] == "a tattoo of the {}."
    assert all(t.count("{}") == 1 for t in IMAGENET_TEMPLATES)


def test_seven_template_subset_is_verbatim_and_drawn_from_the_80() -> None:
    assert IMAGENET_TEMPLATES_7 == (
        "itap of a {}.",
        "a bad photo of the {}.",
        "a origami {}.",
        "a photo of the large {}.",
        "a {} in a video game.",
        "art of the {}.",
        "a photo of the small {}.",
    )
    assert set(IMAGENET_TEMPLATES_7) <= set(IMAGENET_TEMPLATES)


def _sha256_lines(items: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(items).encode("utf-8")).hexdigest()


# Checksums of "\n".join(templates), taken from the tuples after they were checked against
# open_clip's OPENAI_IMAGENET_TEMPLATES / SIMPLE_IMAGENET_TEMPLATES (CLIP's ImageNet notebook):
# any edit, reordering, added or dropped template changes them.
IMAGENET_80_SHA256 = "4f976686fb651bb5803d4689dcd849f75efe0ef19a3c801355bc9a6f03c8a5af"
IMAGENET_7_SHA256 = "6ef3883987d224b7949da69fe0b615af152e1560eaac4c5c38555e50c882d415"


def test_the_80_templates_are_pinned_by_checksum() -> None:
    assert isinstance(IMAGENET_TEMPLATES, tuple) and len(IMAGENET_TEMPLATES) == 80
    assert _sha256_lines(IMAGENET_TEMPLATES) == IMAGENET_80_SHA256


def test_the_7_templates_are_pinned_by_checksum() -> None:
    assert isinstance(IMAGENET_TEMPLATES_7, tuple) and len(IMAGENET_TEMPLATES_7) == 7
    assert _sha256_lines(IMAGENET_TEMPLATES_7) == IMAGENET_7_SHA256


def test_the_checksum_notices_a_one_character_edit() -> None:
    edited = (IMAGENET_TEMPLATES[0].replace("photo", "photos"), *IMAGENET_TEMPLATES[1:])
    assert _sha256_lines(edited) != IMAGENET_80_SHA256
    assert _sha256_lines(IMAGENET_TEMPLATES_7[::-1]) != IMAGENET_7_SHA256


def test_default_template() -> None:
    assert DEFAULT_TEMPLATE == "a photo of a {}."
    assert fill(DEFAULT_TEMPLATE, "golden retriever") == "a photo of a golden retriever."


def test_fill_does_not_interpret_braces_in_names() -> None:
    assert fill("a {} in a video game.", "set {0}") == "a set {0} in a video game."


def test_fill_rejects_template_without_placeholder() -> None:
    with pytest.raises(StrategyError, match="no"):
        fill("a photo of a dog.", "cat")


def test_parse_skips_blank_and_comment_lines() -> None:
    text = "# my templates\n\n  a photo of a {}.  \nart of the {}.\n   \n# end\n"
    assert parse_templates(text) == ["a photo of a {}.", "art of the {}."]


@pytest.mark.parametrize(
    ("text", "line", "bad"),
    [
        ("a photo of a {}.\na photo of a dog.", 2, "a photo of a dog."),
        ("# c\n{} and {}", 2, "{} and {}"),
    ],
)
def test_parse_names_the_bad_line(text: str, line: int, bad: str) -> None:
    with pytest.raises(StrategyError) as info:
        parse_templates(text)
    assert f"Line {line}" in str(info.value)
    assert bad in str(info.value)


def test_parse_rejects_text_without_templates() -> None:
    with pytest.raises(StrategyError, match="No templates"):
        parse_templates("# only a comment\n\n")


def test_read_template_file(tmp_path: Path) -> None:
    path = tmp_path / "templates.txt"
    path.write_text("a sketch of a {}.\n# skip\na toy {}.\n", encoding="utf-8")
    assert read_template_file(str(path)) == ["a sketch of a {}.", "a toy {}."]


def test_read_missing_template_file_raises_strategy_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(StrategyError, match="Cannot read template file"):
        read_template_file(str(missing))
