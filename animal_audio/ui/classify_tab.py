"""The Classify tab: record, upload or pick a clip and see both models' answers side by side; the API's `classify`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from animal_audio import settings
from animal_audio.demo import text
from animal_audio.demo.classify import ClassifyResult, classify, empty_figures
from animal_audio.examples import clip_path, example_clips
from animal_audio.i18n import class_name, tr
from animal_audio.plots.clip import message_figure
from animal_audio.ui.common import CLASSIFY_QUEUE, PRIVATE, AppState, StatusViews, limited, shown_errors
from animal_audio.ui.i18n import lang_of, shown, t
from animal_audio.ui.lab import lab_panel
from animal_audio.ui.neighbours_view import neighbours_section


@dataclass(frozen=True)
class ExampleViews:
    """The Classify tab's example picker, or (until the clips are here) the button that fetches them."""

    picker: gr.Radio
    fetch_note: gr.Markdown
    fetch_btn: gr.Button

    def show(self, request: gr.Request | None = None) -> dict[Any, Any]:
        lang = lang_of(request)
        choices = [
            (class_name(e.label, lang), e.path.name) for e in example_clips()
        ]  # by name: no server folder
        fetchable = not (choices or settings.public_mode())  # fetching is the operator's call in public mode
        return {
            self.picker: gr.Radio(choices=choices, value=None, visible=bool(choices)),
            self.fetch_note: gr.Markdown(visible=fetchable),
            self.fetch_btn: gr.Button(visible=fetchable),
        }

    @property
    def views(self) -> list[Any]:
        return [self.picker, self.fetch_note, self.fetch_btn]


def classified(
    state: AppState, audio: Any, request: gr.Request | None, *, figures: bool = True
) -> ClassifyResult:
    """Both models on the visitor's clip, within the visitor's rate limit; errors as messages for the page."""

    lang = lang_of(request)

    def run() -> ClassifyResult:
        limited(state, request)
        return classify(audio, state.registry, figures=figures, lang=lang)

    return shown_errors(run, text.CLASSIFY_FAILED, lang)


def classify_tab(app: gr.Blocks, state: AppState, status: StatusViews) -> ExampleViews:
    """Record or upload a clip (or pick an example) and see both models' answers side by side."""
    with gr.Tab(t("tab_classify"), id="classify"):
        gr.Markdown(t("intro"))
        status.line.render()
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                sources = ["microphone", "upload"]
                audio = gr.Audio(sources=sources, type="filepath", label=t("your_sound"), elem_id="audio-in")
                classify_btn = gr.Button(t("classify_btn"), variant="primary", elem_id="classify-btn")
                gr.Markdown(t("or_try_example"))
                examples = ExampleViews(
                    gr.Radio(
                        [], label=t("example_clips"), show_label=False, visible=False, elem_id="examples"
                    ),
                    gr.Markdown(t("fetch_note"), visible=False),
                    gr.Button(t("fetch_btn"), visible=False),
                )
                gr.Markdown(t("esc50_credit"), elem_classes="credit")
            with gr.Column(scale=5, min_width=300):
                verdict = gr.Markdown(t("verdict_before"), elem_id="verdict")
                with gr.Row(equal_height=True):
                    empty = empty_figures()
                    plots = {
                        side: gr.Plot(empty[side], show_label=False, elem_id=f"{side}-plot", min_width=280)
                        for side in text.SIDES
                    }
                audioset = gr.Markdown(elem_id="audioset")
        with gr.Accordion(t("timeline_title"), open=True, elem_id="timeline"):
            gr.Markdown(t("timeline_note"))
            # A line, not an empty frame, before the first clip (in the visitor's language on load).
            waiting = message_figure("", tr("timeline_waiting"))
            plots["timeline"] = gr.Plot(waiting, show_label=False, elem_id="timeline-plot")
        neighbours = neighbours_section()
        lab_panel(app, state, audio)
        with gr.Accordion(t("clip_accordion"), open=False), gr.Row():
            plots["waveform"] = gr.Plot(show_label=False, min_width=280)
            plots["spectrogram"] = gr.Plot(show_label=False, min_width=280)
        with gr.Accordion(t("about_accordion"), open=False):
            gr.Markdown(t("about_models"))
        with gr.Accordion(t("raw_accordion"), open=False):
            answer = gr.JSON(show_label=False)
        api_btn = gr.Button(visible=False)  # carries the /classify API endpoint

    def classify_clip(clip: Any, request: gr.Request) -> dict[Any, Any]:
        result = classified(state, clip, request)
        for note in result.notes:
            gr.Warning(shown(note, request), title=tr("about_your_clip", lang_of(request)))
        views = {verdict: result.summary, audioset: result.audioset, answer: result.payload}
        drawn = {plots[name]: f for name, f in result.figures.items() if name in plots}
        return {
            **views,
            **drawn,
            **neighbours.show(result.payload, result.figures, lang_of(request)),
            **status.for_visitor(request),
        }

    def classify_api(clip: Any, request: gr.Request) -> dict[str, Any]:
        """API endpoint `classify`: audio file in, both models' probabilities, labels and latencies out."""
        return classified(state, clip, request, figures=False).payload

    # One way to classify the clip in `audio`, whatever started it (click, recording, upload, example).
    classify_event = dict(
        fn=classify_clip,
        inputs=audio,
        outputs=[verdict, *plots.values(), audioset, answer, *neighbours.views, *status.views],
        **CLASSIFY_QUEUE,
        **PRIVATE,
    )
    for trigger in (classify_btn.click, audio.stop_recording, audio.upload):
        trigger(**classify_event)
    api_btn.click(
        classify_api,
        inputs=audio,
        outputs=answer,
        api_name="classify",
        api_description="Audio file in; both models' class probabilities, labels and latencies out (JSON).",
        **CLASSIFY_QUEUE,
    )
    picked = examples.picker.input(clip_path, inputs=examples.picker, outputs=audio, **PRIVATE)
    picked.then(**classify_event)
    app.load(examples.show, outputs=examples.views, **PRIVATE)

    def before_first_clip(request: gr.Request) -> list[Any]:
        """The charts' "record a clip first", in the visitor's language."""
        lang = lang_of(request)
        empty = empty_figures(lang)
        return [*(empty[side] for side in text.SIDES), message_figure("", tr("timeline_waiting", lang))]

    before = [*(plots[side] for side in text.SIDES), plots["timeline"]]
    app.load(before_first_clip, outputs=before, **PRIVATE)
    return examples
