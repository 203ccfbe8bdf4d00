"""Text fit for a visitor: no secrets and no server paths (escaping is the page's job).

Messages from the core may carry what a visitor must never see: the operator's model folders,
Gradio's temporary upload folder (``<tmp>/gradio/<hash>/cat.jpg``), an evaluation's extraction
folder (``<tmp>/zsp-eval-x1y2/cat/1.jpg``), the language model's address or credentials.
``PublicText`` rewrites such text, in this order: known names (model folders, the LLM
endpoint) become their public names; secrets become ``[redacted]``; and a path under a server folder
becomes the visitor's own part of it: what follows the server folder and the per-upload folder
inside it (``cat.jpg``, ``cat/1.jpg``).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from prompting.llm.config import LLMConfig, redact_secrets
from prompting.storage import CACHE_ENV_VAR

REPO_ROOT = Path(__file__).resolve().parents[2]
LLM_SERVER = "the language-model server"
# Characters that end a bare (unquoted) path in a sentence.
PATH_END = r"\s'\"`<>|;,()\[\]{}"


def default_server_roots() -> tuple[str, ...]:
    """Folders of this server whose paths visitors must not see: the temporary folder, the
    cache folders, the home folder, the app's folder and the working folder."""
    candidates = [tempfile.gettempdir(), platformdirs.user_cache_dir("prompt-workbench"), str(Path.home()),
                  str(REPO_ROOT), os.getcwd(), os.environ.get(CACHE_ENV_VAR, ""), os.environ.get("GRADIO_TEMP_DIR", "")]
    return _roots(candidates)


def _roots(folders: Iterable[str | Path]) -> tuple[str, ...]:
    """Distinct absolute folders (as given and resolved), longest first; ``/`` is never one."""
    found: set[str] = set()
    for folder in folders:
        if not str(folder).strip():
            continue
        for form in (Path(folder).expanduser().absolute(), Path(folder).expanduser().resolve()):
            text = str(form).rstrip("/")
            if len(Path(text).parts) >= 2:
                found.add(text)
    return tuple(sorted(found, key=len, reverse=True))


@dataclass(frozen=True)
class PublicText:
    """Rewrites text for visitors: ``secrets`` redacted, ``names`` replaced by their public
    form, paths under ``server_roots`` shortened to the visitor's part."""

    secrets: tuple[str, ...] = ()
    names: Mapping[str, str] = field(default_factory=dict)
    server_roots: tuple[str, ...] = field(default_factory=default_server_roots)

    def __call__(self, text: object) -> str:
        message = str(text)
        for name in sorted(self.names, key=len, reverse=True):
            message = message.replace(name, self.names[name])
        message = redact_secrets(message, self.secrets)
        for root in self.server_roots:
            message = _shorten_paths(message, root)
        return message

    def merged(self, other: PublicText) -> PublicText:
        """Both rewrites at once (one process may serve several apps, e.g. in tests)."""
        return PublicText(
            secrets=tuple(dict.fromkeys(self.secrets + other.secrets)),
            names={**self.names, **other.names},
            server_roots=_roots(self.server_roots + other.server_roots),
        )


def public_text_for(models: Mapping[str, str], llm: LLMConfig | None, server_roots: Iterable[str] = ()) -> PublicText:
    """The rewrite for one app: ``models`` maps names to load (folders) to shown names; the LLM's
    secrets are redacted and its address named "the language-model server"."""
    names = {full: shown for full, shown in models.items() if full != shown}
    secrets: tuple[str, ...] = ()
    if llm is not None:
        secrets = llm.secrets()
        for address in {llm.endpoint, llm.client_base_url, llm.base_url.strip()}:
            if address:
                names[f"LLM endpoint {address}"] = "The language-model server"
                names[address] = LLM_SERVER
    return PublicText(secrets, names, _roots([*default_server_roots(), *server_roots]))


def _shorten_paths(text: str, root: str) -> str:
    """Replace each path under ``root`` (quoted, or bare up to a space or punctuation) by the
    part after ``root`` and its first folder."""
    escaped = re.escape(root)
    for quote in ("'", '"'):
        text = re.sub(f"{quote}{escaped}(/[^{quote}]*)?{quote}", lambda m: f"{quote}{_visitor_part(m.group(1))}{quote}",
                      text)
    return re.sub(f"{escaped}(/[^{PATH_END}]*)?", lambda m: _visitor_part(m.group(1)), text)


def _visitor_part(rest: str | None) -> str:
    """``/<upload folder>/cat/1.jpg`` -> ``cat/1.jpg``; ``/name`` -> ``name``; nothing -> a phrase."""
    parts = [part for part in (rest or "").split("/") if part]
    if not parts:
        return "a server folder"
    return "/".join(parts[1:]) if len(parts) > 1 else parts[0]
