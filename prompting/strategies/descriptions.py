"""CuPL / DCLIP descriptions files: import and export (matching to classes: ``matching.py``).

Both papers publish a flat JSON object ``{class name: [sentence or phrase, ...]}``, which is
also what generation produces and what the app lets people edit. Loading is lenient where the
published files need it and strict about shape:

* Strings are trimmed and inner whitespace collapsed; blank strings are dropped.
* A key that appears more than once is **merged**: its lists are concatenated in file order
  and the key is reported (logged; ``read_descriptions`` returns it). Repeats inside a list
  are kept, as in the published CuPL files, where they weight the class mean.
* A key with an empty list is kept with ``[]``; matching reports the class as having none
  (DCLIP's files have such keys: Food-101 5, WaffleCLIP's Stanford Cars 13).
* Anything else (not an object, a value that is not a list of strings) is a DescriptionsError
  naming the key and the problem.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prompting.errors import DescriptionsError
from prompting.storage import atomic_write_bytes

log = logging.getLogger(__name__)


@dataclass
class LoadedDescriptions:
    """A parsed descriptions file and what was unusual about it."""

    data: dict[str, list[str]]
    duplicate_keys: list[str] = field(default_factory=list)
    empty_keys: list[str] = field(default_factory=list)


class _Pairs(list):
    """A JSON object as its (key, value) pairs, so duplicate keys stay visible."""


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _Pairs:
    """Keep every (key, value) pair (``json`` itself keeps only the last of a repeated key)."""
    return _Pairs(pairs)


def _clean_list(key: str, value: Any) -> list[str]:
    """The trimmed non-blank strings of ``value``; DescriptionsError if it is not a string list."""
    if not isinstance(value, list) or isinstance(value, _Pairs):
        raise DescriptionsError(
            f"Entry '{key}' must be a list of strings, not {_json_kind(value)}; the file should map "
            "each class name to a list like [\"a photo of ...\", ...]."
        )
    cleaned = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise DescriptionsError(f"Entry '{key}' item {index + 1} is {_json_kind(item)}, not a string.")
        text = " ".join(item.split())
        if text:
            cleaned.append(text)
    return cleaned


def _json_kind(value: Any) -> str:
    """'an object', 'a number', ... for messages."""
    if isinstance(value, _Pairs):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return {bool: "true/false", type(None): "null"}.get(type(value), "a number")


def _read_text(source: str | Path) -> tuple[str, str]:
    """(text, name for messages): a ``Path`` is read as a file; a ``str`` is always JSON text.

    Keeping the two apart means text typed into the page or sent through the API can never
    name a file on the server.
    """
    if isinstance(source, str):
        if not source.strip():
            raise DescriptionsError("The descriptions text is empty: paste or import a JSON object {class: [...]}.")
        return source, "descriptions text"
    try:
        return source.read_text(encoding="utf-8-sig"), f"descriptions file '{source}'"
    except UnicodeDecodeError as exc:
        raise DescriptionsError(f"Descriptions file '{source}' is not UTF-8 text.") from exc
    except OSError as exc:
        raise DescriptionsError(f"Cannot read descriptions file '{source}': {exc.strerror or exc}.") from exc


def read_descriptions(source: str | Path) -> LoadedDescriptions:
    """Parse a CuPL/DCLIP JSON file or text, reporting merged duplicate keys and empty entries."""
    text, name = _read_text(source)
    try:
        pairs = json.loads(text, object_pairs_hook=_pairs_hook)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise DescriptionsError(f"The {name} is not valid JSON: {exc.msg} at {where}.") from exc
    if not isinstance(pairs, _Pairs):
        raise DescriptionsError(
            f"The {name} must be a JSON object mapping class names to lists of strings, not {_json_kind(pairs)}."
        )
    data: dict[str, list[str]] = {}
    duplicates: list[str] = []
    for raw_key, value in pairs:
        key = " ".join(raw_key.split())
        if not key:
            raise DescriptionsError(f"The {name} has an empty class name as a key.")
        items = _clean_list(key, value)
        if key in data:
            if key not in duplicates:
                duplicates.append(key)
            data[key] = data[key] + items
        else:
            data[key] = items
    if not data:
        raise DescriptionsError(f"The {name} has no entries.")
    empty = [key for key, items in data.items() if not items]
    if duplicates:
        log.warning("The %s repeats keys %s; their lists were merged.", name, ", ".join(duplicates))
    return LoadedDescriptions(data=data, duplicate_keys=duplicates, empty_keys=empty)


def load_descriptions(source: str | Path) -> dict[str, list[str]]:
    """``{class: [strings]}`` from a CuPL/DCLIP JSON file or text (see the module notes)."""
    return read_descriptions(source).data


def _validated(data: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """``data`` as a plain dict after checking it is {str: [str, ...]}."""
    result: dict[str, list[str]] = {}
    for key, items in data.items():
        if not isinstance(key, str) or not key.strip():
            raise DescriptionsError(f"Cannot export descriptions: class name {key!r} is not a non-empty string.")
        result[key] = _clean_list(key, items)
    return result


def export_descriptions(data: Mapping[str, list[str]]) -> str:
    """The published JSON format, ``{class: [strings]}``, pretty-printed UTF-8 text."""
    return json.dumps(_validated(data), ensure_ascii=False, indent=4) + "\n"


def save_descriptions(path: str | Path, data: Mapping[str, list[str]]) -> None:
    """Write ``data`` atomically: readers see the old file or the complete new one."""
    atomic_write_bytes(Path(path), export_descriptions(data).encode("utf-8"))
