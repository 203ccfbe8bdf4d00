"""FuDD pair-description files: our JSON shape, the authors' numbered format, matching to a class
list, and clear errors for malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompting.classes import parse_class_list
from prompting.errors import DescriptionsError
from prompting.strategies.fudd_pairs import (
    Difference,
    PairDescriptions,
    load_pair_files,
    load_pairs,
    match_pairs,
    merge_pairs,
    pairs_to_json,
    parse_pair_lines,
    save_pairs,
)

OURS = {"pairs": [
    {"classes": ["crane", "heron"], "descriptions": [
        {"attribute": "neck", "crane": "a photo of a crane,  with a straight neck.", "heron": "a photo of a heron, with an S-neck."},
        {"attribute": "legs", "Crane": "same", "HERON": "same"},
    ]},
    {"classes": ["Heron", "Crane"], "descriptions": [
        {"attribute": "crest", "heron": "a photo of a heron, with a black crest.", "crane": "a photo of a crane, with a red crown."},
    ]},
]}
# The authors' layout (BatsResearch/fudd differential_descriptions/): ids into a class-name list.
AUTHORS = {
    "0_2": {"classes": [0, 2], "prompt_pairs": [
        {"attr_type": "texture", "prompt_pair": ["a satellite image of brushland, rough.", "a satellite image of buildings, smooth."]},
    ]},
    "1_2": {"classes": [1, 2], "prompt_pairs": [
        {"attr_type": "color", "prompt_pair": ["a satellite image of forest, dark green.", "a satellite image of buildings, grey."]},
        {"attr_type": "shape", "prompt_pair": ["a satellite image of forest, irregular.", "a satellite image of buildings, grid-like."]},
    ]},
}
AUTHOR_NAMES = ["brushland or shrubland", "forest", "industrial buildings"]


def test_our_shape_loads_cleans_merges_and_round_trips(tmp_path: Path) -> None:
    loaded = load_pairs(json.dumps(OURS))
    [pair] = loaded.pairs  # the reversed pair is merged into the first
    assert (pair.first, pair.second) == ("crane", "heron")
    assert pair.differences == [
        Difference("neck", "a photo of a crane, with a straight neck.", "a photo of a heron, with an S-neck."),
        Difference("crest", "a photo of a crane, with a red crown.", "a photo of a heron, with a black crest."),
    ]
    assert loaded.dropped == 1 and loaded.merged == ["crane | heron"]  # identical captions tell nothing apart
    assert "2 differential descriptions" in loaded.summary() and "dropped" in loaded.summary()
    path = tmp_path / "pairs.json"
    save_pairs(path, loaded.pairs)
    assert load_pairs(path).pairs == loaded.pairs
    assert json.loads(pairs_to_json(loaded.pairs))["pairs"][0]["descriptions"][0]["heron"] == pair.differences[0].second


def test_the_authors_format_loads_with_their_class_names(tmp_path: Path) -> None:
    pairs = load_pairs(json.dumps(AUTHORS), AUTHOR_NAMES).pairs
    assert [(p.first, p.second, len(p.differences)) for p in pairs] == [
        ("brushland or shrubland", "industrial buildings", 1), ("forest", "industrial buildings", 2)]
    assert pairs[1].differences[1] == Difference("shape", "a satellite image of forest, irregular.",
                                                 "a satellite image of buildings, grid-like.")
    assert load_pairs(json.dumps({**AUTHORS, "class_names": AUTHOR_NAMES})).pairs == pairs
    folder = tmp_path / "differential_descriptions"
    folder.mkdir()
    (folder / "eurosat_prompt_pairs.json").write_text(json.dumps(AUTHORS))
    with pytest.raises(DescriptionsError, match="class-name list"):
        load_pairs(folder / "eurosat_prompt_pairs.json")
    (folder / "eurosat_class_names.json").write_text(json.dumps(AUTHOR_NAMES))
    assert load_pairs(folder / "eurosat_prompt_pairs.json").pairs == pairs  # the names file beside it
    uploads = [tmp_path / "a.json", tmp_path / "b.json"]
    uploads[0].write_text(json.dumps(AUTHOR_NAMES))
    uploads[1].write_text(json.dumps(AUTHORS))
    assert load_pair_files(uploads).pairs == pairs
    with pytest.raises(DescriptionsError, match="Import one FuDD descriptions file"):
        load_pair_files([uploads[0]])


@pytest.mark.parametrize(("payload", "message"), [
    ("[1, 2]", "must be an object"),
    ("{\"pairs\": [{\"classes\": [\"a\"]}]}", r"Pair 1 .*\[two class names\]"),
    ("{\"pairs\": [{\"classes\": [\"a\", \"A\"]}]}", "same class twice"),
    ("{\"pairs\": [{\"classes\": [\"a\", \"b\"], \"descriptions\": [{\"a\": \"x\"}]}]}", "no caption for 'b'"),
    ("{\"pairs\": [{\"classes\": [\"a\", \"b\"], \"descriptions\": [{\"a\": 1, \"b\": \"y\"}]}]}", "must be a string"),
    ("{\"0_1\": {\"classes\": [0, 9], \"prompt_pairs\": []}, \"class_names\": [\"a\", \"b\"]}", "below 2"),
    ("{\"0_1\": {\"classes\": [0, 1], \"prompt_pairs\": [{\"prompt_pair\": [\"x\"]}]}, \"class_names\": [\"a\", \"b\"]}",
     "item 1 needs"),
    ("{not json", "not valid JSON"),
    ("  ", "empty"),
])
def test_malformed_files_get_specific_errors(payload: str, message: str) -> None:
    with pytest.raises(DescriptionsError, match=message):
        load_pairs(payload)


def test_names_match_the_class_list_forgivingly_and_unknown_names_are_listed() -> None:
    classes = parse_class_list("Crane | crane bird\ngreat_white_heron\nexcavator")
    pairs = [
        PairDescriptions("crane bird", "Great White Heron", [Difference("neck", "c", "h")]),
        PairDescriptions("excavator", "CRANE", [Difference("arm", "e", "c2")]),
        PairDescriptions("owl", "crane", [Difference("x", "o", "c3")]),
    ]
    match = match_pairs(classes, pairs)
    assert match.differences == {(0, 1): [("neck", "c", "h")], (0, 2): [("arm", "c2", "e")]}
    assert match.unknown == ["owl"] and match.texts_for(0) == ["c", "c2"]


def test_pair_lines_and_merging() -> None:
    assert parse_pair_lines("# look-alikes\ncrane | heron\n\nheron|crane\n sedan |  hatchback ") == [
        ("crane", "heron"), ("sedan", "hatchback")]
    for bad, message in (("crane", "Line 1"), ("a | b | c", "Line 1"), ("a | a", "same class twice"), ("#", "no pairs")):
        with pytest.raises(DescriptionsError, match=message):
            parse_pair_lines(bad)
    old = [PairDescriptions("a", "b", [Difference("", "x", "y")]), PairDescriptions("a", "c", [])]
    new = [PairDescriptions("B", "a", [Difference("", "y2", "x2")]), PairDescriptions("c", "d", [])]
    merged = merge_pairs(old, new)
    assert [(p.first, p.second) for p in merged] == [("B", "a"), ("a", "c"), ("c", "d")]
