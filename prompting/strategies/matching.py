"""Match a descriptions file's keys to a class list, and say how each class was matched.

Published files and class lists disagree on spelling ("Ram C/V" vs "Ram CV", "globe-flower" vs
"globe flower", "American Bulldog" vs "american bulldog") and sometimes on the name itself
(ImageNet's "newt" is DCLIP's "eft"). A class takes the first key found in these tiers:

1. ``prompt``: a key equal to the class's prompt name;
2. ``display``: a key equal to its display name;
3. ``alias``: a key naming the same class in another published list (``ALIAS_GROUPS``);
4. ``normalised``: a key equal to one of those names once case, accents, whitespace and
   punctuation (``_ - /`` included) are ignored.

Each tier first gives a key to the classes that are the only ones asking for it there; a key
already taken is skipped. A class left without a key of its own then **shares** the first key
it found: CuPL's ImageNet files have one key for the two classes OpenAI named "missile" (657
and 744) and one for the two named "sunglasses" (836 and 837), and CuPL's code gives both
classes of a pair those sentences. Every match that is not exact, every shared key, every key
with an empty list and every unused key is reported, never silently applied.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from prompting.classes import ClassName

MatchKind = Literal["prompt", "display", "alias", "normalised"]
EXACT_KINDS: frozenset[str] = frozenset({"prompt", "display"})
LISTED = 8  # names shown per kind in one-line summaries

# Names that published lists give the same class (looked up in both directions).
ALIAS_GROUPS: tuple[tuple[str, ...], ...] = (
    ("newt", "eft"),  # ImageNet 27: DCLIP's descriptors_imagenet.json (renamed in its commit c08e830)
    ("tights", "maillot"),  # ImageNet 638: DCLIP, same commit
    ("projectile", "missile"),  # ImageNet 744: DCLIP's key; OpenAI's and CuPL's list repeat "missile" (657)
    ("sunglass", "sunglasses"),  # ImageNet 836: DCLIP's key; OpenAI's and CuPL's list repeat "sunglasses" (837)
    ("pink and yellow dahlia", "pink-yellow dahlia"),  # Flowers-102 59: WaffleCLIP's descriptors_flowers102.json
    ("lotus", "lotus lotus"),  # Flowers-102 77: WaffleCLIP
    ("air plant", "ball moss"),  # Flowers-102 92: WaffleCLIP (the Oxford name; CLIP's prompts.md says "air plant")
)


def loose_key(name: str) -> str:
    """``name`` with case, accents, whitespace and punctuation ignored: "Ram C/V" -> "ramcv"."""
    text = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in text if ch.isalnum() and not unicodedata.combining(ch)).casefold()


def _alias_table() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for group in ALIAS_GROUPS:
        for name in group:
            table[loose_key(name)] = tuple(other for other in group if other != name)
    return table


_ALIASES = _alias_table()


def aliases(name: str) -> tuple[str, ...]:
    """Other published names of the class called ``name`` (empty when it has none)."""
    return _ALIASES.get(loose_key(name), ())


@dataclass(frozen=True)
class ClassMatch:
    """How one class found its descriptions: the key used (None when none) and the tier."""

    display: str
    key: str | None
    kind: MatchKind | None
    shared_with: tuple[str, ...] = ()
    case_only: bool = False

    @property
    def exact(self) -> bool:
        """True when the key equals the class's prompt or display name."""
        return self.kind in EXACT_KINDS

    def as_dict(self) -> dict[str, Any]:
        """JSON form: class, key, how, and the other classes sharing the key."""
        return {"class": self.display, "key": self.key, "how": self.kind, "shared_with": list(self.shared_with)}


@dataclass
class DescriptionMatch:
    """Descriptions aligned with a class list, with how every class was matched.

    ``per_class[i]`` belongs to ``classes[i]`` (``[]`` when missing or empty); ``missing``
    lists classes with no key, ``empty`` those whose key holds an empty list, ``extra`` the
    keys no class uses.
    """

    per_class: list[list[str]]
    classes: list[ClassMatch]
    extra: list[str]

    @property
    def missing(self) -> list[str]:
        """Display names of classes no key matched."""
        return [m.display for m in self.classes if m.key is None]

    @property
    def empty(self) -> list[str]:
        """Display names of matched classes whose key has no entries."""
        return [m.display for m, items in zip(self.classes, self.per_class) if m.key is not None and not items]

    @property
    def inexact(self) -> list[ClassMatch]:
        """Matches through an alias or after normalising (each must be reported)."""
        return [m for m in self.classes if m.key is not None and not m.exact]

    @property
    def shared_keys(self) -> dict[str, list[str]]:
        """Keys that serve several classes, with those classes' display names."""
        shared: dict[str, list[str]] = {}
        for m in self.classes:
            if m.shared_with:
                shared.setdefault(m.key or "", []).append(m.display)
        return shared

    def counts(self) -> dict[str, int]:
        """Classes per tier, plus missing and empty."""
        counts = {kind: 0 for kind in ("prompt", "display", "alias", "normalised")}
        for m in self.classes:
            if m.kind is not None:
                counts[m.kind] += 1
        return counts | {"missing": len(self.missing), "empty": len(self.empty)}

    def notes(self) -> list[str]:
        """One sentence per kind of event worth knowing: inexact matches, shared keys, empty
        lists, missing classes and unused keys (nothing when every class matched exactly)."""
        notes = []
        groups = (
            ("by another published name", [m for m in self.inexact if m.kind == "alias"]),
            ("ignoring case only", [m for m in self.inexact if m.kind == "normalised" and m.case_only]),
            ("ignoring case, spaces or punctuation",
             [m for m in self.inexact if m.kind == "normalised" and not m.case_only]),
        )
        for how, found in groups:
            if found:
                notes.append(f"{len(found)} matched {how}: " + _listed(f"{m.display} → '{m.key}'" for m in found))
        shared = self.shared_keys
        if shared:
            notes.append(f"{len(shared)} keys serve several classes, which get the same entries: "
                         + _listed(f"'{key}' ({', '.join(names)})" for key, names in shared.items()))
        if self.empty:
            notes.append(f"{len(self.empty)} have an empty or blank list: " + _listed(self.empty))
        if self.missing:
            notes.append(f"{len(self.missing)} have no entry: " + _listed(self.missing))
        if self.extra:
            notes.append(f"{len(self.extra)} entries match no class: " + _listed(self.extra))
        return notes

    def summary(self) -> str:
        """A one-line report: classes matched, then every note."""
        matched = len(self.classes) - len(self.missing)
        exact = sum(m.exact for m in self.classes)
        head = f"Descriptions for {matched} of {len(self.classes)} classes ({exact} by exact name)"
        return "; ".join([head] + self.notes()) + "."

    def as_dict(self) -> dict[str, Any]:
        """JSON form: counts per tier, every inexact match, shared keys, empty, missing, unused."""
        return {
            "classes": len(self.classes),
            "counts": self.counts(),
            "inexact": [m.as_dict() for m in self.inexact],
            "shared_keys": self.shared_keys,
            "empty": self.empty,
            "missing": self.missing,
            "unused_keys": list(self.extra),
        }


def _listed(items: Any, limit: int = LISTED) -> str:
    names = list(items)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


Finder = Callable[[ClassName], list[str]]


def _finders(data: Mapping[str, list[str]]) -> list[tuple[MatchKind, Finder]]:
    """Per tier, a function giving a class's candidate keys in preference order."""
    loose: dict[str, list[str]] = {}
    for key in data:
        loose.setdefault(loose_key(key), []).append(key)

    def by_loose(names: list[str]) -> list[str]:
        return [key for name in names for key in loose.get(loose_key(name), [])]

    return [
        ("prompt", lambda c: [c.prompt] if c.prompt in data else []),
        ("display", lambda c: [c.display] if c.display in data else []),
        ("alias", lambda c: by_loose([*aliases(c.prompt), *aliases(c.display)])),
        ("normalised", lambda c: by_loose([c.prompt, c.display])),
    ]


def match_descriptions(class_names: list[ClassName], data: Mapping[str, list[str]]) -> DescriptionMatch:
    """Align ``data`` with ``class_names`` (tiers and sharing as in the module notes)."""
    finders = _finders(data)
    chosen: dict[int, tuple[str, MatchKind]] = {}
    used: set[str] = set()
    for kind, find in finders:
        wanted: dict[int, str] = {}
        for index, cls in enumerate(class_names):
            if index not in chosen:
                free = [key for key in find(cls) if key not in used]
                if free:
                    wanted[index] = free[0]
        asked = Counter(wanted.values())
        for index, key in wanted.items():
            if asked[key] == 1:
                chosen[index] = (key, kind)
                used.add(key)
    for index, cls in enumerate(class_names):
        if index not in chosen:
            found = next(((keys[0], kind) for kind, find in finders if (keys := find(cls))), None)
            if found:
                chosen[index] = found
    users: dict[str, list[str]] = {}
    for index, (key, _) in chosen.items():
        users.setdefault(key, []).append(class_names[index].display)
    matches = []
    for index, cls in enumerate(class_names):
        key, kind = chosen.get(index, (None, None))
        others = tuple(name for name in users.get(key, []) if name != cls.display) if key is not None else ()
        case_only = key is not None and key.casefold() in {cls.prompt.casefold(), cls.display.casefold()}
        matches.append(ClassMatch(cls.display, key, kind, others, case_only))
    per_class = [list(data[m.key]) if m.key is not None else [] for m in matches]
    extra = [key for key in data if key not in users]
    return DescriptionMatch(per_class=per_class, classes=matches, extra=extra)
