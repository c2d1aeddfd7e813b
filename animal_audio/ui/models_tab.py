"""The Models tab: which weights each side uses, from where, and how to fix what is missing."""

from __future__ import annotations

from typing import Any

import gradio as gr

from animal_audio import settings
from animal_audio.demo import text
from animal_audio.ui.common import PRIVATE, AppState, StatusViews, visitor


def models_tab(app: gr.Blocks, state: AppState, status: StatusViews) -> None:
    """The registry's state in full, and (locally) a button that loads again after a fix."""
    with gr.Tab("🩺 Models", id="status"):
        gr.Markdown(text.MODELS_INTRO)
        status.panel.render()
        retry_btn = gr.Button(
            "Retry loading (after fixing)", elem_id="retry-btn", visible=not settings.public_mode()
        )
        gr.Markdown(text.SETTINGS_HELP)

    def retry(profile: gr.OAuthProfile | None) -> dict[Any, Any]:
        """In public mode only admins: a reload can take long, and failures are remembered so nobody waits."""
        visitor(state, profile, require=True)
        return status.show(retry=True)

    retry_btn.click(retry, outputs=status.views, concurrency_id="status", concurrency_limit=1, **PRIVATE)
    app.load(status.show, outputs=status.views, **PRIVATE)
    status.timer.tick(status.show, outputs=status.views, queue=False, show_progress="hidden", **PRIVATE)
