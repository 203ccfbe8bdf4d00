"""The page's class-list card: presets, import, export and the live verdict, called directly."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from components.panels.classes_panel import (
    EXAMPLES_PRESET,
    _export_list,
    _import_list,
    _load_preset,
    class_status,
    preset_choices,
)
from prompting.classes import parse_class_list
from prompting.data.examples import EXAMPLE_CLASSES
from prompting.strategies.classsets import get_class_set
from prompting.strategies.templates import IMAGENET_TEMPLATES

SKIP = gr.skip()


@pytest.fixture(autouse=True)
def _downloads_under_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Exported files go to this test's own Gradio folder, not the shared one."""
    folder = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def test_the_menu_offers_the_examples_then_every_class_set_with_its_size() -> None:
    assert preset_choices() == [
        ("Example photos (10 classes)", EXAMPLES_PRESET),
        ("CIFAR-10 (10 classes)", "cifar10"),
        ("CIFAR-100 (100 classes)", "cifar100"),
        ("ImageNet-1k (1000 classes)", "imagenet1k"),
        ("Food-101 (101 classes)", "food101"),
        ("Oxford-IIIT Pets (37 classes)", "pets"),
        ("Oxford Flowers 102 (102 classes)", "flowers102"),
        ("EuroSAT (10 classes)", "eurosat"),
        ("Stanford Cars (196 classes)", "cars"),
    ]


def test_a_data_set_preset_fills_the_classes_and_its_templates() -> None:
    classes, templates = _load_preset("eurosat")
    assert classes.splitlines() == [
        "annual crop land", "forest", "brushland or shrubland", "highway or road",
        "industrial buildings or commercial buildings", "pasture land", "permanent crop land",
        "residential buildings or homes or apartments", "river", "lake or sea",
    ]
    assert templates.splitlines() == [
        "a centered satellite photo of {}.", "a centered satellite photo of a {}.", "a centered satellite photo of the {}.",
    ]
    assert class_status(classes) == "✓ 10 classes"


def test_the_imagenet_preset_keeps_its_renamed_lines_and_the_80_templates() -> None:
    classes, templates = _load_preset("imagenet1k")
    lines = classes.splitlines()
    assert len(lines) == 1000 and lines[0] == "tench" and lines[-1] == "toilet paper"
    assert lines[744] == "projectile | missile" and lines[836] == "sunglass | sunglasses"
    assert tuple(templates.splitlines()) == IMAGENET_TEMPLATES
    # the loaded text is a valid list (the two renamed classes keep it free of duplicates)
    assert len(parse_class_list(classes)) == 1000
    assert class_status(classes) == "✓ 1000 classes · 2 prompted under another name"


@pytest.mark.parametrize("key", ["cifar10", "cifar100", "food101", "pets", "flowers102", "cars"])
def test_every_preset_loads_exactly_its_class_set(key: str) -> None:
    preset = get_class_set(key)
    classes, templates = _load_preset(key)
    assert classes == "\n".join(preset.classes)
    assert templates == "\n".join(preset.templates)


def test_the_example_preset_keeps_the_custom_templates() -> None:
    assert _load_preset(EXAMPLES_PRESET) == (EXAMPLE_CLASSES, SKIP)
    assert class_status(EXAMPLE_CLASSES) == "✓ 10 classes · 2 prompted under another name"


@pytest.mark.parametrize("key", [None, ""])
def test_clearing_the_menu_changes_nothing(key: str | None) -> None:
    assert _load_preset(key) == (SKIP, SKIP)


def test_an_unknown_preset_is_a_readable_error() -> None:
    with pytest.raises(gr.Error, match=r"Unknown class set 'mnist'\. Choose one of: cifar10, cifar100, imagenet1k"):
        _load_preset("mnist")


def test_importing_a_text_file_normalises_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("# my classes\n\n  cat  \ncrane|crane bird\n\ndog | \n", encoding="utf-8")
    text = _import_list(str(path))
    assert text == "cat\ncrane | crane bird\ndog"
    assert class_status(text) == "✓ 3 classes · 1 prompted under another name"


def test_importing_nothing_changes_nothing() -> None:
    assert _import_list(None) == SKIP


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"cat\nDog\ndog \n", r"Duplicate class names \(case-insensitive\): 'Dog'\. Each class must appear once\."),
        (b"# only a comment\n\n", r"The class list is empty: enter at least one class name"),
        (b"caf\xe9\n", r"Cannot read class list file '.*latin1\.txt'"),
    ],
)
def test_an_unusable_file_is_refused_with_the_reason(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(content)
    with pytest.raises(gr.Error, match=message) as caught:
        _import_list(str(path))
    assert caught.value.title == "Could not import the class list"


def test_a_missing_file_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(gr.Error, match=r"Cannot read class list file '.*nope\.txt': No such file or directory\."):
        _import_list(str(tmp_path / "nope.txt"))


def test_export_writes_the_same_lines_and_shows_the_file(_downloads_under_tmp: Path) -> None:
    text = "cat\ndog | small dog\nbird"
    exported = _export_list(text)
    assert isinstance(exported, gr.File) and exported.visible is True
    path = Path(exported.value["path"])
    assert path.name == "classes.txt" and _downloads_under_tmp in path.parents
    assert path.read_text(encoding="utf-8") == text + "\n"
    # a round trip through import gives the list back unchanged
    assert _import_list(str(path)) == text


def test_export_drops_comments_and_blank_lines_and_each_export_is_a_new_file() -> None:
    first = Path(_export_list("# mine\n\n  cat \ncrane|crane bird\n").value["path"])
    second = Path(_export_list("cat\ncrane | crane bird").value["path"])
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8") == "cat\ncrane | crane bird\n"
    assert first != second


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"The class list is empty: enter at least one class name, one per line\."),
        ("cat\nCAT", r"Duplicate class names \(case-insensitive\): 'cat'\. Each class must appear once\."),
    ],
)
def test_an_invalid_list_is_not_exported(text: str, message: str, _downloads_under_tmp: Path) -> None:
    with pytest.raises(gr.Error, match=message) as caught:
        _export_list(text)
    assert caught.value.title == "Nothing to export"
    assert not _downloads_under_tmp.exists()


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("cat\ndog\nbird", "✓ 3 classes"),
        ("cat\ndog | small dog", "✓ 2 classes · 1 prompted under another name"),
        ("cat\n# dog\n\n", ("⚠️ 1 class: a softmax over one class is always 1.00, so add at least one more class "
                            "(the ones the images could be mistaken for).")),
        ("", r"⚠️ The class list is empty\: enter at least one class name, one per line\."),
        ("  \n# only a comment\n", r"⚠️ The class list is empty\: enter at least one class name, one per line\."),
        ("cat\ndog\nCat \nDOG\nbird",
         r"⚠️ Duplicate class names \(case\-insensitive\)\: 'cat', 'dog'\. Each class must appear once\."),
    ],
)
def test_the_verdict_counts_or_says_what_is_wrong(text: str, verdict: str) -> None:
    assert class_status(text) == verdict


def test_the_verdict_names_the_class_limit() -> None:
    assert class_status("a\nb\nc", max_classes=2) == "⚠️ 3 classes: one run accepts at most 2."
    assert class_status("a\nb", max_classes=2) == "✓ 2 classes"


def test_typed_text_in_the_verdict_is_escaped() -> None:
    verdict = class_status("[x](http://evil)\n[X](HTTP://EVIL)")
    assert verdict.startswith("⚠️ Duplicate class names")
    assert "[x](http://evil)" not in verdict and r"\[x\]\(http\://evil\)" in verdict
