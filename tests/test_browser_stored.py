"""A stored set in the page (Chromium via Playwright): picked by name from the operator's store
folder, it fills the class list, scores at full scale and shows thumbnails of mistakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prompting.cli.main import main
from tests.app_process import running_app
from tests.conftest import make_image
from tests.test_browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    EXPECT_TIMEOUT_MS,
    RUN_TIMEOUT_MS,
    _chromium,
)


@pytest.fixture(scope="module")
def stored_app(tiny_clip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app with one store folder holding 'pets' (3 classes x 25 images, one unreadable)."""
    chromium = _chromium()
    assert chromium
    folder = tmp_path_factory.mktemp("browser-stored")
    for c, name in enumerate(["bird", "cat", "dog"]):
        for i in range(25):
            make_image(folder / "images" / name / f"{name}{i:02d}.png", 300 + 30 * c + i, size=(48, 40))
    (folder / "images" / "cat" / "zz-broken.png").write_bytes(b"not a png")
    assert main(["embed", "--model", str(tiny_clip_dir), "--images", str(folder / "images"),
                 "--out", str(folder / "stores" / "pets")]) == 0
    with running_app(tiny_clip_dir, folder, env={"ZSP_STORES": str(folder / "stores")}) as app:
        yield app.url, folder


def test_a_stored_set_is_scored_with_thumbnails_of_mistakes(stored_app: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, folder = stored_app
    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)  # a loaded CPU draws slowly
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(20_000)
        try:
            page.goto(url)
            page.get_by_role("button", name="Or evaluate a stored set").click()
            page.locator("#stored-set-picker input").click()
            page.get_by_role("option", name="pets").click()
            expect(page.locator("#stored-set-info")).to_contain_text("75 images embedded by")
            expect(page.locator("#stored-set-info")).to_contain_text("labelled with 3 classes")
            expect(page.locator("#classes-box textarea")).to_have_value("bird\ncat\ndog")
            assert str(folder) not in page.content()  # names only, never server paths
            page.locator("#stored-set-btn").click()
            status = page.locator("#run-status")
            expect(status).to_contain_text("Done in", timeout=RUN_TIMEOUT_MS)
            expect(status).to_contain_text("75 images × 3 classes × 2 strategies")
            expect(page.locator("#summary")).to_contain_text("of 75 images were classified correctly")
            expect(page.locator("#skipped")).to_contain_text("zz-broken.png")
            expect(page.locator("#stored-mistakes")).to_be_visible()
            expect(page.locator("#stored-mistakes-note")).to_contain_text("spread over the whole set")
            expect(page.locator("#stored-mistakes-gallery img").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "09-stored-set.png"), full_page=True)
            page.get_by_role("tab", name="Accuracy & calibration").click()
            expect(page.locator("#metrics-table")).to_contain_text("/75")
            assert str(folder) not in page.content()
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure-stored-set.png"), full_page=True)
            raise
        finally:
            browser.close()
