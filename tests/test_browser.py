"""The page in Debian's Chromium, driven by Playwright (no browser download).

The app runs as a subprocess with a tiny CLIP model. Screenshots of the main views go to
``test-artifacts/`` at the repository root (ignored by git).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.app_process import ROOT, running_app
from tests.conftest import make_image

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
RUN_TIMEOUT_MS = 60_000
EXPECT_TIMEOUT_MS = 30_000


def _chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is required for the browser tests in CI but `chromium` is not on PATH.")
    pytest.skip("Browser tests skipped: `chromium` is not on PATH (install Debian's chromium package).")


def _serve(model: Path, folder: Path, *flags: str) -> Iterator[str]:
    """``python app.py`` on a free port with ``model``, offline, with its own cache."""
    with running_app(model, folder, *flags) as app:
        yield app.url


@pytest.fixture(scope="module")
def app_url(tiny_clip_dir: Path, tiny_siglip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with the tiny CLIP (the tiny SigLIP also on the menu)."""
    assert _chromium()
    yield from _serve(tiny_clip_dir, tmp_path_factory.mktemp("browser-app"), "--models",
                      f"{tiny_clip_dir},{tiny_siglip_dir}")


@pytest.fixture(scope="module")
def browser(app_url: str) -> Iterator:
    from playwright.sync_api import expect, sync_playwright

    # Every expectation retries until its condition holds; on a loaded CPU a chart can take well over
    # Playwright's default 5 s to draw, so the conditions get up to EXPECT_TIMEOUT_MS.
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@contextmanager
def sized_page(browser, width: int = 1440, height: int = 1000) -> Iterator:
    """A page in a fresh context of ``width`` x ``height`` with the suite's timeout; the context
    closes afterwards."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, app_url: str, request: pytest.FixtureRequest) -> Iterator:
    ARTIFACTS.mkdir(exist_ok=True)
    with sized_page(browser) as page:
        page.goto(app_url)
        page.locator("#run-btn").wait_for()
        (ARTIFACTS / f"failure-{request.node.name}.png").unlink(missing_ok=True)
        failures_before = request.session.testsfailed
        yield page
        if request.session.testsfailed > failures_before:
            page.screenshot(path=str(ARTIFACTS / f"failure-{request.node.name}.png"), full_page=True)


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    """Click a tab; on a narrow screen the results tabs that do not fit sit behind "More tabs"."""
    from playwright.sync_api import expect

    tab = page.get_by_role("tab", name=name, exact=True)
    if name not in TAB_MARKERS:  # not a results tab: it has no overflow menu to look in
        tab.first.click()
        return
    more = page.locator("#results-tabs .overflow-menu > button")
    expect(tab.or_(more).first).to_be_visible()
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    more.click()
    page.locator("#results-tabs .overflow-dropdown button", has_text=name).click()


def results_tab_names(page) -> list[str]:
    """Every results tab, those shown and those behind "More tabs" (a tab added later is included)."""
    shown = page.locator("#results-tabs [role=tab]").all_inner_texts()
    more = page.locator("#results-tabs .overflow-dropdown button").all_inner_texts()
    return [name.strip() for name in shown + more]


# What each results tab shows once it is open (a tab not listed here is checked without a marker).
TAB_MARKERS = {
    "Summary": "#predictions-table", "Side by side": "#heatmap-left .main-svg",
    "Accuracy & calibration": "#metrics-table", "Class names": "#class-similarity-plot .main-svg",
    "Find better prompts": "#select-btn", "Present": "#present-plot .main-svg", "Export": "#export-btn",
}
FITS_THE_SCREEN = """() => document.documentElement.scrollWidth <= window.innerWidth
  && [...document.querySelectorAll('.js-plotly-plot')].filter((gd) => gd.offsetParent !== null).every((gd) => {
       const svg = gd.querySelector('.main-svg'), title = gd.querySelector('.g-gtitle');
       return !svg || !title || title.getBoundingClientRect().right <= svg.getBoundingClientRect().right + 1; })"""


def upload(page, paths: list[Path]) -> None:
    page.locator("#images-gallery input[type=file]").set_input_files([str(p) for p in paths])


def run_and_wait(page) -> None:
    from playwright.sync_api import expect

    page.locator("#run-btn").click()
    expect(page.locator("#run-status")).to_contain_text("Done in", timeout=RUN_TIMEOUT_MS)


def chart_fits(page, selector: str) -> tuple[int, int]:
    """(drawn chart width, its box's width) in pixels."""
    return tuple(page.evaluate(
        """(sel) => { const box = document.querySelector(sel);
           return [box.querySelector('.main-svg').getBoundingClientRect().width, box.getBoundingClientRect().width]
             .map(Math.round); }""",
        selector,
    ))


def contrast_on_white(page, selector: str) -> float:
    """WCAG contrast ratio of an element's text colour against white."""
    r, g, b = page.evaluate(
        "(sel) => getComputedStyle(document.querySelector(sel)).color.match(/\\d+/g).slice(0, 3).map(Number)",
        selector,
    )

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


def test_upload_edit_pick_run_and_see_heatmap_and_table(page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    shot(page, "01-start")
    assert contrast_on_white(page, ".help p") >= 4.5
    images = [make_image(tmp_path / f"photo{index}.png", seed=index, size=(64, 48)) for index in range(2)]
    upload(page, images)
    expect(page.get_by_role("button", name="Thumbnail 2 of 2")).to_be_visible()
    page.locator("#classes-box textarea").fill("cat\ndog | small dog\nbird")
    expect(page.locator("#classes-status")).to_contain_text("3 classes")
    picker = page.locator("#strategy-picker")
    picker.get_by_label("80-template ensemble").uncheck()
    picker.get_by_label("Class name").uncheck()
    picker.get_by_label("7-template ensemble").check()
    picker.get_by_label("Class name").check()  # ticked last, but the picker lists it first
    model = page.locator("#model-picker input").input_value()
    page.locator("#second-model input").click()
    page.get_by_role("option", name=model, exact=True).click()  # the same model again: said, not ignored
    run_and_wait(page)
    expect(page.locator("#run-status")).to_contain_text("“Compare with” names the same model as “Model”")
    expect(page.locator("#summary")).to_contain_text("agreed")
    headers = page.locator("#predictions-table th").all_inner_texts()
    assert [h.strip() for h in headers][-2:] == ["Class name", "7-template ensemble"]
    # A successful run scrolls the results into view (smoothly, so wait for it; a short page
    # can only scroll to its bottom).
    page.wait_for_function(
        """() => { const top = document.getElementById('results').getBoundingClientRect().top;
                   const bottom = window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2;
                   return top > -5 && (top < 300 || (window.scrollY > 0 && bottom)); }""",
        timeout=5_000,
    )
    expect(page.locator("#predictions-table")).to_contain_text("photo0.png")
    shot(page, "02-summary")
    open_tab(page, "Side by side")
    expect(page.locator("#heatmap-left .js-plotly-plot")).to_be_visible()
    expect(page.locator("#heatmap-right .js-plotly-plot")).to_be_visible()
    expect(page.locator("#heatmap-right")).to_contain_text("7-template ensemble")
    expect(page.locator("#prompts-left")).to_contain_text("Colour scale shared")
    shot(page, "03-side-by-side")
    open_tab(page, "Class names")
    expect(page.locator("#class-similarity-plot .js-plotly-plot")).to_be_visible()
    button, picker = page.locator("#suggest-btn").bounding_box(), page.locator("#rewrite-class input").bounding_box()
    assert button and picker and button["height"] <= 56, "a button, not a card as tall as the class picker"
    assert abs((button["y"] + button["height"]) - (picker["y"] + picker["height"])) <= 16, "level with the picker"
    page.locator("#suggest-btn").click()
    expect(page.locator("#rewrite-choice input")).to_have_value(re.compile(", a type of "))
    page.locator("#ab-btn").click()
    expect(page.locator("#ab-summary")).to_contain_text("changed the top prediction of")
    expect(page.locator("#ab-table")).to_contain_text("photo1.png")
    shot(page, "04-class-names")


def test_example_photos_show_accuracy_and_charts_fit_after_a_rerun(page) -> None:
    from playwright.sync_api import expect

    page.locator("#examples-btn").click()
    expect(page.locator("#labels-table")).to_contain_text("astronaut")
    run_and_wait(page)
    expect(page.locator("#summary")).to_contain_text("of 10 images were classified correctly")
    # Re-run while the charts' tab is hidden: they must still fit their boxes once shown.
    page.locator("#strategy-picker").get_by_label("7-template ensemble").check()
    page.locator("#run-btn").click()
    expect(page.locator("#summary")).to_contain_text("7-template ensemble", timeout=RUN_TIMEOUT_MS)
    open_tab(page, "Accuracy & calibration")
    expect(page.locator("#reliability-plot .js-plotly-plot")).to_be_visible()
    expect(page.locator("#confusion-plot .js-plotly-plot")).to_be_visible()
    for plot in ("#accuracy-plot", "#reliability-plot"):
        expect(page.locator(f"{plot} .main-svg").first).to_be_visible()
        drawn, box = chart_fits(page, plot)
        assert abs(drawn - box) <= 2, f"{plot} is drawn {drawn} px wide in a {box} px box"
    table = page.locator("#metrics-table")
    expect(table).to_contain_text("80-template ensemble")
    expect(table).to_contain_text(re.compile(r"\d+/10 · \d+% \(\d+–\d+%\)"))
    headers = [h.strip() for h in table.locator("th").all_inner_texts()]
    assert "Images" in headers and "Top-1 over seeds" not in headers
    assert headers[0] == "Strategy" and headers[1].startswith("Top-1")  # in view on a phone
    expect(page.locator("#metrics-cautions")).to_contain_text("Only 10 labelled images")
    paired = page.locator("#paired-table")
    expect(paired).to_contain_text("7-template ensemble")
    expect(paired).to_contain_text(re.compile(r"real difference|can't tell"))
    assert [h.strip() for h in paired.locator("th").all_inner_texts()][:3] == ["Strategy", "vs", "Verdict"]
    verdicts = re.findall(r"real difference|can't tell", paired.inner_text())
    assert len(verdicts) == 3  # three strategies: three pairs
    shot(page, "05-accuracy-calibration")


def test_a_failed_run_dims_the_previous_results(page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.locator("#run-btn").click()  # no images yet: an error, and no results to dim
    expect(page.locator("#run-status")).to_contain_text("Add at least one image first")
    expect(page.locator("#results")).to_be_hidden()
    expect(page.locator("#results-placeholder")).to_be_visible()
    upload(page, [make_image(tmp_path / "only.png", seed=5)])
    expect(page.get_by_role("button", name="Thumbnail 1 of 1")).to_be_visible()
    run_and_wait(page)
    expect(page.locator("#stale-banner")).to_be_hidden()
    page.locator("#classes-box textarea").fill("")
    expect(page.locator("#classes-status")).to_contain_text("class list is empty")
    page.locator("#run-btn").click()
    expect(page.locator("#run-status")).to_contain_text("Could not run")
    expect(page.locator("#run-status")).to_contain_text("The class list is empty")
    expect(page.locator("#stale-banner")).to_contain_text("Previous run")
    expect(page.locator("#results")).to_have_class(re.compile("stale-results"))
    shot(page, "06-error")
    page.locator("#classes-box textarea").fill("cat\ndog")
    run_and_wait(page)
    expect(page.locator("#stale-banner")).to_be_hidden()
    expect(page.locator("#results")).not_to_have_class(re.compile("stale-results"))


def test_bad_files_and_a_late_stop_get_plain_messages(page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a png")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    upload(page, [broken, empty])
    toast = page.locator(".toast-body").filter(has_text="could not be read as an image")
    expect(toast).to_contain_text("broken.png")
    expect(toast).to_contain_text("'empty.png' is an empty file (0 bytes)")
    expect(page.get_by_role("button", name=re.compile("^Thumbnail"))).to_have_count(0)
    upload(page, [notes])
    expect(page.locator(".toast-body").filter(has_text="notes.txt")).to_contain_text(".png")
    expect(page.locator("#images-gallery").get_by_text("Drop Media Here")).to_be_visible()
    page.wait_for_timeout(400)  # let the messages finish sliding in
    shot(page, "07-bad-upload")
    page.locator("#stop-btn").click()
    expect(page.locator(".toast-body").filter(has_text="Nothing to stop")).to_be_visible()
    badges = page.locator('[data-testid="status-tracker"] .error').all()
    assert not any(badge.is_visible() for badge in badges), "no red Error badge on any component"


def test_narrow_screens_stack_the_columns_and_one_class_is_flagged(browser, app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with sized_page(browser, 800, 1000) as page:
        page.goto(app_url)
        upload(page, [make_image(tmp_path / f"narrow{index}.png", seed=index) for index in range(2)])
        expect(page.get_by_role("button", name="Thumbnail 2 of 2")).to_be_visible()
        page.locator("#classes-box textarea").fill("cat")
        expect(page.locator("#classes-status")).to_contain_text("softmax over one class is always 1.00")
        run_and_wait(page)
        expect(page.locator("#run-status")).to_contain_text("× 1 class ×")
        expect(page.locator("#summary")).to_contain_text("Only one class")
        open_tab(page, "Side by side")
        for side in ("left", "right"):
            expect(page.locator(f"#heatmap-{side} .main-svg").first).to_be_visible()
        page.wait_for_timeout(300)  # the resize after showing the tab
        shot(page, "08-narrow")
        left, right = (page.locator(f"#heatmap-{side}").bounding_box() for side in ("left", "right"))
        assert left and right and right["y"] >= left["y"] + left["height"] - 1, "the two sides stack"
        cards = [page.locator(".step-card").nth(i).bounding_box() for i in range(3)]
        assert all(a and b and b["y"] > a["y"] for a, b in itertools.pairwise(cards))


def test_a_phone_never_scrolls_sideways_on_any_results_tab(browser, app_url: str) -> None:
    """At 390 px: the page is never wider than the screen, after loading the examples and after a run,
    on every results tab; tables scroll inside their own box and chart titles fit their charts."""
    from playwright.sync_api import expect

    with sized_page(browser, 390, 844) as page:
        page.goto(app_url)
        page.locator("#examples-btn").click()
        expect(page.locator("#labels-table")).to_contain_text("astronaut")
        page.wait_for_function(FITS_THE_SCREEN)
        run_and_wait(page)
        names = results_tab_names(page)
        assert {"Summary", "Accuracy & calibration", "Find better prompts", "Present"} <= set(names)
        for name in names:
            open_tab(page, name)
            if name in TAB_MARKERS:
                expect(page.locator(TAB_MARKERS[name]).first).to_be_visible()
            try:
                page.wait_for_function(FITS_THE_SCREEN, timeout=15_000)
            except Exception:
                width = page.evaluate("() => document.documentElement.scrollWidth")
                shot(page, f"failure-phone-{name}")
                pytest.fail(f"'{name}' at 390 px: the page is {width} px wide or a chart title is cut off")
            if name in ("Summary", "Accuracy & calibration", "Present"):
                shot(page, f"13-phone-{name.split()[0].lower()}")
        open_tab(page, "Summary")
        scrolls_inside = page.locator("#predictions-table").evaluate(
            """(table) => [table, ...table.querySelectorAll('*')].some((box) =>
                 ['auto', 'scroll'].includes(getComputedStyle(box).overflowX) && box.scrollWidth > box.clientWidth)""")
        assert scrolls_inside, "the predictions table, wider than a phone, scrolls inside its own box"


SLIDE_FITS = """() => { const gd = document.querySelector('#present-plot .js-plotly-plot');
  return !!gd && !!gd._fullLayout && gd._fullLayout._size.h >= 200 && gd._fullLayout.title.font.size <= 17; }"""


def test_every_slide_fits_a_phone(browser, app_url: str) -> None:
    """At 390 px each slide drops to the half-page type and keeps a plot at least 200 px tall
    under its titles; the answers grid shows only marks where class names do not fit; no chart
    throws (a plot squeezed to a negative height made plotly throw "axis scaling" errors)."""
    from playwright.sync_api import expect

    with sized_page(browser, 390, 844) as page:
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(app_url)
        page.locator("#examples-btn").click()
        expect(page.locator("#labels-table")).to_contain_text("astronaut")
        run_and_wait(page)
        open_tab(page, "Present")
        title = page.locator("#present-plot .g-gtitle").first
        seen: list[str] = []
        for _ in range(4):  # accuracy, which images, calibration, the best approach's heatmap
            page.wait_for_function(SLIDE_FITS)
            seen.append(title.text_content() or "")
            if "Which images" in seen[-1]:
                cells = page.locator("#present-plot .heatmaplayer text").all_text_contents()
                assert cells and set(cells) <= {"✓", "✗"}, cells
                shot(page, "15-phone-present-images")
            page.locator("#present-next").click()
            expect(title).not_to_have_text(seen[-1])
        assert len(set(seen)) == 4 and any("Accuracy" in text for text in seen), seen
        assert not errors, errors


def test_a_true_class_missing_from_the_list_is_named_on_the_summary_and_accuracy_tabs(page) -> None:
    from playwright.sync_api import expect

    page.locator("#examples-btn").click()
    expect(page.locator("#labels-table")).to_contain_text("astronaut")
    expect(page.locator("#images-count")).to_contain_text("10 images added; scroll the gallery to see them all.")
    box = page.locator("#classes-box textarea")
    expect(box).to_have_value(re.compile("galaxy"))
    box.fill(box.input_value().replace("\ngalaxy", ""))
    run_and_wait(page)
    said = "1 image is labelled 'galaxy', which is not in the class list: add it or that image is left out."
    summary = page.locator("#summary")
    expect(summary).to_contain_text(said)
    expect(summary).to_contain_text("Accuracy is measured on 9 of 10 images")
    expect(summary).to_contain_text("of 9 labelled images were classified correctly")
    expect(page.locator("#predictions-table")).to_contain_text("galaxy (not in the class list)")
    open_tab(page, "Accuracy & calibration")
    cautions = page.locator("#metrics-cautions")
    expect(cautions).to_contain_text("Accuracy is measured on 9 of 10 images")
    expect(cautions).to_contain_text(said)
    expect(page.locator("#metrics-table")).to_contain_text(re.compile(r"\d/9 · \d+%"))
    expect(page.locator("#calibration-note")).not_to_contain_text("Fill in the rest")


def test_the_stakeholder_sees_a_headline_thumbnails_marks_and_a_presentation(page) -> None:
    from playwright.sync_api import expect

    page.locator("#examples-btn").click()
    expect(page.locator("#labels-table")).to_contain_text("astronaut")
    run_and_wait(page)
    expect(page.locator("#headline")).to_contain_text(re.compile(
        r"(Best on|Most right on|No approach did better on) these 10 images"))
    table = page.locator("#predictions-table")
    expect(table.locator("img.thumb:visible")).to_have_count(10)
    assert table.locator("img.thumb").first.get_attribute("src").startswith("data:image/jpeg;base64,")
    expect(table.locator(".mark:visible")).to_have_count(20)  # a right/wrong mark per image and strategy (Gradio keeps
    # a hidden copy of the first row to measure widths, hence :visible)
    page.locator("#glossary-box").get_by_text("What do these words mean?").click()  # closed until asked
    expect(page.locator("#glossary")).to_contain_text("softmax probability")
    page.locator("#present-btn").click()
    stage_headline = page.locator("#present-headline")
    expect(stage_headline).to_contain_text("these 10 images")  # there for full screen, hidden on the page, where
    expect(stage_headline).to_be_hidden()  # the banner above the tabs shows it
    expect(page.locator("#headline")).to_be_visible()
    expect(page.locator("#present-plot")).to_contain_text("Accuracy by strategy")
    expect(page.locator("#present-plot .main-svg").first).to_be_visible()
    shot(page, "14-present")
    page.locator("#present-full-screen").click()
    expect(stage_headline).to_be_visible()
    page.locator("#present-full-screen").click()
    expect(stage_headline).to_be_hidden()
    page.locator("#present-next").click()
    expect(page.locator("#present-plot")).to_contain_text("Which images each approach got right")
    page.locator("#present-previous").click()
    expect(page.locator("#present-plot")).to_contain_text("Accuracy by strategy")  # each step lands first
    page.locator("#present-previous").click()
    # it wraps round to the last slide: the best approach's heatmap
    expect(page.locator("#present-plot")).to_contain_text("how well each image matches each class")


def test_a_labelled_zip_fills_images_labels_and_classes(page, tmp_path: Path) -> None:
    """A zip's images are checked at upload, as direct uploads are: a broken one is removed and named."""
    import zipfile

    from playwright.sync_api import expect

    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for seed, name in enumerate(["cat/a.png", "cat/b.png", "dog/c.png"]):
            handle.writestr(f"pets/{name}", make_image(tmp_path / f"src{seed}.png", seed=seed).read_bytes())
        handle.writestr("pets/dog/broken.png", b"not a png at all")
    page.get_by_role("button", name="Know the true classes?").click()
    with page.expect_file_chooser() as chooser:
        page.locator("#zip-upload").click()
    chooser.value.set_files(str(archive))
    expect(page.locator("#labels-table")).to_contain_text("dog/c.png")
    expect(page.locator("#classes-box textarea")).to_have_value("cat\ndog")
    expect(page.get_by_role("button", name="Thumbnail 3 of 3")).to_be_visible()
    expect(page.locator(".toast-body").filter(has_text="could not be read as an image")).to_contain_text(
        "'dog/broken.png' is not an image")
    expect(page.locator(".toast-body").filter(has_text="Loaded 3 images")).to_be_visible()
    expect(page.locator("#labels-table")).not_to_contain_text("broken.png")


def test_waffle_settings_offer_the_papers_seven_seeds(page) -> None:
    from playwright.sync_api import expect

    page.locator("#settings-accordion").get_by_text("Strategy settings").click()
    open_tab(page, "WaffleCLIP")
    seeds = page.locator("#waffle-seeds input[type=number]")
    expect(seeds).to_have_value("3")
    expect(page.locator("#waffle-seeds")).to_contain_text("the paper reports mean ± std over 7")
    page.locator("#waffle-paper-seeds").click()
    expect(seeds).to_have_value("7")


def test_find_better_prompts_selects_compares_weights_and_exports_a_head(page) -> None:
    from playwright.sync_api import expect

    page.locator("#examples-btn").click()
    expect(page.locator("#labels-table")).to_contain_text("astronaut")
    picker = page.locator("#strategy-picker")
    picker.get_by_label("ZPE").check()
    picker.get_by_label("AutoCLIP").check()
    run_and_wait(page)
    open_tab(page, "Find better prompts")
    expect(page.locator("#weights-plot")).to_contain_text("which templates matter")
    for slider, value in (("#selection-folds", "2"), ("#selection-size", "2")):
        box = page.locator(f"{slider} input[type=number]")
        box.fill(value)
        box.press("Enter")
    page.locator("#select-btn").click()
    expect(page.locator("#select-status")).to_contain_text("Selected", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#selection-table")).to_contain_text("80-template ensemble")
    expect(page.locator("#selection-table")).to_contain_text(re.compile(r"\d+/10 · \d+% \(\d+–\d+%\)"))
    expect(page.locator("#selection-summary")).to_contain_text("Selected templates (")
    expect(page.locator("#selection-summary")).to_contain_text("2 folds")
    shot(page, "09-find-better-prompts")
    page.locator("#add-selected-btn").click()
    expect(page.locator("#heatmap-right")).to_contain_text("Selected templates (", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#right-strategy input")).to_have_value(re.compile("^Selected templates"))
    shot(page, "10-selected-side-by-side")
    open_tab(page, "Find better prompts")
    page.locator("#weights-strategy input").click()
    page.get_by_role("option", name="AutoCLIP").click()
    expect(page.locator("#weights-image")).to_be_visible()
    expect(page.locator("#weights-plot")).to_contain_text("averaged over 10 images")
    page.locator("#head-strategy input").click()
    page.get_by_role("option", name=re.compile("^Selected templates")).click()
    page.locator("#head-btn").click()
    expect(page.locator("#head-files a[href$='head.safetensors']")).to_have_count(1)
    manifest_link = page.locator("#head-files a[href$='head.json']")
    expect(manifest_link).to_have_count(1)
    manifest = page.request.get(manifest_link.get_attribute("href")).json()
    assert manifest["strategy"] == "selected" and len(manifest["classes"]) == 10
    shot(page, "11-weights-and-head")


def _flipping_descriptions(tiny_clip_dir: Path, images: list[Path]) -> tuple[str, list[str]]:
    """FuDD descriptions for cat/dog/bird that change at least one image's top class under the page's
    default run (class name + 80 templates, FuDD on the class name with k = 3), and the names of the
    images they change, computed with the same core the page uses."""
    from prompting.classes import parse_class_list
    from prompting.evaluation.compare import ImageInput
    from prompting.service.fudd_flow import add_fudd, fudd_trial
    from prompting.service.workflows import StrategyInputs, build_specs, run_models
    from prompting.strategies.fudd_pairs import Difference, PairDescriptions, pairs_to_json

    classes = parse_class_list("cat\ndog\nbird")
    specs, _ = build_specs(["classname", "ensemble80"], StrategyInputs())
    record = run_models([str(tiny_clip_dir)], [ImageInput(str(p), None, p.name) for p in images], classes, specs)
    details = ("with a long tail", "with round ears", "with feathers", "on grass", "in the snow", "with stripes")
    for attempt in range(len(details)):
        pairs = [PairDescriptions(a, b, [Difference("look", f"a photo of a {a}, {details[(attempt + i) % 6]}.",
                                                    f"a photo of a {b}, {details[(attempt + i + 3) % 6]}.")])
                 for i, (a, b) in enumerate((("cat", "dog"), ("cat", "bird"), ("dog", "bird")))]
        text = pairs_to_json(pairs)
        trial = fudd_trial(add_fudd(record, "classname", text, 3)[0], "classname", "fudd")
        if trial.changes:
            return text, [images[change.image].name for change in trial.changes]
    pytest.fail("no candidate descriptions change a prediction of the tiny model")


def test_fudd_in_the_class_names_tab_imports_pairs_and_shows_the_flipped_images(
    page, tmp_path: Path, tiny_clip_dir: Path
) -> None:
    from playwright.sync_api import expect

    images = [make_image(tmp_path / f"look{index}.png", seed=20 + index, size=(48, 40)) for index in range(4)]
    text, flipped = _flipping_descriptions(tiny_clip_dir, images)
    pairs_file = tmp_path / "fudd_pairs.json"
    pairs_file.write_text(text, encoding="utf-8")
    upload(page, images)
    expect(page.get_by_role("button", name="Thumbnail 4 of 4")).to_be_visible()
    page.locator("#classes-box textarea").fill("cat\ndog\nbird")
    expect(page.locator("#classes-status")).to_contain_text("3 classes")
    run_and_wait(page)
    open_tab(page, "Class names")
    expect(page.locator("#fudd-adaptation")).to_contain_text("the authors' prompt is not published in their code")
    expect(page.locator("#fudd-pairs")).to_contain_text("Images with both in their top 3")
    expect(page.locator("#fudd-check")).to_contain_text("No differential descriptions yet")
    with page.expect_file_chooser() as chooser:
        page.locator("#fudd-import").click()
    chooser.value.set_files(str(pairs_file))
    expect(page.locator("#fudd-check")).to_contain_text("3 of 3 look-alike pairs described")
    expect(page.locator("#fudd-pair-view")).to_contain_text("a photo of a")
    page.locator("#fudd-run").click()
    summary = page.locator("#fudd-summary")
    expect(summary).to_contain_text(f"changed the top prediction of {len(flipped)} of 4 images",
                                    timeout=RUN_TIMEOUT_MS)
    expect(summary).to_contain_text("compared with Class name")
    table = page.locator("#fudd-table")
    for name in flipped:
        expect(table.get_by_role("row").filter(has_text=name)).to_contain_text("yes")
    expect(table).to_contain_text("look: “a photo of a")  # why: the descriptions that moved it, with cosines
    expect(page.locator("#fudd-pairs")).to_contain_text("Changed by FuDD")
    shot(page, "12-fudd")
    open_tab(page, "Summary")
    headers = [h.strip() for h in page.locator("#predictions-table th").all_inner_texts()]
    assert "FuDD (k=3) · Class name" in headers


def test_a_long_run_asks_first_and_runs_only_on_go_on(browser, tiny_clip_dir: Path,
                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    # an operator who wants every run confirmed: any estimate is "long"
    for url in _serve(tiny_clip_dir, tmp_path_factory.mktemp("confirm-app"), "--long-run-seconds", "0"):
        with sized_page(browser) as page:
            try:
                page.goto(url)
                page.locator("#examples-btn").click()
                expect(page.locator("#labels-table")).to_contain_text("astronaut")
                page.locator("#run-btn").click()
                question = page.locator("#long-run-text")
                expect(question).to_contain_text("This run will take about", timeout=RUN_TIMEOUT_MS)
                expect(question).to_contain_text("10 new images")
                expect(page.locator("#run-status")).to_contain_text("Waiting for your answer")
                shot(page, "12-long-run-question")
                page.locator("#long-run-cancel").click()
                expect(page.locator("#run-status")).to_contain_text("Not run")
                expect(page.locator("#long-run")).to_be_hidden()
                expect(page.locator("#results")).to_be_hidden()
                page.locator("#run-btn").click()
                expect(question).to_contain_text("This run will take about", timeout=RUN_TIMEOUT_MS)
                page.locator("#long-run-go").click()
                expect(page.locator("#run-status")).to_contain_text("Done in", timeout=RUN_TIMEOUT_MS)
                expect(page.locator("#long-run")).to_be_hidden()
                expect(page.locator("#summary")).to_contain_text("of 10 images were classified correctly")
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "failure-long-run.png"), full_page=True)
                raise


def test_hostile_text_in_pop_ups_and_status_lines_stays_text(page, tmp_path: Path) -> None:
    """Class names, JSON keys and zip entry names reach messages as text: no remote image
    loads, no link appears."""
    import json
    import zipfile

    from playwright.sync_api import expect

    image = '<img src="https://evil.example/pixel.png" class="evil">'
    link = '<a class="evil" href="javascript:alert(1)">log in again</a>'
    cupl = tmp_path / "cupl.json"
    cupl.write_text(json.dumps({image: "not a list", link: 3}), encoding="utf-8")
    page.get_by_role("button", name=re.compile("Strategy settings")).click()
    page.get_by_role("tab", name="CuPL & DCLIP descriptions").click()
    with page.expect_file_chooser() as chooser:
        page.locator("#cupl-import").click()
    chooser.value.set_files(str(cupl))
    expect(page.locator(".toast-body").filter(has_text="<img src=")).to_be_visible()
    page.locator("#classes-box textarea").fill(f"{link}\n{link}")
    expect(page.locator("#classes-status")).to_contain_text("log in again")
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(f"{image}/../../x.png", b"data")
    page.get_by_role("button", name="Know the true classes?").click()
    with page.expect_file_chooser() as chooser:
        page.locator("#zip-upload").click()
    chooser.value.set_files(str(archive))
    expect(page.locator(".toast-body").filter(has_text="climbs out")).to_contain_text("<img src=")
    assert page.locator(".evil").count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    assert page.locator('img[src*="evil.example"]').count() == 0
