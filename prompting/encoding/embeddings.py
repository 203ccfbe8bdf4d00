"""Text and image embeddings with caches: only prompts never seen before are encoded.

Text embeddings persist on disk, keyed by (model identity, tokenisation settings, exact
prompt). Each encode call appends one shard file written atomically, so a crash never
corrupts earlier work; a corrupt or foreign shard is set aside with a warning and its
prompts are simply encoded again. Image embeddings are cached by content hash in memory
for the life of the process.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from prompting.encoding.images import image_fingerprint
from prompting.encoding.models import DualEncoder
from prompting.storage import atomic_write_bytes, cache_dir, quarantine

LOG = logging.getLogger(__name__)
FORMAT_VERSION = 1
TEXT_BATCH_SIZE = 64
IMAGE_BATCH_SIZE = 16
IMAGE_CACHE_ENTRIES = 4096
Progress = Callable[[int, int], None]


@dataclass
class EncodeStats:
    """Distinct prompts encoded by the model, served from the cache (there before this count
    began), and shared: already counted by an earlier call on these stats, as when two strategies
    of one run use the same prompt (it is encoded once; on a first run it is not from the cache).

    ``track_shared=False`` (a store's lifetime totals) keeps no record of the prompts seen, so
    repeats count as cached.
    """

    prompts_encoded: int = 0
    prompts_cached: int = 0
    prompts_shared: int = 0
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
        return {"prompts_encoded": self.prompts_encoded, "prompts_cached": self.prompts_cached,
                "prompts_shared": self.prompts_shared}


class TextEmbeddingStore:
    """Persistent text-embedding cache for one model and tokenisation setting."""

    def __init__(self, encoder: DualEncoder, root: Path | None = None) -> None:
        self.encoder = encoder
        self.cache_key = hashlib.sha256(
            f"{encoder.identity}|{encoder.text_settings.key()}|v{FORMAT_VERSION}".encode()
        ).hexdigest()[:24]
        self.directory = (root or cache_dir()) / "text" / self.cache_key
        self.stats = EncodeStats(track_shared=False)
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._load_shards()

    def embed(
        self, prompts: list[str], stats: EncodeStats | None = None, progress: Progress | None = None
    ) -> np.ndarray:
        """Normalised embeddings for ``prompts`` (in order), encoding only cache misses.

        Counts (distinct prompts) go to the store's running totals and to ``stats`` if given
        (see ``EncodeStats``).
        ``progress(done, total)`` is called after each batch; if it raises (e.g. the user
        cancelled), the prompts encoded so far are still saved to the cache.
        """
        distinct = list(dict.fromkeys(prompts))
        with self._lock:
            missing = [p for p in distinct if p not in self._vectors]
        encoded: list[str] = []
        vectors: list[np.ndarray] = []
        try:
            for batch, batch_vectors in self._encode_sorted(missing):
                encoded.extend(batch)
                vectors.extend(batch_vectors)
                with self._lock:
                    self._vectors.update(zip(batch, batch_vectors))
                if progress:
                    progress(len(encoded), len(missing))
        finally:
            if encoded:
                self._write_shard(encoded, np.stack(vectors))
        for counter in (self.stats, stats):
            if counter is not None:
                counter.count_prompts(distinct, len(missing))
        with self._lock:
            if not prompts:
                return np.zeros((0, 0), dtype=np.float32)
            return np.stack([self._vectors[p] for p in prompts])

    def _encode_sorted(self, prompts: list[str]) -> Iterator[tuple[list[str], np.ndarray]]:
        """Encode in batches of similar token length, so dynamic padding wastes little."""
        if not prompts:
            return
        lengths = self.encoder.token_lengths(prompts)
        ordered = [prompts[i] for i in sorted(range(len(prompts)), key=lambda i: lengths[i])]
        for start in range(0, len(ordered), TEXT_BATCH_SIZE):
            batch = ordered[start : start + TEXT_BATCH_SIZE]
            yield batch, self.encoder.encode_text(batch)

    def _write_shard(self, prompts: list[str], vectors: np.ndarray) -> None:
        buffer = io.BytesIO()
        meta = json.dumps({"version": FORMAT_VERSION, "key": self.cache_key, "identity": self.encoder.identity})
        np.savez(buffer, meta=np.array(meta), prompts=np.array(prompts, dtype=str), vectors=vectors)
        digest = hashlib.sha256(buffer.getvalue()).hexdigest()[:16]
        try:
            atomic_write_bytes(self.directory / f"{digest}.npz", buffer.getvalue())
        except OSError as exc:
            LOG.warning("Could not write text-embedding cache in %s: %s (continuing without it).", self.directory, exc)

    def _load_shards(self) -> None:
        if not self.directory.is_dir():
            return
        for shard in sorted(self.directory.glob("*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as data:
                    meta = json.loads(str(data["meta"]))
                    if meta.get("version") != FORMAT_VERSION or meta.get("key") != self.cache_key:
                        raise ValueError("written for another model or cache format")
                    prompts, vectors = data["prompts"], data["vectors"]
                    if vectors.ndim != 2 or len(prompts) != len(vectors):
                        raise ValueError("inconsistent shapes")
                    self._vectors.update(zip(prompts.tolist(), vectors.astype(np.float32)))
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
                moved = quarantine(shard)
                LOG.warning("Text-embedding cache file %s is unusable (%s); moved to %s and will be rebuilt.",
                            shard.name, exc, moved.name)


class ImageEmbeddingCache:
    """In-process LRU cache of image embeddings keyed by (model identity, image content hash)."""

    def __init__(self, capacity: int = IMAGE_CACHE_ENTRIES) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, encoder: DualEncoder, images: list[Image.Image], progress: Progress | None = None) -> np.ndarray:
        """Normalised embeddings for ``images``, encoding only those not seen before."""
        keys = [(encoder.identity, image_fingerprint(image)) for image in images]
        with self._lock:
            missing = [i for i, key in enumerate(keys) if key not in self._entries]
        for start in range(0, len(missing), IMAGE_BATCH_SIZE):
            batch = missing[start : start + IMAGE_BATCH_SIZE]
            vectors = encoder.encode_images([images[i] for i in batch])
            with self._lock:
                for index, vector in zip(batch, vectors):
                    self._entries[keys[index]] = vector
                    self._entries.move_to_end(keys[index])
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
            if progress:
                progress(min(start + IMAGE_BATCH_SIZE, len(missing)), len(missing))
        with self._lock:
            return np.stack([self._entries[key] for key in keys]) if keys else np.zeros((0, 0), np.float32)


_STORES: dict[str, TextEmbeddingStore] = {}
_STORES_LOCK = threading.Lock()
IMAGE_CACHE = ImageEmbeddingCache()


def text_store(encoder: DualEncoder) -> TextEmbeddingStore:
    """The process-wide text store for ``encoder`` (one per model identity and cache root)."""
    root = cache_dir()
    key = f"{root}|{encoder.identity}|{encoder.text_settings.key()}"
    with _STORES_LOCK:
        if key not in _STORES:
            _STORES[key] = TextEmbeddingStore(encoder, root)
        return _STORES[key]


def reset_stores() -> None:
    """Forget in-process stores (the next use reloads from disk), as a process restart would."""
    with _STORES_LOCK:
        _STORES.clear()
