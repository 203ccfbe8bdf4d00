"""Process-wide homes for per-session data that is too heavy for a browser session's state.

A session keeps only an unguessable token; the comparison behind it (arrays, per-prompt
scores) lives here, in an LRU shared by the process and bounded twice: by the number of
records and by the bytes they hold (every object counted). Each session owns at most one record (a new run
replaces its last one). Without the token nobody can reach another session's results.
Running jobs register a cancel event under their session key so a Stop button can end the
work between steps.
"""

from __future__ import annotations

import secrets
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from types import FunctionType, MethodType, ModuleType
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


def held_bytes(value: Any) -> int:
    """The memory ``value`` holds, counted object by object (each once): numpy buffers, strings,
    numbers and the containers, dataclasses and plain objects that reach them. Shared objects
    (interned strings, small ints) are counted too, so this errs on the high side."""
    seen: set[int] = set()
    pending = [value]
    total = 0
    while pending:
        item = pending.pop()
        if id(item) in seen or isinstance(item, (type, ModuleType, FunctionType, MethodType)):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, np.ndarray):
            if item.base is not None:
                pending.append(item.base)
            if item.dtype == object:
                pending.extend(item.ravel().tolist())
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
        elif not isinstance(item, (str, bytes, bytearray, int, float, complex, bool, type(None))):
            pending.extend(_attributes(item))
    return total


def _attributes(item: Any) -> list[Any]:
    """The attribute values of a plain object (``__dict__`` and ``__slots__``)."""
    values = [item.__dict__] if hasattr(item, "__dict__") else []
    for cls in type(item).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(item, slot):
                values.append(getattr(item, slot))
    return values


def record_bytes(record: RunRecord) -> int:
    """The memory a record holds: its comparison (arrays, prompts, metrics, names), its images
    and where each result came from (see ``held_bytes``)."""
    return held_bytes(record)


class ResultStore:
    """A thread-safe LRU of run records keyed by random tokens, one record per owner.

    ``capacity`` bounds the number of records and ``max_bytes`` the bytes they hold
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
        """The bytes the records held now take (see ``record_bytes``)."""
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

    def drop_owner(self, owner: str) -> None:
        """Forget ``owner``'s record (its session ended)."""
        with self._lock:
            token = self._owner_token.get(owner)
            if token is not None:
                self._drop(token)

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
    """Cancel events of running jobs, by session and kind of job.

    A session may run several jobs at once (a page run and a description generation; several
    API calls from one script). ``cancel(session, kind)`` stops that session's jobs of one kind
    (the page's Stop button: its runs); ``cancel(session)`` stops them all (the session
    ended). A page run is registered as soon as it is asked for (``start``), so a Stop pressed
    while it waits in the queue reaches it when it begins (``join`` adopts that event).
    """

    def __init__(self) -> None:
        self._jobs: dict[str, dict[threading.Event, str]] = {}
        self._pending: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, key: str, kind: str = "run") -> threading.Event:
        """A fresh event for the next job of ``kind`` of session ``key`` (replacing an older one)."""
        event = threading.Event()
        with self._lock:
            self._pending[(key, kind)] = event
        return event

    def join(self, key: str, kind: str = "run") -> threading.Event:
        """Register a job that begins now: the event ``start`` made for it (a Stop pressed while
        it waited has already set it), or a fresh one."""
        with self._lock:
            event = self._pending.pop((key, kind), None) or threading.Event()
            self._jobs.setdefault(key, {})[event] = kind
        return event

    def cancel(self, key: str, kind: str | None = None) -> bool:
        """Ask session ``key``'s jobs (of ``kind``, or all) to stop, queued ones included; False
        when none is there."""
        with self._lock:
            events = [event for event, job_kind in self._jobs.get(key, {}).items() if kind in (None, job_kind)]
            events += [event for (session, job_kind), event in self._pending.items()
                       if session == key and kind in (None, job_kind)]
        for event in events:
            event.set()
        return bool(events)

    def finish(self, key: str, event: threading.Event) -> None:
        """Forget ``event`` once its job ended."""
        with self._lock:
            jobs = self._jobs.get(key, {})
            jobs.pop(event, None)
            if not jobs:
                self._jobs.pop(key, None)

    def forget(self, key: str) -> None:
        """Drop what is still queued for session ``key`` (it ended)."""
        with self._lock:
            for pending in [pair for pair in self._pending if pair[0] == key]:
                del self._pending[pending]

    def running(self, key: str | None = None) -> int:
        """How many jobs are running (of session ``key``, or in all)."""
        with self._lock:
            if key is not None:
                return len(self._jobs.get(key, {}))
            return sum(len(jobs) for jobs in self._jobs.values())
