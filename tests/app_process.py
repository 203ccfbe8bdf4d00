"""``python app.py`` in a subprocess, for the tests that talk to a running app (browser, soak)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 90


@dataclass(frozen=True)
class RunningApp:
    """A started app: its address, its process and the file its output goes to."""

    url: str
    process: subprocess.Popen
    log: Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    """Wait until ``url`` answers 200; fail with the app's output if it exits or never answers."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"The app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"The app did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


@contextmanager
def running_app(model: Path, folder: Path, *flags: str, env: dict[str, str] | None = None) -> Iterator[RunningApp]:
    """The app on a free port with ``model`` and ``flags``, offline, its embedding cache in
    ``folder / "cache"`` and its output in ``folder / "app.log"``; ``env`` adds settings."""
    port = free_port()
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "ZSP_CACHE_DIR": str(folder / "cache"),
                   "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    log = folder / "app.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--model", str(model), "--port", str(port), *flags],
            cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_ready(url, process, log)
        yield RunningApp(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
