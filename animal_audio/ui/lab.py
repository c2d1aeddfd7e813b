"""The Classify tab's robustness lab: change the clip (noise, speed, pitch, a phone line) and see both models'
answers move; the API's `robustness`. What it does is animal_audio.robustness_lab; this is only the page."""

from __future__ import annotations

from typing import Any

import gradio as gr

from animal_audio.demo.text import SIDES
from animal_audio.robustness_lab import (
    CONTROL_OF,
    CONTROLS,
    LabTry,
    lab_answer,
    lab_sweep,
    lab_try,
    slider_level,
    transform_choices,
)
from animal_audio.ui.common import CLASSIFY_QUEUE, PRIVATE, AppState, limited, shown_errors
from animal_audio.ui.i18n import lang_of, t

LAB_FAILED = (
    "Something went wrong in the robustness lab (error id {error_id}). Try another clip; "
    "if it keeps happening, the server log has the details under that id."
)
API_DESCRIPTION = (
    "Audio file, a transform (white-noise, pink-noise, speed, pitch, phone) and up to 7 levels in; per level "
    "each model's label, probabilities and probability of its original top class out (JSON)."
)
FIRST_TRANSFORM = "white-noise"


def lab_panel(app: gr.Blocks, state: AppState, audio: gr.Audio) -> None:
    """The lab's accordion, working on the clip in `audio`, and the API endpoint `robustness`."""
    with gr.Accordion(t("lab_title"), open=False, elem_id="lab"):
        gr.Markdown(t("lab_intro"))
        with gr.Row(equal_height=False):
            picker = gr.Radio(
                transform_choices(),
                value=FIRST_TRANSFORM,
                label=t("lab_transform"),
                min_width=280,
                elem_id="lab-transform",
            )
            with gr.Column(min_width=280):
                sliders = {
                    kind: gr.Slider(
                        c.minimum,
                        c.maximum,
                        value=c.value,
                        step=c.step,
                        label=t(f"lab_{kind}_label"),
                        info=t(f"lab_{kind}_info"),
                        visible=kind == CONTROL_OF[FIRST_TRANSFORM],
                    )
                    for kind, c in CONTROLS.items()
                }
                phone_note = gr.Markdown(t("lab_phone_note"), visible=False)
        with gr.Row():
            try_btn = gr.Button(t("lab_try_btn"), variant="primary", elem_id="lab-try", min_width=140)
            sweep_btn = gr.Button(t("lab_sweep_btn"), elem_id="lab-sweep", min_width=140)
        summary = gr.Markdown(elem_id="lab-summary")
        with gr.Row(equal_height=True):
            bars = {side: gr.Plot(show_label=False, min_width=280, elem_id=f"lab-{side}") for side in SIDES}
        heard = gr.Audio(label=t("lab_player"), interactive=False, type="numpy", elem_id="lab-heard")
        sweep_plot = gr.Plot(show_label=False, elem_id="lab-sweep-plot")
        api_name, api_levels = gr.Textbox(visible=False), gr.JSON(visible=False)
        api_answer, api_btn = (
            gr.JSON(visible=False),
            gr.Button(visible=False),
        )  # the API endpoint `robustness`

    def show_level(name: str) -> dict[Any, Any]:
        kind = CONTROL_OF.get(name)
        shown = {slider: gr.Slider(visible=k == kind) for k, slider in sliders.items()}
        return {**shown, phone_note: gr.Markdown(visible=kind is None)}

    def try_clip(clip: Any, name: str, noise: float, speed: float, pitch: float, request: gr.Request) -> Any:
        """One slider per kind of level (CONTROLS' order); gradio passes the request by its type, not by *args."""

        def run() -> LabTry:
            limited(state, request)
            values = dict(zip(sliders, (noise, speed, pitch)))
            return lab_try(clip, state.registry, name, slider_level(name, values), lang)

        lang = lang_of(request)
        result: LabTry = shown_errors(run, LAB_FAILED, lang)
        return {summary: result.summary, heard: result.audio, **{bars[s]: result.figures[s] for s in SIDES}}

    def sweep_clip(clip: Any, name: str, request: gr.Request) -> Any:
        def run() -> Any:
            limited(state, request)
            return lab_sweep(clip, state.registry, name, lang)[1]

        lang = lang_of(request)
        return shown_errors(run, LAB_FAILED, lang)

    def robustness_api(clip: Any, name: Any, levels: Any, request: gr.Request) -> dict[str, Any]:
        """API endpoint `robustness`: both models on the clip changed at each level (JSON)."""

        def run() -> dict[str, Any]:
            limited(state, request)
            return lab_answer(clip, state.registry, name, levels).payload

        return shown_errors(run, LAB_FAILED, lang_of(request))

    shown = [summary, heard, *bars.values(), sweep_plot]
    # A new clip: the lab's answers were about the old one.
    audio.change(lambda: dict.fromkeys(shown), outputs=shown, queue=False, show_progress="hidden", **PRIVATE)

    def in_visitors_language(request: gr.Request) -> Any:
        """The transforms' names in the visitor's language (a picker's choices are the server's text)."""
        return gr.Radio(choices=transform_choices(lang_of(request)))

    app.load(in_visitors_language, outputs=picker, **PRIVATE)
    picker.change(show_level, inputs=picker, outputs=[*sliders.values(), phone_note], queue=False, **PRIVATE)
    try_btn.click(
        try_clip,
        inputs=[audio, picker, *sliders.values()],
        outputs=[summary, heard, *bars.values()],
        **CLASSIFY_QUEUE,
        **PRIVATE,
    )
    sweep_btn.click(sweep_clip, inputs=[audio, picker], outputs=sweep_plot, **CLASSIFY_QUEUE, **PRIVATE)
    api_btn.click(
        robustness_api,
        inputs=[audio, api_name, api_levels],
        outputs=api_answer,
        api_name="robustness",
        api_description=API_DESCRIPTION,
        **CLASSIFY_QUEUE,
    )
