"""Process-wide homes for per-session data that is too heavy for a browser session's state.

A session keeps only an unguessable token; the comparison behind it (arrays, per-prompt
scores) lives here, in an LRU shared by the process and bounded twice: by the number of
records and by an estimate of their bytes. Each session owns at most one record (a new run
replaces its last one). Without the token nobody can reach another session's results.
Running jobs register a cancel event under their session key so a Stop button can end the
work between steps.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prompting.errors import PromptingError
from prompting.evaluation.compare import ImageInput
from prompting.evaluation.results import Comparison
from prompting.strategies.registry import StrategySpec

DEFAULT_CAPACITY = 64
DEFAULT_MAX_BYTES = 2**30
NO_RESULTS = "There are no results to show yet: press Run first."
EXPIRED = "Your results expired (the server keeps a limited number); press Run again."


class ResultsExpiredError(PromptingError):
    """The results a page refers to are gone (server restarted or too many newer runs)."""


@dataclass(frozen=True)
class StrategySource:
    """Which model and which spec produced one result of a comparison."""

    model: str
    spec: StrategySpec


@dataclass
class RunRecord:
    """One run: its comparison, the images it scored, where each result came from, and the true
    classes typed for images that matched no class, each with how many images carry it (in order)."""

    comparison: Comparison
    images: list[ImageInput]
    sources: dict[str, StrategySource] = field(default_factory=dict)
    unmatched_labels: dict[str, int] = field(default_factory=dict)


def _array_bytes(value: Any) -> int:
    """Bytes of the numpy arrays in ``value`` (lists, tuples and dicts are searched; other
    objects count their ``nbytes``, as lazily computed prompt scores do)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(getattr(value, "nbytes", None), int):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(_array_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_array_bytes(item) for item in value)
    return 0


def record_bytes(record: RunRecord) -> int:
    """An estimate of the memory a record holds: its arrays' bytes plus its prompts' text."""
    comparison = record.comparison
    if comparison is None:
        return 0
    total = 0
    for result in comparison.strategies.values():
        total += _array_bytes([result.similarities, result.logits, result.probabilities,
                               result.prompt_similarities, result.class_text_vectors, result.seed_runs,
                               result.prompt_weights])
        if result.fudd is not None:
            total += _array_bytes([result.fudd.sets, result.fudd.set_cosines])
        total += sum(len(prompt) for prompts in result.prompts for prompt in prompts)
    return total


class ResultStore:
    """A thread-safe LRU of run records keyed by random tokens, one record per owner.

    ``capacity`` bounds the number of records and ``max_bytes`` their estimated size
    (``record_bytes``); the least recently used go first, but the newest record always stays,
    so a run never loses its own results to the bound.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.capacity = max(1, capacity)
        self.max_bytes = max_bytes
        self._records: OrderedDict[str, tuple[RunRecord, int]] = OrderedDict()
        self._owner_token: dict[str, str] = {}
        self._token_owner: dict[str, str] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    @property
    def total_bytes(self) -> int:
        """The estimated bytes of the records held now."""
        with self._lock:
            return self._bytes

    def put(self, record: RunRecord, owner: str | None = None) -> str:
        """Store ``record``; return its new token.

        With an ``owner`` (a browser session), the owner's previous record is dropped first, so
        a session never holds more than one. Then the least recently used records go until the
        store is within its bounds.
        """
        token = secrets.token_urlsafe(16)
        size = record_bytes(record)
        with self._lock:
            if owner:
                previous = self._owner_token.get(owner)
                if previous is not None:
                    self._drop(previous)
                self._owner_token[owner] = token
                self._token_owner[token] = owner
            self._records[token] = (record, size)
            self._bytes += size
            while len(self._records) > 1 and (len(self._records) > self.capacity or self._bytes > self.max_bytes):
                self._drop(next(iter(self._records)))
        return token

    def _drop(self, token: str) -> None:
        """Forget ``token``'s record (the caller holds the lock)."""
        entry = self._records.pop(token, None)
        if entry is not None:
            self._bytes -= entry[1]
        owner = self._token_owner.pop(token, None)
        if owner is not None and self._owner_token.get(owner) == token:
            del self._owner_token[owner]

    def get(self, token: str | None) -> RunRecord:
        """The record for ``token``; ResultsExpiredError when there is none (saying whether
        there never were results or they were dropped)."""
        if not token:
            raise ResultsExpiredError(NO_RESULTS)
        with self._lock:
            entry = self._records.get(token)
            if entry is None:
                raise ResultsExpiredError(EXPIRED)
            self._records.move_to_end(token)
            return entry[0]


class CancelRegistry:
    """Cancel events of running jobs, keyed by session."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, key: str) -> threading.Event:
        """A fresh event for a job of session ``key`` (replacing an older one)."""
        event = threading.Event()
        with self._lock:
            self._events[key] = event
        return event

    def current(self, key: str) -> threading.Event:
        """The event registered for session ``key`` when its job was queued (``start``), or a
        fresh one; a Stop pressed while the job waited in the queue has already set it."""
        with self._lock:
            event = self._events.get(key)
            if event is None:
                event = self._events[key] = threading.Event()
            return event

    def cancel(self, key: str) -> bool:
        """Ask the job of session ``key`` to stop; False when none is running."""
        with self._lock:
            event = self._events.get(key)
        if event is None:
            return False
        event.set()
        return True

    def finish(self, key: str, event: threading.Event) -> None:
        """Forget ``event`` once its job ended (unless a newer job replaced it)."""
        with self._lock:
            if self._events.get(key) is event:
                del self._events[key]
