"""The app in a Russian and an English browser: tabs, buttons and the charts' class names in its language
(issue 13 item 5). Screenshots of the Russian page go to $SCREENSHOT_DIR when it is set."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from chromium import TIMEOUT_MS, VIEWPORTS

from animal_audio.i18n import class_name, tr
from animal_audio.labels import CLASSES

pytestmark = pytest.mark.browser

#: Browser locale -> the app's language (English for a language it does not speak).
LOCALES = {"ru-RU": "ru", "en-US": "en", "de-DE": "en"}


@pytest.fixture(scope="module")
def finished_run(app_home: Path, prepared_subset: Path, yamnet_tflite: Path) -> Path:
    """A quick comparison in the app's runs folder: the Train tab shows its table and charts."""
    from animal_audio.compare_config import CompareConfig
    from animal_audio.pipeline import run_comparison

    runs = app_home / "runs"
    models = ("yamnet-zeroshot", "yamnet-probe")
    config = CompareConfig(prepared_subset, models=models, yamnet=str(yamnet_tflite), runs_dir=runs)
    run_comparison(replace(config, out_dir=runs / "quick"))
    return runs / "quick"


def _classify_a_dog(page, dog: Path) -> None:
    page.locator('#audio-in button[aria-label="Upload file"]').click()  # gradio's own label: not translated
    page.locator("#audio-in input[type=file]").set_input_files(str(dog))
    for plot in ("#hubert-plot", "#yamnet-plot"):  # uploading classifies at once
        page.wait_for_selector(f"{plot} .js-plotly-plot .bars", timeout=TIMEOUT_MS)


def _keep(page, tmp_path: Path, name: str) -> None:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        target = Path(os.environ["SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / name)


@pytest.mark.parametrize("locale", list(LOCALES))
def test_the_page_speaks_the_browsers_language(
    browser, app_url: str, clip_of, locale: str, tmp_path: Path
) -> None:
    lang = LOCALES[locale]
    width, height = VIEWPORTS["desktop"]
    context = browser.new_context(locale=locale, viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(app_url)
        page.wait_for_selector("#audio-in", timeout=TIMEOUT_MS)
        tabs = page.locator("button[role=tab]")
        assert tabs.all_inner_texts() == [
            tr(k, lang) for k in ("tab_classify", "tab_train", "tab_teach", "tab_models")
        ]
        assert page.locator("#classify-btn").inner_text().strip() == tr("classify_btn", lang)
        _classify_a_dog(page, clip_of("dog", 5, 0))
        ticks = page.locator("#yamnet-plot .ytick text").all_text_contents()
        assert {t.replace("(", " (").replace("  ", " ") for t in ticks} == {
            class_name(c, lang) for c in CLASSES
        }
        assert class_name("dog", lang) in page.locator("#verdict").inner_text()
        assert tr("clip_seconds", lang, seconds="5.0") in page.locator("#verdict").inner_text()
        other = "en" if lang == "ru" else "ru"
        assert class_name("dog", other) not in page.locator("body").inner_text()
        assert "__i18n__" not in page.locator("body").inner_text()
    finally:
        context.close()


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_russian_fits_on_desktop_and_phone(
    browser, app_url: str, finished_run: Path, clip_of, screen: str, tmp_path: Path
) -> None:
    """Russian runs ~30% longer than English: no tab name clipped, no sideways scrolling."""
    width, height = VIEWPORTS[screen]
    context = browser.new_context(locale="ru-RU", viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(app_url)
        page.wait_for_selector("#audio-in", timeout=TIMEOUT_MS)
        _classify_a_dog(page, clip_of("dog", 5, 0))
        clipped = "(els) => els.filter(e => e.offsetWidth && e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"
        assert page.locator("button[role=tab], button.lg, button.primary").evaluate_all(clipped) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        _keep(page, tmp_path, f"ru-classify-{screen}.png")
        page.locator("button[role=tab]").nth(1).click()
        page.wait_for_selector("#start-btn", timeout=TIMEOUT_MS)
        page.wait_for_timeout(1000)  # the estimate line and the data line arrive after the tab
        assert page.locator("#start-btn").inner_text().strip() == tr("start_btn", "ru")
        page.wait_for_selector("#results-table", timeout=TIMEOUT_MS)
        titles = "() => [...document.querySelectorAll('.gtitle')].some(t => t.textContent.includes('матрица ошибок'))"
        page.wait_for_function(titles, timeout=TIMEOUT_MS)
        assert tr("col_accuracy", "ru") in page.locator("#results-table").inner_text()
        assert page.locator("button[role=tab], button.lg, button.primary").evaluate_all(clipped) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        _keep(page, tmp_path, f"ru-train-{screen}.png")
    finally:
        context.close()
