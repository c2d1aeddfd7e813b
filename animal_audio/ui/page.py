"""The whole page: header, the tabs (Classify, Train, Teach unless turned off, Models), the queue and the server settings."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from animal_audio import settings
from animal_audio.demo import text
from animal_audio.ui.classify_tab import classify_tab
from animal_audio.ui.common import CLASSIFY_CONCURRENCY, POLL_SECONDS, AppState, StatusViews
from animal_audio.ui.i18n import I18N, t
from animal_audio.ui.models_tab import models_tab
from animal_audio.ui.teach_tab import teach_tab
from animal_audio.ui.train_tab import train_tab

ASSETS = Path(__file__).resolve().parents[2] / "assets"
TITLE = "Which animal is that? HuBERT vs YAMNet"
#: Uploads larger than this are refused by the server before any decoding (30 s of WAV is ~5 MB).
MAX_FILE_SIZE = "20mb"
DELETE_UPLOADS = (3600, 3600)  # uploaded clips: deleted hourly once an hour old (gradio's cache)


def build_page(state: AppState) -> gr.Blocks:
    """The whole UI. Builds components only: no model is loaded here."""
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=DELETE_UPLOADS) as app:
        gr.HTML(
            text.HEADER.format(logo=(ASSETS / "logo.svg").read_text(encoding="utf-8"), text=t("header_html"))
        )
        line, panel = gr.Markdown(elem_id="status-line", render=False), gr.Markdown(render=False)
        status = StatusViews(state.registry, line, panel, gr.Timer(POLL_SECONDS))
        with gr.Tabs():
            examples = classify_tab(app, state, status)
            train_tab(app, state, examples)
            if settings.teach_enabled():  # the operator may turn it off (ANIMAL_AUDIO_TEACH=off)
                teach_tab(app, state)
            models_tab(app, state, status)
    return app


def launch(app: gr.Blocks) -> None:
    """Serve the page. No global cap on the queue: with one, a flood of any event would turn classifications away."""
    app.queue(default_concurrency_limit=CLASSIFY_CONCURRENCY, max_size=None)
    app.launch(
        max_file_size=MAX_FILE_SIZE,
        allowed_paths=[str(settings.data_dir())],  # example and misclassified clips; nothing else outside
        theme=gr.themes.Soft(primary_hue="orange", secondary_hue="blue", font=["system-ui", "sans-serif"]),
        css_paths=[ASSETS / "style.css"],
        favicon_path=ASSETS / "logo.svg",
        footer_links=["api", "gradio"],
        i18n=I18N,  # fixed text in the browser's language, English otherwise
    )
