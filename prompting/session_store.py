"""Process-wide homes for per-session data that is too heavy for a browser session's state.

A session keeps only an unguessable token; the comparison behind it (arrays, per-prompt
scores) lives here, in a bounded LRU shared by the process. Without the token nobody can
reach another session's results. Running jobs register a cancel event under their session
key so a Stop button can end the work between steps.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from prompting.compare import ImageInput
from prompting.errors import PromptingError
from prompting.results import Comparison
from prompting.strategies import StrategySpec

DEFAULT_CAPACITY = 64


class ResultsExpiredError(PromptingError):
    """The results a page refers to are gone (server restarted or too many newer runs)."""


@dataclass(frozen=True)
class StrategySource:
    """Which model and which spec produced one result of a comparison."""

    model: str
    spec: StrategySpec


@dataclass
class RunRecord:
    """One run: its comparison, the images it scored and where each result came from."""

    comparison: Comparison
    images: list[ImageInput]
    sources: dict[str, StrategySource] = field(default_factory=dict)


class ResultStore:
    """A thread-safe LRU of run records keyed by random tokens."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._records: OrderedDict[str, RunRecord] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, record: RunRecord) -> str:
        """Store ``record``; return its new token (the oldest record goes when full)."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._records[token] = record
            while len(self._records) > self.capacity:
                self._records.popitem(last=False)
        return token

    def get(self, token: str | None) -> RunRecord:
        """The record for ``token``; ResultsExpiredError when there is none."""
        key = token or ""
        with self._lock:
            record = self._records.get(key)
            if record is None:
                raise ResultsExpiredError("There are no results to show yet: press Run first.")
            self._records.move_to_end(key)
            return record


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
