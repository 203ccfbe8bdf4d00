"""Class lists: display names, prompt names, parsing and validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from prompting.errors import ClassListError
from prompting.storage import read_user_text

PROMPT_NAME_SEPARATOR = "|"


@dataclass(frozen=True)
class ClassName:
    """One class: ``display`` is shown to people, ``prompt`` is what goes into prompts."""

    display: str
    prompt: str

    @classmethod
    def plain(cls, name: str) -> "ClassName":
        """A class whose prompt name equals its display name."""
        return cls(display=name, prompt=name)

    def to_line(self) -> str:
        """The one-line text form, ``display | prompt`` when they differ."""
        if self.prompt == self.display:
            return self.display
        return f"{self.display} {PROMPT_NAME_SEPARATOR} {self.prompt}"


def spoken_name(name: str) -> str:
    """A class name as it goes into prompts: underscores become spaces (as DCLIP's and
    WaffleCLIP's ``wordify`` do, and as folder names like ``great_white_shark`` need)."""
    return " ".join(name.replace("_", " ").split())


def parse_class_line(line: str) -> ClassName | None:
    """Parse ``display`` or ``display | prompt name``; blank lines and ``#`` comments give None."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if PROMPT_NAME_SEPARATOR in text:
        display, prompt = (part.strip() for part in text.split(PROMPT_NAME_SEPARATOR, 1))
        if not display:
            raise ClassListError(f"'{text}' has a prompt name but no shown name: write 'shown | prompted'.")
        return ClassName(display=display, prompt=prompt or display)
    return ClassName.plain(text)


def parse_class_list(text: str) -> list[ClassName]:
    """Parse a class list written one class per line; validates it (see ``validate_classes``)."""
    parsed = [parse_class_line(line) for line in text.splitlines()]
    return validate_classes([c for c in parsed if c is not None])


def as_class_names(items: Iterable[str | ClassName]) -> list[ClassName]:
    """Accept plain strings or ``ClassName`` objects; strings may use the ``|`` form."""
    classes: list[ClassName] = []
    for item in items:
        if isinstance(item, ClassName):
            classes.append(ClassName(item.display.strip(), item.prompt.strip() or item.display.strip()))
        else:
            parsed = parse_class_line(str(item))
            if parsed is not None:
                classes.append(parsed)
    return validate_classes(classes)


def validate_classes(classes: list[ClassName]) -> list[ClassName]:
    """Drop empty names, reject an empty list and duplicates (trimmed, case-insensitive)."""
    kept = [c for c in classes if c.display.strip()]
    if not kept:
        raise ClassListError("The class list is empty: enter at least one class name, one per line.")
    seen: dict[str, str] = {}
    duplicates: list[str] = []
    for cls in kept:
        key = cls.display.strip().casefold()
        if key in seen and seen[key] not in duplicates:
            duplicates.append(seen[key])
        seen.setdefault(key, cls.display.strip())
    if duplicates:
        names = ", ".join(f"'{name}'" for name in duplicates)
        raise ClassListError(f"Duplicate class names (case-insensitive): {names}. Each class must appear once.")
    return kept


def read_class_file(path: str) -> list[ClassName]:
    """Read a class list file (one class per line, optional ``display | prompt``)."""
    return parse_class_list(read_user_text(path, "class list file", ClassListError))
