"""Text and image embeddings cached on disk: only prompts and images never seen are encoded.

Both kinds live in one byte-bounded LRU file (``vector_cache.VectorCache``) under
``cache_dir()``, shared by the CLI and the app and across restarts. Text is keyed by (model
identity, tokenisation settings, quantisation; prompt text), images by (model identity, image
preprocessing, decoding at model size, quantisation; SHA-256 of the file's bytes), so a cached
image is neither decoded nor encoded again. Every batch is saved as soon as it is encoded: a
stopped or killed run resumes where it stopped. The cache's size is set by the operator
(``$ZSP_CACHE_MAX_MB``, or ``set_cache_limit``); the least recently used embeddings go first.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from prompting.encoding.images import DECODE_MARGIN, DRAFT_MARGIN
from prompting.encoding.models import DualEncoder
from prompting.encoding.vector_cache import VectorCache
from prompting.errors import CacheError
from prompting.storage import cache_dir, file_sha256

FORMAT_VERSION = 2
TEXT_BATCH_SIZE = 64
IMAGE_BATCH_SIZE = 16
CACHE_FILE = "embeddings.sqlite3"
MAX_MB_ENV = "ZSP_CACHE_MAX_MB"
DEFAULT_MAX_MB = 1024
MiB = 2**20
DECODE_POLICY = f"model-size;draft={DRAFT_MARGIN};margin={DECODE_MARGIN}"
Progress = Callable[[int, int], None]


@dataclass
class EncodeStats:
    """Distinct prompts and images encoded by the model or served from the cache (there before
    this count began). Prompts also count as shared when an earlier call on these stats already
    counted them, as when two strategies of one run use the same prompt (it is encoded once; on a
    first run it is not from the cache).

    ``track_shared=False`` (a store's lifetime totals) keeps no record of the prompts seen, so
    repeats count as cached.
    """

    prompts_encoded: int = 0
    prompts_cached: int = 0
    prompts_shared: int = 0
    images_encoded: int = 0
    images_cached: int = 0
    track_shared: bool = field(default=True, repr=False, compare=False)
    _seen: set[str] = field(default_factory=set, repr=False, compare=False)

    def count_prompts(self, distinct: list[str], encoded: int) -> None:
        """Count one lookup of ``distinct`` prompts, ``encoded`` of which the model had to encode."""
        shared = sum(1 for prompt in distinct if prompt in self._seen)
        self.prompts_shared += shared
        self.prompts_encoded += encoded
        self.prompts_cached += len(distinct) - shared - encoded
        if self.track_shared:
            self._seen.update(distinct)

    def as_dict(self) -> dict[str, int]:
        """Plain dict for JSON and the UI."""
        return {key: getattr(self, key) for key in COUNT_KEYS}

    def add(self, other: EncodeStats) -> None:
        """Add ``other``'s counts to these."""
        for key in COUNT_KEYS:
            setattr(self, key, getattr(self, key) + getattr(other, key))


COUNT_KEYS = ("prompts_encoded", "prompts_cached", "prompts_shared", "images_encoded", "images_cached")


def _digest(text: str, length: int = 32) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


class TextEmbeddingStore:
    """Cached text embeddings of one model with its tokenisation (and quantisation)."""

    def __init__(self, encoder: DualEncoder, cache: VectorCache) -> None:
        self.encoder = encoder
        self.cache = cache
        self.space = _digest(f"text|{encoder.identity}|{encoder.text_settings_key}|v{FORMAT_VERSION}", 24)
        self.stats = EncodeStats(track_shared=False)

    def missing(self, prompts: Sequence[str]) -> list[str]:
        """The distinct prompts a run would encode (not cached), in first-seen order. Cheap: no
        vector is read and nothing is encoded, so budgets and estimates can use it up front."""
        unique = list(dict.fromkeys(prompts))
        present = self.cache.contains(self.space, [_digest(p) for p in unique])
        return [p for p in unique if _digest(p) not in present]

    def embed(
        self, prompts: list[str], stats: EncodeStats | None = None, progress: Progress | None = None
    ) -> np.ndarray:
        """Normalised embeddings for ``prompts`` (in order), encoding only cache misses.

        Counts (distinct prompts) go to the store's running totals and to ``stats`` if given
        (see ``EncodeStats``). ``progress(done, total)`` is called after each batch, once that
        batch is saved; if it raises (e.g. the user cancelled), everything encoded so far stays
        cached.
        """
        if not prompts:
            return np.zeros((0, 0), dtype=np.float32)
        keys = {prompt: _digest(prompt) for prompt in dict.fromkeys(prompts)}
        found = self.cache.get(self.space, list(keys.values()), self.encoder.embedding_dim)
        vectors = {prompt: found[key] for prompt, key in keys.items() if key in found}
        missing = [prompt for prompt in keys if prompt not in vectors]
        done = 0
        for batch, batch_vectors in self._encode_sorted(missing):
            self.cache.put(self.space, [keys[prompt] for prompt in batch], batch_vectors)
            vectors.update(zip(batch, batch_vectors))
            done += len(batch)
            if progress:
                progress(done, len(missing))
        for counter in (self.stats, stats):
            if counter is not None:
                counter.count_prompts(list(keys), len(missing))
        return np.stack([vectors[prompt] for prompt in prompts])

    def count_cached(self, prompts: set[str]) -> int:
        """How many of ``prompts`` are in the cache already (nothing is encoded)."""
        return len(self.cache.contains(self.space, [_digest(p) for p in prompts]))

    def _encode_sorted(self, prompts: list[str]) -> Iterator[tuple[list[str], np.ndarray]]:
        """Encode in batches of similar token length, so dynamic padding wastes little."""
        if not prompts:
            return
        lengths = self.encoder.token_lengths(prompts)
        ordered = [prompts[i] for i in sorted(range(len(prompts)), key=lambda i: lengths[i])]
        for start in range(0, len(ordered), TEXT_BATCH_SIZE):
            batch = ordered[start : start + TEXT_BATCH_SIZE]
            began = time.perf_counter()
            vectors = self.encoder.encode_text(batch)
            self.encoder.speed.record("text", len(batch), time.perf_counter() - began)
            yield batch, vectors


class ImageEmbeddingStore:
    """Cached image embeddings of one model with its preprocessing, keyed by file content."""

    def __init__(self, encoder: DualEncoder, cache: VectorCache) -> None:
        self.encoder = encoder
        self.cache = cache
        self.space = _digest(
            f"image|{encoder.identity}|{encoder.image_settings_key}|{DECODE_POLICY}|v{FORMAT_VERSION}", 24
        )

    @staticmethod
    def key(path: str | Path) -> str:
        """The cache key of an image file: its content's SHA-256 (OSError if unreadable)."""
        return file_sha256(path)[:32]

    def cached(self, keys: Sequence[str]) -> set[str]:
        """Which keys are cached (cheap: nothing is read or decoded)."""
        return self.cache.contains(self.space, keys)

    def lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached, valid vectors among ``keys``."""
        if not keys:
            return {}
        return self.cache.get(self.space, keys, self.encoder.embedding_dim)

    def save(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Cache one encoded batch (one transaction)."""
        self.cache.put(self.space, keys, vectors)


_CACHES: dict[str, VectorCache] = {}
_TEXT: dict[tuple[str, ...], TextEmbeddingStore] = {}
_IMAGE: dict[tuple[str, ...], ImageEmbeddingStore] = {}
_LOCK = threading.Lock()
_LIMIT_OVERRIDE: list[int | None] = [None]


def set_cache_limit(max_bytes: int | None) -> None:
    """The operator's cache size for this process (bytes; None: ``$ZSP_CACHE_MAX_MB`` or the
    default of 1 GiB)."""
    if max_bytes is not None and max_bytes <= 0:
        raise CacheError(f"The embedding cache size must be positive, got {max_bytes} bytes.")
    _LIMIT_OVERRIDE[0] = max_bytes


def cache_limit(env: Mapping[str, str] | None = None) -> int:
    """The embedding cache's bound in bytes (see ``set_cache_limit``; ``env`` defaults to the
    process's environment)."""
    if _LIMIT_OVERRIDE[0] is not None:
        return _LIMIT_OVERRIDE[0]
    text = (os.environ if env is None else env).get(MAX_MB_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_MB * MiB
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = -1.0
    if not megabytes > 0:
        raise CacheError(f"{MAX_MB_ENV} must be a positive number of MiB (e.g. 1024), got '{text}'.")
    return int(megabytes * MiB)


def vector_cache() -> VectorCache:
    """The process-wide embedding cache file under ``cache_dir()`` (opened once per path)."""
    path = cache_dir() / CACHE_FILE
    limit = cache_limit()
    with _LOCK:
        cache = _CACHES.get(str(path))
        if cache is None:
            cache = _CACHES[str(path)] = VectorCache(path, limit)
        cache.max_bytes = limit
        return cache


def text_store(encoder: DualEncoder) -> TextEmbeddingStore:
    """The process-wide text store for ``encoder`` (one per model settings and cache file)."""
    return _shared(_TEXT, TextEmbeddingStore, encoder, encoder.text_settings_key)


def image_store(encoder: DualEncoder) -> ImageEmbeddingStore:
    """The process-wide image store for ``encoder`` (one per model settings and cache file)."""
    return _shared(_IMAGE, ImageEmbeddingStore, encoder, encoder.image_settings_key)


Store = TypeVar("Store", TextEmbeddingStore, ImageEmbeddingStore)


def _shared(stores: dict[tuple[str, ...], Store], kind: type[Store], encoder: DualEncoder, settings: str) -> Store:
    """The store of ``kind`` in ``stores`` for this cache file, model and settings, made on first use."""
    cache = vector_cache()
    key = (str(cache.path), encoder.identity, settings)
    with _LOCK:
        if key not in stores or stores[key].encoder is not encoder:
            stores[key] = kind(encoder, cache)
        return stores[key]


def reset_stores() -> None:
    """Forget in-process stores and close cache files (the next use reopens them), as a
    process restart would."""
    with _LOCK:
        for cache in _CACHES.values():
            cache.close()
        _CACHES.clear()
        _TEXT.clear()
        _IMAGE.clear()
