"""The shared worker threads for per-image Pillow work (decoding, resizing).

Pillow releases the GIL while it decodes and resamples, so a batch's images can be prepared on
as many threads as torch computes with; the batch's forward pass runs after, on torch's own
threads, so the two never compete for the cores. One pool serves the whole process (the app's
concurrent runs share it), so the threads are bounded whatever the number of runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

MAX_WORKERS = 4
Item = TypeVar("Item")
Result = TypeVar("Result")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def worker_count() -> int:
    """Threads for image work: torch's intra-op thread count, at most ``MAX_WORKERS``."""
    import torch

    return max(1, min(MAX_WORKERS, torch.get_num_threads()))


def map_in_workers(function: Callable[[Item], Result], items: Iterable[Item]) -> list[Result]:
    """``[function(item) for item in items]``, run on the worker threads (in order; the first
    exception is raised). With one worker or one item it runs on the calling thread."""
    items = list(items)
    if len(items) < 2 or worker_count() < 2:
        return [function(item) for item in items]
    return list(_workers().map(function, items))


def _workers() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=worker_count(), thread_name_prefix="image-worker")
        return _pool


def shutdown_workers(wait: bool = True) -> None:
    """Stop the worker threads; the next ``map_in_workers`` starts new ones. With ``wait`` their
    work is finished first; without (Ctrl-C), queued work is dropped and nothing is waited for."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=wait, cancel_futures=not wait)
