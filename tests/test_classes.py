"""Class lists: display vs prompt names, empty names dropped, duplicates named."""

from __future__ import annotations

import pytest

from prompting.classes import ClassName, as_class_names, parse_class_list, read_class_file
from prompting.errors import ClassListError


def test_display_and_prompt_names_and_comments() -> None:
    classes = parse_class_list("# birds\ncrane | crane bird\n\n  heron  \nstork |\n")
    assert classes == [ClassName("crane", "crane bird"), ClassName("heron", "heron"), ClassName("stork", "stork")]
    assert [c.to_line() for c in classes] == ["crane | crane bird", "heron", "stork"]


def test_duplicates_are_named_case_insensitively() -> None:
    with pytest.raises(ClassListError, match="'Cat'") as info:
        parse_class_list("Cat\ndog\n cat \nDOG\n")
    assert "'dog'" in str(info.value)


def test_empty_list_is_rejected_and_blank_names_dropped() -> None:
    with pytest.raises(ClassListError, match="empty"):
        parse_class_list("\n   \n# only a comment\n")
    assert as_class_names(["cat", "  ", "dog"]) == [ClassName.plain("cat"), ClassName.plain("dog")]


def test_unreadable_file_names_the_path(tmp_path) -> None:
    with pytest.raises(ClassListError, match="missing.txt"):
        read_class_file(str(tmp_path / "missing.txt"))
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ClassListError, match="latin1.txt"):
        read_class_file(str(latin))


def test_a_prompt_name_without_a_shown_name_is_an_error_not_a_silent_drop() -> None:
    with pytest.raises(ClassListError, match="'\\| crane bird' has a prompt name but no shown name"):
        parse_class_list("heron\n| crane bird\n")
