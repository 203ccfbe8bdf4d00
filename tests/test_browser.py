"""The page in Debian's Chromium, driven by Playwright (no browser download).

The app runs as a subprocess with a tiny CLIP model. Screenshots of the main views go to
``test-artifacts/`` at the repository root (ignored by git).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_image

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
STARTUP_SECONDS = 90
RUN_TIMEOUT_MS = 60_000


def _chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is required for the browser tests in CI but `chromium` is not on PATH.")
    pytest.skip("Browser tests skipped: `chromium` is not on PATH (install Debian's chromium package).")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
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


@pytest.fixture(scope="module")
def app_url(tiny_clip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python app.py`` on a free port with the tiny model, offline, with its own cache."""
    chromium = _chromium()
    assert chromium
    folder = tmp_path_factory.mktemp("browser-app")
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ZSP_CACHE_DIR": str(folder / "cache"),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    log = folder / "app.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--model", str(tiny_clip_dir), "--port", str(port)],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser(app_url: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, app_url: str, request: pytest.FixtureRequest) -> Iterator:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(app_url)
    page.locator("#run-btn").wait_for()
    (ARTIFACTS / f"failure-{request.node.name}.png").unlink(missing_ok=True)
    failures_before = request.session.testsfailed
    yield page
    if request.session.testsfailed > failures_before:
        page.screenshot(path=str(ARTIFACTS / f"failure-{request.node.name}.png"), full_page=True)
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_upload_edit_pick_run_and_see_heatmap_and_table(page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    shot(page, "01-start")
    images = [make_image(tmp_path / f"photo{index}.png", seed=index, size=(64, 48)) for index in range(2)]
    page.locator("#images-gallery input[type=file]").set_input_files([str(p) for p in images])
    expect(page.get_by_role("button", name="Thumbnail 2 of 2")).to_be_visible()
    page.locator("#classes-box textarea").fill("cat\ndog | small dog\nbird")
    expect(page.locator("#classes-status")).to_contain_text("3 classes")
    picker = page.locator("#strategy-picker")
    picker.get_by_label("80-template ensemble").uncheck()
    picker.get_by_label("7-template ensemble").check()
    page.locator("#run-btn").click()
    expect(page.locator("#run-status")).to_contain_text("Done in", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#summary")).to_contain_text("agreed")
    table = page.locator("#predictions-table")
    expect(table).to_contain_text("photo0.png")
    expect(table).to_contain_text("7-template ensemble")
    shot(page, "02-summary")
    open_tab(page, "Side by side")
    expect(page.locator("#heatmap-left .js-plotly-plot")).to_be_visible()
    expect(page.locator("#heatmap-right .js-plotly-plot")).to_be_visible()
    expect(page.locator("#heatmap-right")).to_contain_text("7-template ensemble")
    shot(page, "03-side-by-side")
    open_tab(page, "Class names")
    expect(page.locator("#class-similarity-plot .js-plotly-plot")).to_be_visible()
    page.locator("#suggest-btn").click()
    expect(page.locator("#rewrite-choice input")).to_have_value(re.compile(", a type of "))
    page.locator("#ab-btn").click()
    expect(page.locator("#ab-summary")).to_contain_text("changed the top prediction of")
    expect(page.locator("#ab-table")).to_contain_text("photo1.png")
    shot(page, "04-class-names")


def test_example_photos_show_accuracy_and_calibration(page) -> None:
    from playwright.sync_api import expect

    page.locator("#examples-btn").click()
    expect(page.locator("#labels-table")).to_contain_text("astronaut")
    page.locator("#run-btn").click()
    expect(page.locator("#run-status")).to_contain_text("Done in", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#summary")).to_contain_text("of 10 images were classified correctly")
    open_tab(page, "Accuracy & calibration")
    expect(page.locator("#metrics-table")).to_contain_text("80-template ensemble")
    expect(page.locator("#reliability-plot .js-plotly-plot")).to_be_visible()
    expect(page.locator("#confusion-plot .js-plotly-plot")).to_be_visible()
    shot(page, "05-accuracy-calibration")


def test_an_empty_class_list_shows_a_readable_message(page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    image = make_image(tmp_path / "only.png", seed=5)
    page.locator("#images-gallery input[type=file]").set_input_files([str(image)])
    expect(page.get_by_role("button", name="Thumbnail 1 of 1")).to_be_visible()
    page.locator("#classes-box textarea").fill("")
    expect(page.locator("#classes-status")).to_contain_text("class list is empty")
    page.locator("#run-btn").click()
    expect(page.locator("#run-status")).to_contain_text("Could not run")
    expect(page.locator("#run-status")).to_contain_text("The class list is empty")
    shot(page, "06-error")


def test_a_labelled_zip_fills_images_labels_and_classes(page, tmp_path: Path) -> None:
    import zipfile

    from playwright.sync_api import expect

    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for seed, name in enumerate(["cat/a.png", "cat/b.png", "dog/c.png"]):
            handle.write(make_image(tmp_path / f"src{seed}.png", seed=seed), f"pets/{name}")
    page.get_by_role("button", name="Know the true classes?").click()
    with page.expect_file_chooser() as chooser:
        page.locator("#zip-upload").click()
    chooser.value.set_files(str(archive))
    expect(page.locator("#labels-table")).to_contain_text("dog/c.png")
    expect(page.locator("#classes-box textarea")).to_have_value("cat\ndog")
    expect(page.get_by_role("button", name="Thumbnail 3 of 3")).to_be_visible()
