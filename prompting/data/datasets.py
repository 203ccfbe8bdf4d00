"""Scan image folders: ``root/<class>/<image>`` (labelled) or a flat folder (unlabelled).

Rules:
- images are chosen by extension (``IMAGE_EXTENSIONS``, case-insensitive);
- hidden files and folders (name starting with ``.``) and ``__MACOSX`` are skipped;
- symlinks whose target lies outside ``root`` are ignored;
- class folders are searched recursively; everything is sorted, so scans are deterministic;
- a folder with class folders AND images at its top level is refused (``DatasetError``):
  it is ambiguous whether the loose images are unlabelled or a mistake;
- in a labelled folder every non-hidden subfolder is a class and must contain an image;
  in a flat folder, subfolders without images are ignored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from prompting.encoding.images import IMAGE_EXTENSIONS
from prompting.errors import DatasetError

JUNK_FOLDER = "__MACOSX"
EXAMPLES_SHOWN = 3


@dataclass(frozen=True)
class ScannedFolder:
    """Images found under a folder; ``items`` pairs each path with its class index (or None)."""

    classes: list[str]
    items: list[tuple[Path, int | None]]
    labeled: bool


def _is_hidden(name: str) -> bool:
    """Dot files/folders and macOS archive junk."""
    return name.startswith(".") or name == JUNK_FOLDER


def _inside(path: Path, root: Path) -> bool:
    """True when ``path`` (symlinks resolved) lies within the resolved ``root``."""
    return path.resolve().is_relative_to(root)


def _is_image(path: Path, root: Path) -> bool:
    """A non-hidden regular file with an image extension that resolves inside ``root``."""
    return (
        not _is_hidden(path.name) and path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file() and _inside(path, root)
    )


def _images_under(folder: Path, root: Path) -> list[Path]:
    """All images below ``folder`` (recursively, not following symlinked subfolders), sorted."""
    found: list[Path] = []
    for current, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        found.extend(path for name in filenames if _is_image(path := Path(current) / name, root))
    return sorted(found)


def _quoted(names: list[str]) -> str:
    """``'a', 'b', 'c'`` with at most ``EXAMPLES_SHOWN`` names and a count of the rest."""
    shown = ", ".join(f"'{name}'" for name in names[:EXAMPLES_SHOWN])
    rest = len(names) - EXAMPLES_SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown


def scan_folder(root: str | Path) -> ScannedFolder:
    """Find the images under ``root`` and, for the class-folder layout, their labels."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"The folder '{root}' does not exist.")
    if not root.is_dir():
        raise DatasetError(f"'{root}' is not a folder; choose a folder of images.")
    resolved_root = root.resolve()
    entries = sorted(p for p in root.iterdir() if not _is_hidden(p.name))
    folders = [p for p in entries if p.is_dir() and _inside(p, resolved_root)]
    loose_images = [p for p in entries if _is_image(p, resolved_root)]
    class_images = {folder.name: _images_under(folder, resolved_root) for folder in folders}
    if any(class_images.values()):
        if loose_images:
            raise DatasetError(
                f"'{root}' mixes images at its top level ({_quoted([p.name for p in loose_images])}) with "
                f"class folders ({_quoted(list(class_images))}). Put every image in a class folder for a "
                "labelled set, or use a folder of images only for an unlabelled one."
            )
        empty = [name for name, images in class_images.items() if not images]
        if empty:
            raise DatasetError(
                f"Class folder(s) {_quoted(empty)} in '{root}' contain no images; add images or remove them."
            )
        classes = list(class_images)
        items: list[tuple[Path, int | None]] = [
            (path, index) for index, name in enumerate(classes) for path in class_images[name]
        ]
        return ScannedFolder(classes=classes, items=items, labeled=True)
    if loose_images:
        return ScannedFolder(classes=[], items=[(path, None) for path in loose_images], labeled=False)
    extensions = ", ".join(sorted(IMAGE_EXTENSIONS))
    raise DatasetError(f"No images found in '{root}' (looked for {extensions}).")


def with_classes(scanned: ScannedFolder, class_names: list[str]) -> ScannedFolder:
    """Relabel ``scanned`` so label i means ``class_names[i]`` (matching as in ``class_positions``)."""
    if not scanned.labeled:
        raise DatasetError("These images are not in class folders, so there are no labels to match to classes.")
    remap = class_positions(scanned.classes, class_names)
    items: list[tuple[Path, int | None]] = [
        (path, None if label is None else remap[label]) for path, label in scanned.items
    ]
    return ScannedFolder(classes=list(class_names), items=items, labeled=True)


def class_positions(folders: list[str], class_names: list[str]) -> list[int]:
    """The position in ``class_names`` of each labelled set's class (folder) name.

    Names match case-insensitively (ignoring surrounding spaces). Class names without a folder
    are allowed (they get no images); folders without a class name, or two folders differing
    only by case, raise ``DatasetError``.
    """
    index_of = {name.strip().casefold(): i for i, name in enumerate(class_names)}
    keys = [folder.strip().casefold() for folder in folders]
    clashes = sorted({folder for folder, key in zip(folders, keys, strict=True) if keys.count(key) > 1})
    if clashes:
        raise DatasetError(f"Class folders {_quoted(clashes)} differ only by letter case; merge or rename them.")
    unknown = [folder for folder, key in zip(folders, keys, strict=True) if key not in index_of]
    if unknown:
        raise DatasetError(
            f"Class folder(s) {_quoted(unknown)} match no class in the class list; "
            "add them to the class list or remove the folders."
        )
    return [index_of[key] for key in keys]
