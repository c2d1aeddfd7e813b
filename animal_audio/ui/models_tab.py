"""The Models tab: which weights each side uses, from where, and how to fix what is missing."""

from __future__ import annotations

from typing import Any

import gradio as gr

from animal_audio import settings
from animal_audio.ui.common import PRIVATE, AppState, StatusViews, visitor
from animal_audio.ui.i18n import lang_of, t


def models_tab(app: gr.Blocks, state: AppState, status: StatusViews) -> None:
    """The registry's state in full, and (locally) a button that loads again after a fix."""
    with gr.Tab(t("tab_models"), id="status"):
        gr.Markdown(t("models_intro"))
        status.panel.render()
        retry_btn = gr.Button(t("retry_btn"), elem_id="retry-btn", visible=not settings.public_mode())
        gr.Markdown(t("settings_help"))

    def retry(profile: gr.OAuthProfile | None, request: gr.Request) -> dict[Any, Any]:
        """In public mode only admins: a reload can take long, and failures are remembered so nobody waits."""
        visitor(state, profile, request, require=True)
        return status.show(retry=True, lang=lang_of(request))

    retry_btn.click(retry, outputs=status.views, concurrency_id="status", concurrency_limit=1, **PRIVATE)
    app.load(status.for_visitor, outputs=status.views, **PRIVATE)
    status.timer.tick(
        status.for_visitor, outputs=status.views, queue=False, show_progress="hidden", **PRIVATE
    )
