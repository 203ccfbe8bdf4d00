"""Where persistent caches live and how files are written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import platformdirs

CACHE_ENV_VAR = "ZSP_CACHE_DIR"


def cache_dir() -> Path:
    """The root of all persistent caches: ``$ZSP_CACHE_DIR`` or the user cache dir."""
    override = os.environ.get(CACHE_ENV_VAR)
    root = Path(override) if override else Path(platformdirs.user_cache_dir("prompt-workbench"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def read_user_text(path: str | Path, what: str, error: type[Exception]) -> str:
    """Read a user-named UTF-8 text file; failures raise ``error`` naming ``what`` and why."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise error(f"Cannot read {what} '{path}': {reason}.") from exc


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old or the new file, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: Any) -> None:
    """Serialise ``payload`` as UTF-8 JSON and write it atomically."""
    text = json.dumps(payload, ensure_ascii=False, indent=2)
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def quarantine(path: Path) -> Path:
    """Move a corrupt or foreign file aside (``*.corrupt``) so it can be rebuilt; return new path."""
    path = Path(path)
    target = path.with_name(path.name + ".corrupt")
    os.replace(path, target)
    return target
