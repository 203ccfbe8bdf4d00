"""Where persistent caches live and how files are written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import platformdirs

from prompting.errors import CacheError

CACHE_ENV_VAR = "ZSP_CACHE_DIR"
DIGESTS_FILE = "file_digests.json"
DIGEST_MEMO_ENTRIES = 4096
_DIGESTS: OrderedDict[str, tuple[tuple[int, ...], str]] = OrderedDict()
_DIGESTS_LOCK = threading.Lock()


def cache_dir() -> Path:
    """The root of all persistent caches: ``$ZSP_CACHE_DIR`` or the user cache dir.

    Raises ``CacheError`` (saying which setting to change) when it cannot be a writable
    directory: a file is in the way, a parent is missing rights, or it is read-only.
    """
    override = os.environ.get(CACHE_ENV_VAR)
    root = Path(override) if override else Path(platformdirs.user_cache_dir("prompt-workbench"))
    setting = f"${CACHE_ENV_VAR}" if override else "the user cache directory"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise CacheError(f"The cache directory '{root}' ({setting}) is a file, not a directory; "
                            f"point {CACHE_ENV_VAR} at a directory.") from exc
    except OSError as exc:
        raise CacheError(f"The cache directory '{root}' ({setting}) cannot be created "
                            f"({exc.strerror or exc}); point {CACHE_ENV_VAR} at a writable directory.") from exc
    if not os.access(root, os.W_OK | os.X_OK):
        raise CacheError(f"The cache directory '{root}' ({setting}) is not writable; "
                            f"point {CACHE_ENV_VAR} at a writable directory.")
    return root


def read_user_text(path: str | Path, what: str, error: type[Exception]) -> str:
    """Read a user-named UTF-8 text file (a leading byte-order mark is dropped); failures raise
    ``error`` naming ``what`` and why, and how to fix a file that is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"Cannot read {what} '{path}': it is not UTF-8 text (byte {exc.start}); save the file as "
                    "UTF-8 and try again.") from exc
    except OSError as exc:
        raise error(f"Cannot read {what} '{path}': {exc.strerror or exc}.") from exc


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old or the new file, never half. The
    file gets the permissions the user's umask gives a new file (``mkstemp`` alone would make it
    readable by its owner only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_name = str(path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
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


def _signature(stat: os.stat_result) -> tuple[int, ...]:
    """What changes when a file is rewritten: size, modification and change times, inode."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def file_sha256(path: str | Path, remember: bool = False) -> str:
    """SHA-256 (hex) of a file's bytes, remembered by path, size, times and inode so an
    unchanged file is hashed once per process; with ``remember`` also across processes (in
    the cache directory: for large files read at every start, such as model weights).
    Raises OSError when the file cannot be read."""
    resolved = str(Path(path).resolve())
    signature = _signature(os.stat(resolved))
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(resolved)
    if known is None and remember:
        stored = read_cached_json(DIGESTS_FILE).get(resolved)
        if stored and tuple(stored[0]) == signature:
            known = (signature, stored[1])
    if known is not None and known[0] == signature:
        digest = known[1]
    else:
        with open(resolved, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if remember:
            _write_digest(resolved, signature, digest)
    with _DIGESTS_LOCK:
        _DIGESTS[resolved] = (signature, digest)
        _DIGESTS.move_to_end(resolved)
        while len(_DIGESTS) > DIGEST_MEMO_ENTRIES:
            _DIGESTS.popitem(last=False)
    return digest


def read_cached_json(name: str) -> dict[str, Any]:
    """The JSON object kept in the cache directory as ``name``; {} when it is missing,
    unreadable or not an object (the caller starts afresh)."""
    try:
        data = json.loads((cache_dir() / name).read_text(encoding="utf-8"))
    except (OSError, ValueError, CacheError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_digest(path: str, signature: tuple[int, ...], digest: str) -> None:
    """Add one digest to the cross-process memo (best effort: a failure only costs re-hashing)."""
    digests = read_cached_json(DIGESTS_FILE)
    digests.pop(path, None)
    digests[path] = [list(signature), digest]
    kept = dict(list(digests.items())[-DIGEST_MEMO_ENTRIES:])
    try:
        atomic_write_json(cache_dir() / DIGESTS_FILE, kept)
    except (OSError, CacheError):
        pass
