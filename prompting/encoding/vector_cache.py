"""Embeddings on disk: one SQLite file shared by the CLI and the app, bounded in bytes (LRU).

A row is ``(space, key) -> float32 vector``. A space is one model with one set of settings
(tokenisation for text; preprocessing, decoding and quantisation for images); a key is the
SHA-256 of a prompt or of an image file's bytes. Each ``put`` is one transaction, so a run
killed part-way keeps every batch it finished and a half-written batch is rolled back when
the file is next opened. The rows' bytes are kept under ``max_bytes``: the least recently
used go first. A row that is not a finite, unit-length vector of the model's dimension is
deleted (and logged) so its item is encoded again; a file that is not a usable database is
set aside (``*.corrupt``) and started afresh. Failing to write (disk full, read-only) only
costs the caching: a warning is logged and the run goes on.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from prompting.errors import CacheError
from prompting.storage import quarantine

LOG = logging.getLogger(__name__)
SCHEMA_VERSION = 1
CHUNK = 500  # keys per SQL statement (SQLite allows 32,766 parameters)
NORM_TOLERANCE = 1e-3
# Bookkeeping beside the vector and key bytes: the row header, the primary-key index entry
# (which repeats space and key) and the recency index entry.
ROW_OVERHEAD = 48
SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    space TEXT NOT NULL, key TEXT NOT NULL, vector BLOB NOT NULL, size INTEGER NOT NULL, used REAL NOT NULL,
    PRIMARY KEY (space, key));
CREATE INDEX IF NOT EXISTS vectors_used ON vectors (used);
CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO totals VALUES (0, 0);
CREATE TRIGGER IF NOT EXISTS vectors_added AFTER INSERT ON vectors
    BEGIN UPDATE totals SET bytes = bytes + NEW.size; END;
CREATE TRIGGER IF NOT EXISTS vectors_removed AFTER DELETE ON vectors
    BEGIN UPDATE totals SET bytes = bytes - OLD.size; END;
CREATE TRIGGER IF NOT EXISTS vectors_changed AFTER UPDATE OF size ON vectors
    BEGIN UPDATE totals SET bytes = bytes + NEW.size - OLD.size; END;
"""


def row_size(space: str, key: str, dim: int) -> int:
    """The bytes one row is counted as: vector, key and space twice (row and index), overhead."""
    return 4 * dim + 2 * (len(space) + len(key)) + ROW_OVERHEAD


class VectorCache:
    """A thread-safe, process-shareable, byte-bounded LRU of vectors in one SQLite file."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._db = self._open()

    @property
    def total_bytes(self) -> int:
        """The counted bytes of all rows (see ``row_size``)."""
        with self._lock:
            return int(self._db.execute("SELECT bytes FROM totals").fetchone()[0])

    def count(self, space: str | None = None) -> int:
        """Rows held (in one space, or in all)."""
        sql, args = ("SELECT count(*) FROM vectors", ()) if space is None else (
            "SELECT count(*) FROM vectors WHERE space = ?", (space,))
        with self._lock:
            return int(self._db.execute(sql, args).fetchone()[0])

    def contains(self, space: str, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` have a row (no vector is read and recency is not touched: cheap,
        for estimating work before a run)."""
        present: set[str] = set()
        with self._guard("read"):
            for chunk in _chunks(list(dict.fromkeys(keys))):
                rows = self._db.execute(
                    f"SELECT key FROM vectors WHERE space = ? AND key IN ({_marks(chunk)})", [space, *chunk])
                present.update(key for (key,) in rows)
        return present

    def get(self, space: str, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """The valid vectors among ``keys`` (marked as just used); invalid rows are deleted."""
        found: dict[str, np.ndarray] = {}
        invalid: list[str] = []
        with self._guard("read") as db:
            for chunk in _chunks(list(dict.fromkeys(keys))):
                rows = db.execute(
                    f"SELECT key, vector FROM vectors WHERE space = ? AND key IN ({_marks(chunk)})", [space, *chunk])
                for key, blob in rows:
                    vector = _valid_vector(blob, dim)
                    if vector is None:
                        invalid.append(key)
                    else:
                        found[key] = vector
            with _transaction(db):
                now = time.time()
                for chunk in _chunks(list(found)):
                    db.execute(f"UPDATE vectors SET used = ? WHERE space = ? AND key IN ({_marks(chunk)})",
                               [now, space, *chunk])
                for chunk in _chunks(invalid):
                    db.execute(f"DELETE FROM vectors WHERE space = ? AND key IN ({_marks(chunk)})", [space, *chunk])
        if invalid:
            LOG.warning("%d cached embeddings in %s were not finite unit vectors of dimension %d; "
                        "they were dropped and will be encoded again.", len(invalid), self.path.name, dim)
        return found

    def put(self, space: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store one batch in one transaction, then evict the least recently used rows until
        the total is within ``max_bytes``."""
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors.")
        if not len(keys):
            return
        now = time.time()
        dim = vectors.shape[1]
        rows = [(space, key, vector.tobytes(), row_size(space, key, dim), now) for key, vector in zip(keys, vectors)]
        with self._guard("write") as db:
            with _transaction(db):
                db.executemany(
                    "INSERT INTO vectors (space, key, vector, size, used) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (space, key) DO UPDATE SET vector = excluded.vector, size = excluded.size, "
                    "used = excluded.used", rows)
                evicted = self._evict(db)
            if evicted:
                db.execute("PRAGMA incremental_vacuum")

    def close(self) -> None:
        """Close the connection (the file stays)."""
        with self._lock:
            self._db.close()

    def _evict(self, db: sqlite3.Connection) -> int:
        """Delete the least recently used rows (oldest first among equals) until the total is
        within budget; inside the caller's transaction. Returns how many went."""
        excess = db.execute("SELECT bytes FROM totals").fetchone()[0] - self.max_bytes
        if excess <= 0:
            return 0
        doomed: list[int] = []
        for rowid, size in db.execute("SELECT rowid, size FROM vectors ORDER BY used, rowid"):
            doomed.append(rowid)
            excess -= size
            if excess <= 0:
                break
        for start in range(0, len(doomed), CHUNK):
            chunk = doomed[start : start + CHUNK]
            db.execute(f"DELETE FROM vectors WHERE rowid IN ({_marks(chunk)})", chunk)
        return len(doomed)

    @contextmanager
    def _guard(self, action: str) -> Iterator[sqlite3.Connection]:
        """Hold the lock; a corrupt file is set aside and replaced, other database errors
        (locked, disk full, read-only) are logged and the operation is skipped."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.DatabaseError as exc:
                if _is_corrupt(exc):
                    self._db.close()
                    self._quarantine(exc)
                    self._db = self._connect()
                else:
                    LOG.warning("Embedding cache %s: %s failed (%s); continuing without it.", self.path.name,
                                action, exc)

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise CacheError(f"The embedding cache {self.path.name} cannot be opened ({exc}).") from exc
            self._quarantine(exc)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"written in cache format {version}, not {SCHEMA_VERSION}")
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect on a new file only
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _quarantine(self, exc: Exception) -> None:
        for suffix in ("-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        if self.path.exists():
            moved = quarantine(self.path)
            LOG.warning("Embedding cache %s is unusable (%s); moved to %s and started afresh.", self.path.name,
                        exc, moved.name)


def _valid_vector(blob: bytes, dim: int) -> np.ndarray | None:
    """The row's vector if it has ``dim`` finite float32 values of unit length, else None."""
    if not isinstance(blob, bytes) or len(blob) != 4 * dim:
        return None
    vector = np.frombuffer(blob, dtype="<f4")
    if not np.all(np.isfinite(vector)) or abs(float(np.dot(vector, vector)) - 1.0) > NORM_TOLERANCE:
        return None
    return vector


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    """A damaged or foreign file (as opposed to a busy, full or read-only one)."""
    text = str(exc).lower()
    return not isinstance(exc, sqlite3.OperationalError) or "malformed" in text or "not a database" in text


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _marks(chunk: Sequence[object]) -> str:
    return ",".join("?" * len(chunk))
