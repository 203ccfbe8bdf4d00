"""Everything the process holds for browser sessions and script clients, and their end.

One ``Sessions`` per app: the result store, the running jobs, the unpacked uploads and the
language-model request budgets, all keyed by Gradio's session hash. ``end`` is called when a
session goes away (a closed tab; a closed ``gradio_client.Client``): its jobs stop, its files
are deleted and its results and counters are dropped, so memory and disk come back.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompting.service.budgets import RequestBudgets
from prompting.service.config import RunLimits
from prompting.service.session_files import SessionFiles
from prompting.service.session_store import CancelRegistry, ResultStore


@dataclass
class Sessions:
    """Per-session state held by the process."""

    results: ResultStore
    jobs: CancelRegistry
    files: SessionFiles
    llm_requests: RequestBudgets

    @classmethod
    def for_limits(cls, limits: RunLimits) -> Sessions:
        """Empty holders bounded as ``limits`` say."""
        return cls(
            ResultStore(limits.store_records, limits.store_bytes),
            CancelRegistry(),
            SessionFiles(limits.session_upload_bytes, limits.session_upload_files, limits.upload_bytes_total),
            RequestBudgets(limits.max_llm_requests_per_session),
        )

    def end(self, session: str) -> None:
        """Session ``session`` is gone: stop its jobs, delete its files, drop its results."""
        if not session:
            return
        self.jobs.cancel(session)
        self.jobs.forget(session)
        self.files.end(session)
        self.llm_requests.end(session)
        self.results.drop_owner(session)
