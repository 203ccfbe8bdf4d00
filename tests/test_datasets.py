"""Folder scanning on trees built in tmp_path (files are not decoded, so contents are dummies)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prompting.data.datasets import ScannedFolder, scan_folder, with_classes
from prompting.errors import DatasetError


def _touch(root: Path, *relative: str) -> None:
    for rel in relative:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not decoded")


def _relative(scanned: ScannedFolder, root: Path) -> list[tuple[str, int | None]]:
    return [(path.relative_to(root).as_posix(), label) for path, label in scanned.items]


def test_class_folders_give_sorted_classes_and_labels(tmp_path: Path) -> None:
    _touch(tmp_path, "dog/b.png", "dog/a.JPG", "cat/z.jpeg", "cat/nested/y.webp", "cat/readme.txt")
    scanned = scan_folder(tmp_path)
    assert scanned.labeled
    assert scanned.classes == ["cat", "dog"]
    assert _relative(scanned, tmp_path) == [
        ("cat/nested/y.webp", 0),
        ("cat/z.jpeg", 0),
        ("dog/a.JPG", 1),
        ("dog/b.png", 1),
    ]


def test_flat_folder_is_unlabeled(tmp_path: Path) -> None:
    _touch(tmp_path, "b.Png", "a.gif", "notes.txt", "empty_dir/readme.md")
    scanned = scan_folder(str(tmp_path))
    expected_items: list[tuple[Path, int | None]] = [(tmp_path / "a.gif", None), (tmp_path / "b.Png", None)]
    assert scanned == ScannedFolder(classes=[], items=expected_items, labeled=False)


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    _touch(tmp_path, "cat/.hidden.jpg", "cat/ok.jpg", ".cache/cat.jpg", "__MACOSX/cat/._ok.jpg", "cat/.thumbs/t.jpg")
    scanned = scan_folder(tmp_path)
    assert scanned.classes == ["cat"]
    assert _relative(scanned, tmp_path) == [("cat/ok.jpg", 0)]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks_outside_root_are_ignored(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    root = tmp_path / "data"
    _touch(outside, "secret.jpg", "cls/s.jpg")
    _touch(root, "cat/real.jpg")
    (root / "cat" / "escape.jpg").symlink_to(outside / "secret.jpg")
    (root / "cat" / "inside.jpg").symlink_to(root / "cat" / "real.jpg")
    (root / "stolen").symlink_to(outside / "cls", target_is_directory=True)
    scanned = scan_folder(root)
    assert scanned.classes == ["cat"]
    assert _relative(scanned, root) == [("cat/inside.jpg", 0), ("cat/real.jpg", 0)]


def test_mixed_layout_is_refused(tmp_path: Path) -> None:
    _touch(tmp_path, "loose.jpg", "cat/a.jpg")
    expected = r"mixes images at its top level \('loose\.jpg'\) with class folders \('cat'\)"
    with pytest.raises(DatasetError, match=expected):
        scan_folder(tmp_path)


def test_empty_class_folder_is_named(tmp_path: Path) -> None:
    _touch(tmp_path, "cat/a.jpg", "dog/readme.txt")
    with pytest.raises(DatasetError, match=r"Class folder\(s\) 'dog' .* contain no images"):
        scan_folder(tmp_path)


def test_missing_not_a_folder_and_no_images(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        scan_folder(tmp_path / "nope")
    _touch(tmp_path, "file.jpg")
    with pytest.raises(DatasetError, match="is not a folder"):
        scan_folder(tmp_path / "file.jpg")
    empty = tmp_path / "empty"
    _touch(empty, "notes.txt", "sub/readme.md")
    with pytest.raises(DatasetError, match=r"No images found in .*\.jpg"):
        scan_folder(empty)


def test_with_classes_remaps_case_insensitively(tmp_path: Path) -> None:
    _touch(tmp_path, "cat/c.jpg", "Dog/d.jpg")
    scanned = scan_folder(tmp_path)
    assert scanned.classes == ["Dog", "cat"]
    mapped = with_classes(scanned, ["bird", "CAT", " dog "])
    assert mapped.classes == ["bird", "CAT", " dog "]
    assert mapped.labeled
    assert _relative(mapped, tmp_path) == [("Dog/d.jpg", 2), ("cat/c.jpg", 1)]


def test_with_classes_names_unknown_folders(tmp_path: Path) -> None:
    _touch(tmp_path, "cat/c.jpg", "dog/d.jpg", "emu/e.jpg")
    with pytest.raises(DatasetError, match=r"'dog', 'emu' match no class"):
        with_classes(scan_folder(tmp_path), ["cat"])


def test_with_classes_refuses_unlabeled_and_case_clashes(tmp_path: Path) -> None:
    flat = ScannedFolder(classes=[], items=[(tmp_path / "a.jpg", None)], labeled=False)
    with pytest.raises(DatasetError, match="not in class folders"):
        with_classes(flat, ["cat"])
    clash = ScannedFolder(classes=["Cat", "cat"], items=[(tmp_path / "a.jpg", 0)], labeled=True)
    with pytest.raises(DatasetError, match=r"'Cat', 'cat' differ only by letter case"):
        with_classes(clash, ["cat"])
