"""Edits to a class list as the user wrote it, keeping every other line (and comment) intact."""

from __future__ import annotations

from prompting.classes import ClassName, parse_class_line
from prompting.errors import ClassListError


def set_prompt_name(text: str, display: str, prompt: str) -> str:
    """``text`` with the line of class ``display`` rewritten as ``display | prompt``.

    Display names match ignoring case and surrounding spaces; a missing class is a
    ClassListError (the list was edited since the results were computed).
    """
    lines = text.splitlines()
    key = display.strip().casefold()
    for number, line in enumerate(lines):
        parsed = parse_class_line(line)
        if parsed is not None and parsed.display.strip().casefold() == key:
            lines[number] = ClassName(parsed.display, prompt.strip() or parsed.display).to_line()
            return "\n".join(lines)
    raise ClassListError(f"The class '{display}' is no longer in the class list, so it cannot be renamed.")
