"""Files the server writes for a browser session (unpacked zip uploads), bounded and deleted.

A zip uploaded in the page is unpacked where Gradio serves it. Without bounds one 411 kB zip
of zeros unpacks to 190 MB and stays for hours. Here each session keeps at most
``max_bytes`` and ``max_files`` of unpacked files, all sessions together at most
``max_total_bytes``; a session's next zip replaces its previous one (the page's images are
replaced too), and everything a session unpacked is deleted when the session ends.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from prompting.data.uploads import extract_zip_safely
from prompting.errors import DatasetError

UNPACK_PREFIX = "zip-"


@dataclass(frozen=True)
class Unpacked:
    """One unpacked upload: its folder and its size."""

    folder: Path
    n_bytes: int


def folder_size(folder: Path) -> tuple[int, int]:
    """(bytes, files) under ``folder``."""
    sizes = [path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink()]
    return sum(sizes), len(sizes)


class SessionFiles:
    """Unpacked uploads per session, within per-session and total bounds."""

    def __init__(self, max_bytes: int, max_files: int, max_total_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.max_total_bytes = max_total_bytes
        self._held: dict[str, Unpacked] = {}
        self._reserved = 0
        self._lock = threading.Lock()

    @property
    def total_bytes(self) -> int:
        """Bytes held and reserved for unpacking now, over all sessions."""
        with self._lock:
            return self._reserved + sum(item.n_bytes for item in self._held.values())

    def unpack(self, session: str, zip_path: str | Path, parent: str | Path) -> Path:
        """Unpack ``zip_path`` into a fresh folder under ``parent`` for ``session``; return the
        data's root. The session's previous upload is deleted once this one succeeded; on
        failure nothing new stays. A zip over the session's bounds, or over what is left of the
        total, is refused (``DatasetError``) before anything is written."""
        allowed = self._reserve(session)
        folder = Path(tempfile.mkdtemp(prefix=UNPACK_PREFIX, dir=parent))
        try:
            root = extract_zip_safely(zip_path, folder, max_total_bytes=allowed, max_files=self.max_files)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            self._release(allowed)
            raise
        n_bytes, _ = folder_size(folder)
        with self._lock:
            self._reserved -= allowed
            previous = self._held.get(session)
            self._held[session] = Unpacked(folder, n_bytes)
        if previous is not None:
            shutil.rmtree(previous.folder, ignore_errors=True)
        return root

    def end(self, session: str) -> None:
        """Delete everything ``session`` unpacked (it ended)."""
        with self._lock:
            held = self._held.pop(session, None)
        if held is not None:
            shutil.rmtree(held.folder, ignore_errors=True)

    def _reserve(self, session: str) -> int:
        """Reserve the bytes this session's next zip may unpack to: its own bound, within what
        the other sessions leave of the total (its previous upload is about to be replaced)."""
        with self._lock:
            others = self._reserved + sum(item.n_bytes for key, item in self._held.items() if key != session)
            allowed = min(self.max_bytes, self.max_total_bytes - others)
            if allowed <= 0:
                raise DatasetError(
                    "The server is holding as many unpacked uploads as it can right now; try again in a few minutes."
                )
            self._reserved += allowed
        return allowed

    def _release(self, reserved: int) -> None:
        with self._lock:
            self._reserved -= reserved
