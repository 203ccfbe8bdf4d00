"""What a run needs to know about a checkpoint besides its weights, remembered per checkpoint.

A "card" (identity, family, tokenisation, logit scale and bias, image-preprocessing key, ...)
is written after a checkpoint is loaded once, keyed by a fingerprint of every file in it (each
file's digest is remembered by path, size and times, so this costs a few ``stat`` calls). With
a card, a run whose prompts and images are all cached never loads the weights, the processor or
transformers at all. Only checkpoints whose files are known without asking the hub qualify: a
local directory, or a hub id when ``HF_HUB_OFFLINE=1`` or its revision is a commit hash (the
snapshot in the Hugging Face cache); otherwise the hub may hold a newer commit.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from typing import Any

from prompting.errors import CacheError
from prompting.storage import (
    atomic_write_json,
    cache_dir,
    file_sha256,
    read_cached_json,
)

CARDS_FILE = "model_cards.json"
CARD_VERSION = 1
MAX_CARDS = 64
COMMIT = re.compile(r"^[0-9a-f]{40}$")
_LOCK = threading.Lock()


def checkpoint_folder(name: str, revision: str | None) -> Path | None:
    """The folder holding the checkpoint's files when it is known without the network."""
    path = Path(name)
    if path.is_dir():
        return path
    if os.environ.get("HF_HUB_OFFLINE") != "1" and not (revision and COMMIT.match(revision)):
        return None
    return cached_snapshot(name, revision)


def cached_snapshot(name: str, revision: str | None) -> Path | None:
    """The Hugging Face cache's snapshot folder of a hub checkpoint at ``revision`` (named by its
    commit), as the cache last resolved it; None when it is not cached. Never uses the network."""
    try:
        from huggingface_hub import try_to_load_from_cache

        config = try_to_load_from_cache(name, "config.json", revision=revision)
    except (ImportError, ValueError):  # no hub client, or not a repo id
        return None
    return Path(config).parent if isinstance(config, str) else None


def folder_fingerprint(folder: Path) -> str:
    """SHA-256 over the names and contents of every file in ``folder`` (digests remembered)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(file.relative_to(folder).as_posix().encode())
        digest.update(bytes.fromhex(file_sha256(file, remember=True)))
    return digest.hexdigest()


def card_key(folder: Path, settings: str) -> str:
    """The key of a checkpoint's card for one way of running it (device, dtype, quantisation)."""
    return hashlib.sha256(f"{folder_fingerprint(folder)}|{settings}|v{CARD_VERSION}".encode()).hexdigest()[:32]


def remembered_card(key: str) -> dict[str, Any] | None:
    """The card stored under ``key``, if any."""
    card = read_cached_json(CARDS_FILE).get(key)
    return card if isinstance(card, dict) else None


def remember_card(key: str, card: dict[str, Any]) -> None:
    """Store a card (best effort: without it the next run just loads the checkpoint)."""
    with _LOCK:
        cards = read_cached_json(CARDS_FILE)
        cards.pop(key, None)
        cards[key] = card
        try:
            atomic_write_json(cache_dir() / CARDS_FILE, dict(list(cards.items())[-MAX_CARDS:]))
        except (OSError, CacheError):
            pass
