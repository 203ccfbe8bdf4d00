"""Long handlers whose cancellation reaches the work, and whose slot stays taken until it stops.

Gradio cancels an event (an API client's ``job.cancel()``, the page's ``/cancel``) by
cancelling the asyncio task that awaits the handler; a plain function runs in a worker thread
that cannot be killed, so it computed on to the end while its concurrency slot was already
given to the next job. ``cancellable`` turns a handler into a coroutine that runs it in a
thread and, when its task is cancelled, sets the job's ``threading.Event`` (the core checks it
between batches: ``compare``'s ``cancel``, generation's ``cancel``), then waits until the
thread has really stopped before letting the cancellation through, so the slot is only free
once the work is. The same event is set when the session ends (a closed tab, a closed
``gradio_client.Client``: ``CancelRegistry.cancel`` from ``demo.unload``) and, for page runs,
by the Stop button. The handler reads its event with ``current_cancel()``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import gradio as gr

from prompting.service.session_store import CancelRegistry

LOG = logging.getLogger(__name__)
WORKERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="work")
_CANCEL: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("cancel", default=None)
Handler = TypeVar("Handler", bound=Callable[..., Any])


def current_cancel() -> threading.Event:
    """The running job's cancel event (a fresh, never-set one outside a cancellable handler)."""
    return _CANCEL.get() or threading.Event()


def session_of(arguments: tuple[Any, ...], keywords: dict[str, Any]) -> str:
    """The session hash of the ``gr.Request`` among a handler's arguments ('' without one)."""
    for value in (*arguments, *keywords.values()):
        if isinstance(value, gr.Request):
            return value.session_hash or ""
    return ""


def cancellable(cancels: CancelRegistry | None = None, kind: str = "job") -> Callable[[Handler], Handler]:
    """Run a (sync) handler so that cancelling its event stops its work; with ``cancels``, the
    job is registered under its session (the handler then takes a ``gr.Request``) so that the
    session's end, or ``cancels.cancel(session, kind)``, stops it too."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(*arguments: Any, **keywords: Any) -> Any:
            session = session_of(arguments, keywords)
            event = cancels.join(session, kind) if cancels is not None else threading.Event()
            context = contextvars.copy_context()
            context.run(_CANCEL.set, event)
            work = asyncio.wrap_future(WORKERS.submit(context.run, handler, *arguments, **keywords))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                asked = time.monotonic()
                event.set()
                await _until_done(work)
                LOG.info("Cancelled %s: its work stopped %.2f s after the cancel.", handler.__name__,
                         time.monotonic() - asked)
                raise
            finally:
                if cancels is not None:
                    cancels.finish(session, event)

        return run  # type: ignore[return-value]

    return decorate


async def _until_done(work: asyncio.Future[Any]) -> None:
    """Wait for ``work`` to end however it ends, through further cancellations; its result or
    error (e.g. ``Cancelled``) is no longer anyone's business."""
    while not work.done():
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            continue
        except Exception:
            break
    if not work.cancelled():
        work.exception()  # retrieved, so asyncio does not report it as lost
