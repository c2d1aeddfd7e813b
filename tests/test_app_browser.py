"""The app in headless Chromium: upload or record a clip and see both charts; a finished run in the Train tab."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from chromium import TIMEOUT_MS, VIEWPORTS

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_upload_shows_both_charts(browser, app_url: str, clip_of, screen: str, tmp_path: Path) -> None:
    width, height = VIEWPORTS[screen]
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(app_url)
        page.wait_for_selector("#audio-in", timeout=TIMEOUT_MS)
        page.locator('#audio-in button[aria-label="Upload file"]').click()
        page.locator("#audio-in input[type=file]").set_input_files(str(clip_of("dog", 5, 0)))
        for plot in ("#hubert-plot", "#yamnet-plot"):  # uploading classifies at once
            page.wait_for_selector(f"{plot} .js-plotly-plot .bars", timeout=TIMEOUT_MS)
        verdict = page.locator("#verdict").inner_text()
        assert "agree" in verdict and "Dog" in verdict
        ticks = page.locator("#yamnet-plot .ytick text").all_text_contents()
        assert len(ticks) == 10 and {"Dog", "Crow"} <= {t.split(" ", 1)[-1] for t in ticks}
        assert "Traceback" not in page.content()
        if screen == "phone":  # nothing wider than the phone: no sideways scrolling
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        shot = tmp_path / f"classify-{screen}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("SCREENSHOT_DIR"):
            target = Path(os.environ["SCREENSHOT_DIR"])
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, target / shot.name)
    finally:
        page.close()


def test_recording_classifies_when_it_stops(browser, app_url: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["microphone"], origin=app_url.rstrip("/"))
    page = context.new_page()
    try:
        page.goto(app_url)
        page.wait_for_selector("#audio-in button.record", timeout=TIMEOUT_MS)
        page.locator("#audio-in button.record").click()
        page.wait_for_timeout(2500)
        page.locator("#audio-in button.stop-button").first.click()  # no Classify click: stopping is enough
        for plot in ("#hubert-plot", "#yamnet-plot"):
            page.wait_for_selector(f"{plot} .js-plotly-plot .bars", timeout=TIMEOUT_MS)
        verdict = page.locator("#verdict").inner_text()
        assert "agree" in verdict and "Clip:" in verdict
    finally:
        context.close()


def test_timeline_and_robustness_lab_on_an_uploaded_clip(browser, app_url: str, clip_of) -> None:
    """The timeline (one heatmap per model) comes with the answer; the lab's Try and Sweep use the same clip."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(app_url)
        page.wait_for_selector("#audio-in", timeout=TIMEOUT_MS)
        page.locator('#audio-in button[aria-label="Upload file"]').click()
        page.locator("#audio-in input[type=file]").set_input_files(str(clip_of("dog", 5, 0)))
        page.wait_for_selector(
            "#timeline-plot .js-plotly-plot .heatmaplayer", state="attached", timeout=TIMEOUT_MS
        )
        assert page.locator("#timeline-plot .heatmaplayer .hm").count() == 2
        page.locator("#lab").get_by_text("Robustness lab").first.click()
        page.locator("#lab-transform").get_by_text("Pitch").click()
        page.locator("#lab-try").click()
        for plot in ("#lab-hubert", "#lab-yamnet"):
            page.wait_for_selector(f"{plot} .js-plotly-plot .bars", timeout=TIMEOUT_MS)
        assert "Pitch at +2 semitones" in page.locator("#lab-summary").inner_text()
        page.locator("#lab-sweep").click()
        page.wait_for_selector("#lab-sweep-plot .js-plotly-plot .scatterlayer .trace", timeout=TIMEOUT_MS)
        assert page.locator("#lab-sweep-plot .scatterlayer .trace").count() == 2
        assert "Traceback" not in page.content()
    finally:
        page.close()


def test_train_tab_shows_the_latest_run_and_redraws_the_confusion_matrix(
    browser, app_url: str, app_home: Path, prepared_subset: Path, yamnet_tflite: Path
) -> None:
    """Last in this module: the run it writes would give later pages' YAMNet a trained probe."""
    from animal_audio.compare_config import CompareConfig
    from animal_audio.pipeline import run_comparison

    runs = app_home / "runs"
    models = ("yamnet-zeroshot", "yamnet-probe")
    config = CompareConfig(prepared_subset, models=models, yamnet=str(yamnet_tflite), runs_dir=runs)
    run_comparison(replace(config, out_dir=runs / "quick"))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(app_url)
        tabs = page.locator("button[role=tab]")
        tabs.nth(1).click()
        page.wait_for_selector("#results-table", timeout=TIMEOUT_MS)
        titles = page.locator(".js-plotly-plot .gtitle")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.gtitle')].some(t => t.textContent.includes('confusion'))",
            timeout=TIMEOUT_MS,
        )
        assert "YAMNet zero-shot: confusion matrix" in titles.all_text_contents()
        assert "quick" in page.locator("body").inner_text()
        page.get_by_label("Confusion matrix of").click()
        page.get_by_role("option", name="YAMNet + linear probe").click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.gtitle')].some(t => t.textContent.includes('linear probe: conf'))",
            timeout=TIMEOUT_MS,
        )
        assert [t.inner_text() for t in tabs.all()] == [
            "🎧 Classify",
            "🏋️ Train & compare",
            "🧑‍🏫 Teach it your sounds",
            "🩺 Models",
        ]
        assert "Traceback" not in page.content()
    finally:
        page.close()
