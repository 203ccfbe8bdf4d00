"""FuDD pair descriptions: read (ours and the authors' published files), write, match to a class list.

A differential description says how one class of a look-alike pair looks *unlike* the other:
for one visual attribute, one caption per class. Our JSON shape is keyed by class names::

    {"pairs": [{"classes": ["crane", "heron"],
                "descriptions": [{"attribute": "neck",
                                  "crane": "a photo of a crane, with a neck held straight in flight.",
                                  "heron": "a photo of a heron, with an S-curved neck in flight."}]}]}

The authors' files (BatsResearch/fudd, ``differential_descriptions/``) number the classes:
``{"i_j": {"classes": [i, j], "prompt_pairs": [{"attr_type": ..., "prompt_pair": [for i, for j]}]}}``
with the names in a separate ``<dataset>_class_names.json`` list (or a ``"class_names"`` key).

Loading trims strings and collapses inner whitespace; a description whose two captions are
empty or identical (it tells nothing apart) is dropped and counted; a pair given more than once
(in either order) is merged. Anything else malformed is a DescriptionsError naming the pair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prompting.classes import ClassName
from prompting.errors import DescriptionsError
from prompting.storage import atomic_write_bytes
from prompting.strategies.matching import loose_key, match_descriptions

ATTRIBUTE_KEYS = ("attribute", "attr_type")
PAIR_SEPARATOR = "|"


@dataclass(frozen=True)
class Difference:
    """One attribute that tells a pair apart: a caption for the pair's first and second class."""

    attribute: str
    first: str
    second: str

    def swapped(self) -> Difference:
        """The same difference seen from the other class."""
        return Difference(self.attribute, self.second, self.first)


@dataclass
class PairDescriptions:
    """The differential descriptions of two classes, named as in the file."""

    first: str
    second: str
    differences: list[Difference]

    @property
    def label(self) -> str:
        """``"first | second"``, for messages."""
        return f"{self.first} {PAIR_SEPARATOR} {self.second}"


@dataclass
class LoadedPairs:
    """Pairs read from a file and what was unusual about them."""

    pairs: list[PairDescriptions]
    merged: list[str] = field(default_factory=list)
    dropped: int = 0

    def summary(self) -> str:
        """One line: pairs and descriptions read, merges and drops."""
        count = sum(len(p.differences) for p in self.pairs)
        parts = [f"{len(self.pairs)} pairs, {count} differential descriptions"]
        if self.merged:
            parts.append(f"{len(self.merged)} pairs given twice were merged ({', '.join(self.merged[:3])})")
        if self.dropped:
            parts.append(f"{self.dropped} descriptions with empty or identical captions were dropped")
        return "; ".join(parts) + "."


@dataclass
class PairMatch:
    """Pairs aligned with a class list: ``differences[(i, j)]`` (i < j) holds (attribute, caption
    of class i, caption of class j); ``unknown`` lists names matching no class (their pairs are
    left out)."""

    differences: dict[tuple[int, int], list[tuple[str, str, str]]]
    unknown: list[str]

    def texts_for(self, index: int) -> list[str]:
        """Every caption of class ``index`` over its pairs, without repeats, in order."""
        found: dict[str, None] = {}
        for (i, j), items in self.differences.items():
            if index in (i, j):
                found.update(dict.fromkeys(item[1] if index == i else item[2] for item in items))
        return list(found)


def clean_text(value: Any, where: str) -> str:
    """A string with whitespace collapsed; DescriptionsError if it is not a string."""
    if not isinstance(value, str):
        raise DescriptionsError(f"{where} must be a string, not {type(value).__name__}.")
    return " ".join(value.split())


def _difference(attribute: Any, first: Any, second: Any, where: str) -> Difference | None:
    """A cleaned difference, or None when its captions are empty or identical."""
    attribute = "" if attribute is None else clean_text(attribute, f"{where}: the attribute")
    first, second = clean_text(first, f"{where}: a caption"), clean_text(second, f"{where}: a caption")
    if not first or not second or first.casefold() == second.casefold():
        return None
    return Difference(attribute, first, second)


def _read_json(source: str | Path) -> tuple[Any, str]:
    """(parsed JSON, name for messages); a ``str`` is JSON text, never a path."""
    if isinstance(source, str):
        if not source.strip():
            raise DescriptionsError("The pair descriptions are empty: generate, write or import them first.")
        text, name = source, "pair descriptions"
    else:
        try:
            text, name = source.read_text(encoding="utf-8-sig"), f"pair descriptions file '{source.name}'"
        except (OSError, UnicodeDecodeError) as exc:
            raise DescriptionsError(f"Cannot read the pair descriptions file '{source.name}'.") from exc
    try:
        return json.loads(text), name
    except json.JSONDecodeError as exc:
        raise DescriptionsError(f"The {name} are not valid JSON: {exc.msg} at line {exc.lineno}.") from exc


def load_pairs(source: str | Path, class_names: list[str] | None = None) -> LoadedPairs:
    """Pair descriptions from JSON text or a file, in our shape or the authors'.

    The authors' numbered format needs its class names: ``class_names`` (their
    ``_class_names.json`` list), a ``"class_names"`` key in the object, or, for a file named
    ``<dataset>_prompt_pairs.json``, the ``<dataset>_class_names.json`` beside it.
    """
    data, name = _read_json(source)
    if isinstance(data, dict) and isinstance(data.get("pairs"), list):
        raw = _our_pairs(data["pairs"], name)
    elif isinstance(data, dict) and _looks_numbered(data):
        names = class_names or data.get("class_names") or _sibling_names(source)
        raw = _numbered_pairs(data, names, name)
    else:
        raise DescriptionsError(
            f"The {name} must be an object {{\"pairs\": [{{\"classes\": [A, B], \"descriptions\": [...]}}]}} "
            "or the FuDD authors' {\"i_j\": {\"classes\": [i, j], \"prompt_pairs\": [...]}}."
        )
    return _merged(raw)


def _our_pairs(entries: list[Any], name: str) -> list[tuple[PairDescriptions, int]]:
    pairs = []
    for number, entry in enumerate(entries, start=1):
        where = f"Pair {number} of the {name}"
        if not isinstance(entry, dict) or not isinstance(entry.get("classes"), list) or len(entry["classes"]) != 2:
            raise DescriptionsError(f"{where} needs \"classes\": [two class names].")
        first, second = (clean_text(c, f"{where}: a class name") for c in entry["classes"])
        _check_names(first, second, where)
        items = entry.get("descriptions", [])
        if not isinstance(items, list):
            raise DescriptionsError(f"{where} ('{first}' / '{second}'): \"descriptions\" must be a list.")
        pairs.append(_pair(first, second, [
            _named_difference(item, first, second, f"{where} ('{first}' / '{second}'), description {position}")
            for position, item in enumerate(items, start=1)
        ]))
    return pairs


def _pair(first: str, second: str, found: list[Difference | None]) -> tuple[PairDescriptions, int]:
    """The pair with its usable differences, and how many were dropped."""
    differences = [d for d in found if d is not None]
    return PairDescriptions(first, second, differences), len(found) - len(differences)


def _named_difference(item: Any, first: str, second: str, where: str) -> Difference | None:
    """A description item keyed by the pair's class names (matched like class lists are)."""
    if not isinstance(item, dict):
        raise DescriptionsError(f"{where} must be an object {{\"attribute\": ..., \"{first}\": ..., \"{second}\": ...}}.")
    attribute = next((item[key] for key in ATTRIBUTE_KEYS if key in item), None)
    captions = {loose_key(str(key)): value for key, value in item.items() if key not in ATTRIBUTE_KEYS}
    missing = [n for n in (first, second) if loose_key(n) not in captions]
    if missing:
        raise DescriptionsError(f"{where} has no caption for '{missing[0]}'.")
    return _difference(attribute, captions[loose_key(first)], captions[loose_key(second)], where)


def _looks_numbered(data: dict[str, Any]) -> bool:
    entries = [value for key, value in data.items() if key != "class_names"]
    return bool(entries) and all(isinstance(v, dict) and "prompt_pairs" in v for v in entries)


def _sibling_names(source: str | Path) -> list[str] | None:
    """``<dataset>_class_names.json`` next to a ``<dataset>_prompt_pairs.json`` file."""
    if isinstance(source, str) or not source.name.endswith("_prompt_pairs.json"):
        return None
    sibling = source.with_name(source.name.replace("_prompt_pairs.json", "_class_names.json"))
    if not sibling.is_file():
        return None
    names, _ = _read_json(sibling)
    return names if isinstance(names, list) else None


def _numbered_pairs(data: dict[str, Any], names: Any, name: str) -> list[tuple[PairDescriptions, int]]:
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise DescriptionsError(
            f"The {name} number their classes (the FuDD authors' format): give their class-name list too "
            "(the <dataset>_class_names.json file, or a \"class_names\" key)."
        )
    pairs = []
    for key, entry in data.items():
        if key == "class_names":
            continue
        where = f"Pair '{key}' of the {name}"
        ids = entry.get("classes")
        if not (isinstance(ids, list) and len(ids) == 2 and all(isinstance(i, int) and 0 <= i < len(names)
                                                                 for i in ids)):
            raise DescriptionsError(f"{where} needs \"classes\": [i, j] with class numbers below {len(names)}.")
        first, second = (" ".join(names[i].split()) for i in ids)
        _check_names(first, second, where)
        items = entry.get("prompt_pairs")
        if not isinstance(items, list):
            raise DescriptionsError(f"{where}: \"prompt_pairs\" must be a list.")
        found = []
        for position, item in enumerate(items, start=1):
            here = f"{where}, item {position}"
            pair = item.get("prompt_pair") if isinstance(item, dict) else None
            if not isinstance(pair, list) or len(pair) != 2:
                raise DescriptionsError(f"{here} needs \"prompt_pair\": [caption for {first}, caption for {second}].")
            found.append(_difference(item.get("attr_type"), pair[0], pair[1], here))
        pairs.append(_pair(first, second, found))
    return pairs


def _check_names(first: str, second: str, where: str) -> None:
    if not first or not second:
        raise DescriptionsError(f"{where} has an empty class name.")
    if loose_key(first) == loose_key(second):
        raise DescriptionsError(f"{where} names the same class twice ('{first}').")


def pair_key(first: str, second: str) -> tuple[str, str]:
    """The unordered identity of a pair of names (as class lists match them)."""
    a, b = loose_key(first), loose_key(second)
    return (a, b) if a <= b else (b, a)


def _merged(raw: list[tuple[PairDescriptions, int]]) -> LoadedPairs:
    """One entry per unordered pair (later entries' descriptions appended, repeats dropped)."""
    by_key: dict[tuple[str, str], PairDescriptions] = {}
    merged: list[str] = []
    dropped = 0
    for pair, lost in raw:
        dropped += lost
        key = pair_key(pair.first, pair.second)
        if key not in by_key:
            by_key[key] = PairDescriptions(pair.first, pair.second, list(dict.fromkeys(pair.differences)))
            continue
        kept = by_key[key]
        same_order = loose_key(kept.first) == loose_key(pair.first)
        extra = pair.differences if same_order else [d.swapped() for d in pair.differences]
        kept.differences = list(dict.fromkeys(kept.differences + extra))
        if kept.label not in merged:
            merged.append(kept.label)
    return LoadedPairs(list(by_key.values()), merged, dropped)


def _class_indices(classes: list[ClassName], names: list[str]) -> dict[str, int]:
    """Class index per name (by ``loose_key``), matched as CuPL/DCLIP keys are; a name left over
    because another name already took its class (a display and a prompt name of one class) is
    matched alone."""
    aligned = match_descriptions(classes, {name: [name] for name in names})
    index: dict[str, int] = {}
    for i, found in enumerate(aligned.classes):
        if found.key is not None:
            index.setdefault(loose_key(found.key), i)
    for name in aligned.extra:
        alone = match_descriptions(classes, {name: [name]}).classes
        i = next((i for i, found in enumerate(alone) if found.key is not None), None)
        if i is not None:
            index.setdefault(loose_key(name), i)
    return index


def match_pairs(classes: list[ClassName], pairs: list[PairDescriptions]) -> PairMatch:
    """Align pairs with ``classes``: each name matches a class as CuPL/DCLIP keys do (display
    name first, then prompt name, ignoring case and '_'). Pairs without descriptions are left out."""
    names = list(dict.fromkeys(name for pair in pairs for name in (pair.first, pair.second)))
    index = _class_indices(classes, names)
    differences: dict[tuple[int, int], list[tuple[str, str, str]]] = {}
    for pair in pairs:
        i, j = index.get(loose_key(pair.first)), index.get(loose_key(pair.second))
        if i is None or j is None or i == j or not pair.differences:
            continue
        items = [(d.attribute, d.first, d.second) if i < j else (d.attribute, d.second, d.first)
                 for d in pair.differences]
        key = (min(i, j), max(i, j))
        differences[key] = list(dict.fromkeys(differences.get(key, []) + items))
    unknown = list(dict.fromkeys(name for name in names if loose_key(name) not in index))
    return PairMatch(differences, unknown)


def pairs_to_json(pairs: list[PairDescriptions]) -> str:
    """Our JSON shape (see the module notes), pretty-printed UTF-8 text."""
    payload = {"pairs": [
        {"classes": [pair.first, pair.second],
         "descriptions": [{"attribute": d.attribute, pair.first: d.first, pair.second: d.second}
                          for d in pair.differences]}
        for pair in pairs
    ]}
    return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def save_pairs(path: str | Path, pairs: list[PairDescriptions]) -> None:
    """Write ``pairs`` in our shape atomically."""
    atomic_write_bytes(Path(path), pairs_to_json(pairs).encode("utf-8"))


def parse_pair_lines(text: str) -> list[tuple[str, str]]:
    """Pairs written one per line as ``class A | class B`` (blank lines and ``#`` comments
    skipped, repeats in either order dropped)."""
    pairs: dict[tuple[str, str], tuple[str, str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = [" ".join(p.split()) for p in stripped.split(PAIR_SEPARATOR)]
        if len(parts) != 2 or not all(parts):
            raise DescriptionsError(f"Line {number} of the pairs file must be 'class A | class B', not {stripped!r}.")
        _check_names(parts[0], parts[1], f"Line {number} of the pairs file")
        pairs.setdefault(pair_key(*parts), (parts[0], parts[1]))
    if not pairs:
        raise DescriptionsError("The pairs file lists no pairs: write one 'class A | class B' per line.")
    return list(pairs.values())


def merge_pairs(existing: list[PairDescriptions], new: list[PairDescriptions]) -> list[PairDescriptions]:
    """``existing`` with each pair of ``new`` replacing the same pair (in either order) or added
    at the end."""
    fresh = {pair_key(p.first, p.second): p for p in new}
    kept = [fresh.pop(pair_key(p.first, p.second), p) for p in existing]
    return kept + list(fresh.values())


def load_pair_files(paths: list[Path]) -> LoadedPairs:
    """Pair descriptions from uploaded files: one descriptions file (ours or the authors'), plus,
    for the authors' numbered format, their class-name list as a second file."""
    parsed = [(path, _read_json(path)[0]) for path in paths]
    names = [data for _, data in parsed if isinstance(data, list) and all(isinstance(n, str) for n in data)]
    objects = [path for path, data in parsed if isinstance(data, dict)]
    if len(objects) != 1 or len(names) > 1 or len(objects) + len(names) != len(paths):
        raise DescriptionsError(
            "Import one FuDD descriptions file (JSON object), plus the authors' class-name list (JSON list) "
            "when the file numbers its classes."
        )
    return load_pairs(objects[0], names[0] if names else None)
