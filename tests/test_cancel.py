"""Cancelling really stops the work, the concurrency limit bounds work actually running, and a
session's end (closed tab, closed client) stops its work and deletes its unpacked uploads.

The app runs in this process with the tiny CLIP. Every batch of "long job" prompts (they carry
a marker word) is counted and takes at least ``BATCH_SECONDS``, so a long job lasts about a
minute however fast the machine is, and its progress can be watched. A job that stops when
asked stops within a batch or two; one that does not keeps its worker busy for the minute.
Every wait is on a condition, with a generous deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file

from app import build_demo
from prompting.encoding.models import DualEncoder
from prompting.service.config import AppConfig, RunLimits
from tests.conftest import make_image

MARKER = "zqlongjob"
N_CLASSES = 100
LONG_CLASSES = "\n".join(f"{MARKER} {index}" for index in range(N_CLASSES))
LONG_TEMPLATES = [f"a photo of a {{}}, take {index}." for index in range(100)]  # 10,000 prompts: 157 batches
BATCH_SECONDS = 0.3  # 157 batches take over 45 s
STOP_DEADLINE = 20.0  # a stopped job stops within a batch; an unstopped one runs for 45 s more
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated)")


class WorkMeter:
    """Counts long-job batches and how many runs are computing right now (and the most at once)."""

    def __init__(self) -> None:
        self.batches = 0
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def batch(self) -> None:
        with self._lock:
            self.batches += 1

    def enter(self) -> None:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)

    def leave(self) -> None:
        with self._lock:
            self.running -= 1


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``condition()`` holds; fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.")
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture(scope="module")
def meter(tiny_clip_dir: Path) -> Iterator[WorkMeter]:
    """Slow, counted long-job batches and a count of runs in progress, for the whole module."""
    meter = WorkMeter()
    encode_text = DualEncoder.encode_text
    import prompting.service.workflows as workflows

    compare = workflows.compare

    def counted_encode(self: DualEncoder, texts: list[str]) -> Any:
        if any(MARKER in text for text in texts):
            meter.batch()
            time.sleep(BATCH_SECONDS)
        return encode_text(self, texts)

    def counted_compare(*args: Any, **kwargs: Any) -> Any:
        meter.enter()
        try:
            return compare(*args, **kwargs)
        finally:
            meter.leave()

    with pytest.MonkeyPatch.context() as patch:
        # A gradio_client notices its own close() at the next heartbeat (15 s by default); a
        # browser tab's connection simply drops. Either way the server then ends the session.
        patch.setenv("GRADIO_HEARTBEAT_INTERVAL", "1")
        patch.setattr(DualEncoder, "encode_text", counted_encode)
        patch.setattr(workflows, "compare", counted_compare)
        yield meter


@pytest.fixture(scope="module")
def app_url(meter: WorkMeter, tiny_clip_dir: Path) -> Iterator[str]:
    config = AppConfig(model=str(tiny_clip_dir), limits=RunLimits(max_prompts_per_run=100_000))
    demo = build_demo(config)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _, url, _ = demo.queue(default_concurrency_limit=2).launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image(tmp_path_factory.mktemp("cancel") / "cat.png", seed=3)


def submit_long_job(client: Client, image: Path) -> Any:
    return client.submit(images=[handle_file(str(image))], classes=LONG_CLASSES, strategies=["template"],
                         options={"templates": LONG_TEMPLATES}, api_name="/compare")


def quick_result(client: Client, image: Path) -> dict:
    return client.predict(images=[handle_file(str(image))], classes="cat\ndog", strategies=["classname"],
                          api_name="/classify")


def test_job_cancel_stops_the_work_and_frees_the_slot(app_url: str, meter: WorkMeter, image: Path) -> None:
    client = Client(app_url, verbose=False)
    job = submit_long_job(client, image)
    wait_until(lambda: meter.batches >= 3, 60, "the long job to start encoding")
    asked = time.monotonic()
    job.cancel()
    wait_until(lambda: meter.running == 0, STOP_DEADLINE, "the cancelled job's work to stop")
    stopped_after = time.monotonic() - asked
    batches = meter.batches
    assert batches < len(LONG_TEMPLATES) * N_CLASSES / 64 / 2  # stopped long before half the job
    # the slot is free: a quick request runs now, and the cancelled job encodes nothing more
    assert quick_result(client, image)["images"][0]["name"] == "cat.png"
    assert meter.batches == batches
    print(f"cancel -> work stopped in {stopped_after:.2f} s after {batches} batches")
    client.close()


def test_the_concurrency_limit_bounds_work_actually_running(app_url: str, meter: WorkMeter, image: Path) -> None:
    clients = [Client(app_url, verbose=False) for _ in range(4)]
    meter.most_running = meter.running
    first = [submit_long_job(client, image) for client in clients[:2]]
    wait_until(lambda: meter.running == 2, 60, "two long jobs to run")
    started = meter.batches
    wait_until(lambda: meter.batches >= started + 2, 60, "them to encode")
    for job in first:
        job.cancel()
    second = [submit_long_job(client, image) for client in clients[2:]]
    wait_until(lambda: meter.running == 2 and meter.batches >= started + 10, 60, "the next two jobs to run")
    for job in second:
        job.cancel()
    wait_until(lambda: meter.running == 0, STOP_DEADLINE, "every cancelled job to stop")
    assert meter.most_running == 2  # never more runs computing than the limit (2), cancelled ones included
    for client in clients:
        client.close()


def test_a_closed_client_stops_its_work(app_url: str, meter: WorkMeter, image: Path) -> None:
    """Closing a client ends its session, as closing a browser tab does (the same heartbeat)."""
    client = Client(app_url, verbose=False)
    submit_long_job(client, image)
    wait_until(lambda: meter.batches >= 1 and meter.running == 1, 60, "the long job to start")
    client.close()
    wait_until(lambda: meter.running == 0, STOP_DEADLINE, "the closed client's work to stop")


@pytest.fixture(scope="module")
def browser(app_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM_ARGS, _chromium

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def start_long_page_run(browser: Any, app_url: str, meter: WorkMeter) -> Any:
    """A page with the long job typed in and running."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(app_url)
    page.locator("#examples-btn").click()
    page.get_by_role("button", name="Thumbnail 10 of 10").wait_for()
    page.locator("#classes-box textarea").fill(LONG_CLASSES)
    page.locator("#settings-accordion").get_by_text("Strategy settings").click()
    page.locator("#templates-box textarea").fill("\n".join(LONG_TEMPLATES))
    picker = page.locator("#strategy-picker")
    picker.get_by_label("80-template ensemble").uncheck()
    picker.get_by_label("Class name").uncheck()
    picker.get_by_label("Template", exact=True).check()
    started = meter.batches
    page.locator("#run-btn").click()
    wait_until(lambda: meter.batches >= started + 2 and meter.running == 1, 60, "the page's run to encode")
    return page


def test_the_stop_button_stops_the_pages_run(browser: Any, app_url: str, meter: WorkMeter) -> None:
    from playwright.sync_api import expect

    page = start_long_page_run(browser, app_url, meter)
    page.locator("#stop-btn").click()
    wait_until(lambda: meter.running == 0, STOP_DEADLINE, "the stopped run's work to end")
    expect(page.locator("#run-status")).to_contain_text("Stopped")
    page.close()


def test_closing_the_tab_stops_the_pages_run(browser: Any, app_url: str, meter: WorkMeter) -> None:
    page = start_long_page_run(browser, app_url, meter)
    page.close()
    wait_until(lambda: meter.running == 0, STOP_DEADLINE, "the closed tab's run to stop")


def test_closing_the_tab_deletes_its_unpacked_zip(browser: Any, app_url: str, tmp_path: Path) -> None:
    import zipfile

    from gradio.utils import get_upload_folder
    from playwright.sync_api import expect

    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for seed, name in enumerate(["cat/a.png", "cat/b.png", "dog/c.png"]):
            handle.writestr(name, make_image(tmp_path / f"src{seed}.png", seed=seed).read_bytes())
    uploads = Path(get_upload_folder())
    before = set(uploads.glob("zip-*"))
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(app_url)
    page.get_by_role("button", name="Know the true classes?").click()
    with page.expect_file_chooser() as chooser:
        page.locator("#zip-upload").click()
    chooser.value.set_files(str(archive))
    expect(page.get_by_role("button", name="Thumbnail 3 of 3")).to_be_visible()
    [unpacked] = set(uploads.glob("zip-*")) - before
    assert sorted(path.name for path in unpacked.rglob("*.png")) == ["a.png", "b.png", "c.png"]
    page.close()
    wait_until(lambda: not unpacked.exists(), STOP_DEADLINE, "the closed tab's unpacked zip to be deleted")
