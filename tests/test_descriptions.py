"""CuPL / DCLIP JSON files: loading published files as they are, exporting (matching: test_matching.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from prompting.errors import DescriptionsError
from prompting.strategies.descriptions import (
    export_descriptions,
    load_descriptions,
    read_descriptions,
    save_descriptions,
)

# Shaped like sarahpratt/CuPL all_prompts/*.json: indent 4, stray "\n" and spaces, repeats.
CUPL_PUBLISHED = """{
    "airplane": [
        "An airplane typically has two wings and a tail.",
        "An airplane typically has two wings and a tail.",
        "\\nAn airplane is a metal tube with wings."
    ],
    "bird": [
        " Birds have wings and feathers.",
        "Short answer: A bird has wings, a beak, and feathers."
    ]
}"""

# Shaped like classify_by_description_release descriptors/descriptors_*.json: one line, trailing spaces.
DCLIP_PUBLISHED = (
    '{"tench": ["freshwater fish", "greenish-brown body ", "red eyes"], '
    '"great white shark": ["large, grey-white body", "pointed snout"], '
    '"hammerhead_shark": ["hammer-shaped head"], "Mexican hairless dog (xoloitzcuintli)": ["hairless body"]}'
)



def test_load_published_cupl_file(tmp_path: Path) -> None:
    path = tmp_path / "cifar10_prompts_full.json"
    path.write_text(CUPL_PUBLISHED, encoding="utf-8")
    for source in (path, CUPL_PUBLISHED):
        assert load_descriptions(source) == {
            "airplane": [
                "An airplane typically has two wings and a tail.",
                "An airplane typically has two wings and a tail.",
                "An airplane is a metal tube with wings.",
            ],
            "bird": ["Birds have wings and feathers.", "Short answer: A bird has wings, a beak, and feathers."],
        }


def test_load_published_dclip_file_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "descriptors_imagenet.json"
    path.write_bytes(b"\xef\xbb\xbf" + DCLIP_PUBLISHED.encode("utf-8"))
    data = load_descriptions(path)
    assert data["tench"] == ["freshwater fish", "greenish-brown body", "red eyes"]
    assert list(data) == ["tench", "great white shark", "hammerhead_shark", "Mexican hairless dog (xoloitzcuintli)"]


def test_duplicate_keys_are_merged_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    text = '{"cat": ["a"], "dog": ["b"], "cat": ["c", "a"]}'
    with caplog.at_level(logging.WARNING):
        loaded = read_descriptions(text)
    assert loaded.data == {"cat": ["a", "c", "a"], "dog": ["b"]}
    assert loaded.duplicate_keys == ["cat"]
    assert "repeats keys cat" in caplog.text


def test_empty_lists_and_blank_strings_are_kept_as_empty_and_reported() -> None:
    # DCLIP's food101 file has "donuts": []; WaffleCLIP's cars file has a list of eight "".
    loaded = read_descriptions('{"cat": [], "dog": ["  ", "\\n"], "eel": ["long"]}')
    assert loaded.data == {"cat": [], "dog": [], "eel": ["long"]}
    assert loaded.empty_keys == ["cat", "dog"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('["a", "b"]', "must be a JSON object mapping class names to lists of strings, not a list"),
        ('"just text"', "not a string"),
        ("{}", "has no entries"),
        ("  ", "The descriptions text is empty"),
        ('{"cat": "a photo of a cat"}', "Entry 'cat' must be a list of strings, not a string"),
        ('{"cat": {"sentences": ["x"]}}', "Entry 'cat' must be a list of strings, not an object"),
        ('{"cat": ["ok", 3]}', "Entry 'cat' item 2 is a number, not a string"),
        ('{"cat": [null]}', "item 1 is null"),
        ('{"  ": ["x"]}', "empty class name"),
        ('{"cat": ["a"],\n "dog": ]}', "not valid JSON: Expecting value at line 2, column 9"),
    ],
)
def test_bad_shapes_are_rejected_with_the_problem_named(text: str, message: str) -> None:
    with pytest.raises(DescriptionsError, match=message.replace("(", "\\(").replace(")", "\\)")):
        load_descriptions(text)


def test_a_string_is_never_read_as_a_file_path(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    path.write_text('{"cat": ["x"]}', encoding="utf-8")
    with pytest.raises(DescriptionsError, match="not valid JSON"):
        load_descriptions(str(path))


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(DescriptionsError, match="Cannot read descriptions file"):
        load_descriptions(tmp_path / "missing.json")
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"caf\xe9": ["x"]}')
    with pytest.raises(DescriptionsError, match="is not UTF-8"):
        load_descriptions(bad)


def test_export_and_save_round_trip(tmp_path: Path) -> None:
    data = {"café": ["Une tasse.", "A cup  of  coffee. "], "tench": ["A fish."]}
    text = export_descriptions(data)
    assert json.loads(text) == {"café": ["Une tasse.", "A cup of coffee."], "tench": ["A fish."]}
    assert "café" in text  # UTF-8, not \\u escapes
    path = tmp_path / "out" / "cupl.json"
    save_descriptions(path, data)
    assert load_descriptions(path) == json.loads(text)
    assert [p.name for p in path.parent.iterdir()] == ["cupl.json"]  # no temporary left behind


def test_export_rejects_bad_data(tmp_path: Path) -> None:
    with pytest.raises(DescriptionsError, match="Entry 'cat' item 1 is a number"):
        export_descriptions({"cat": [1]})
    path = tmp_path / "keep.json"
    path.write_text('{"old": ["x"]}', encoding="utf-8")
    with pytest.raises(DescriptionsError):
        save_descriptions(path, {"cat": "not a list"})
    assert path.read_text(encoding="utf-8") == '{"old": ["x"]}'
