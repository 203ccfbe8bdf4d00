"""Persistent cache of LLM answers, so the same request is never paid for twice.

One small JSON file per request under ``cache_dir()/llm/<2 hex>/<sha256>.json``, named by the
hash of (endpoint, model, method, prompt text, class, temperature, n). Writing one file per
entry keeps each write small and atomic (``atomic_write_json``), so concurrent threads and
processes never see half a file and never rewrite each other's entries. A file that cannot be
read back, or that belongs to a different key, is quarantined with a warning and regenerated.
No API key is ever part of a key or an entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from prompting.storage import atomic_write_json, cache_dir, quarantine

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


@dataclass(frozen=True)
class CacheKey:
    """Everything that determines an LLM answer (the key is never stored in here)."""

    endpoint: str
    model: str
    method: str
    prompt: str
    class_name: str
    temperature: float
    n: int

    def digest(self) -> str:
        """A stable SHA-256 hex digest of the key and the cache format."""
        fields = {**asdict(self), "temperature": float(self.temperature)}
        payload = json.dumps([CACHE_FORMAT, *fields.values()], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class LLMCache:
    """Answers (lists of strings) by ``CacheKey``; thread-safe, survives restarts."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir() / "llm"
        self._lock = threading.Lock()

    def path(self, key: CacheKey) -> Path:
        """The file holding ``key``'s entry."""
        digest = key.digest()
        return self.root / digest[:2] / f"{digest}.json"

    def get(self, key: CacheKey) -> list[str] | None:
        """The cached answers, or None if absent (a corrupt entry is quarantined first)."""
        path = self.path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._quarantine(path, f"unreadable ({exc.__class__.__name__})")
            return None
        if not isinstance(entry, dict) or entry.get("key") != asdict(key):
            self._quarantine(path, "not an entry for this request")
            return None
        values = entry.get("values")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            self._quarantine(path, "malformed (its answers are not a list of strings)")
            return None
        return values

    def put(self, key: CacheKey, values: list[str]) -> None:
        """Store ``values`` for ``key`` atomically (last writer wins)."""
        atomic_write_json(self.path(key), {"format": CACHE_FORMAT, "key": asdict(key), "values": list(values)})

    def _quarantine(self, path: Path, reason: str) -> None:
        """Move a bad entry aside so it is regenerated; tolerate another thread doing it first."""
        with self._lock:
            try:
                moved = quarantine(path)
            except FileNotFoundError:
                return
        log.warning("LLM cache entry %s is %s; moved to %s and will be regenerated.", path.name, reason, moved.name)
