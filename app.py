"""Gradio app: which animal is that? HuBERT and YAMNet side by side on ESC-50's ten animals.

UI only: the layout and the wiring. What happens on a click lives in
`animal_audio.demo` (tested without a browser). Models load lazily, once per
process, in a background warm-up thread started at launch; the page is usable
before they are ready. Host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr

from animal_audio import demo, settings
from animal_audio.demo import texts
from animal_audio.errors import AnimalAudioError, AudioError
from animal_audio.formatting import duration, model_title

log = logging.getLogger("app")

ASSETS = Path(__file__).resolve().parent / "assets"
TITLE = "Which animal is that? HuBERT vs YAMNet"
#: Uploads larger than this are refused by the server before any decoding (30 s of WAV is ~5 MB).
MAX_FILE_SIZE = "20mb"
#: 2 CPU cores: two clips at a time, each model's predictions serialised by the registry.
CLASSIFY_CONCURRENCY = 2
#: Followers of the training job mostly sleep between log refreshes.
TRAIN_WATCHERS = 8
QUEUE_SIZE = 64
LOG_REFRESH_SECONDS = 1.0
WATCH_EVERY_SECONDS = 3.0
WATCH_AFTER_FINISH_SECONDS = 10.0
DEFAULT_EPOCHS = 10
QUICK_MODELS = ("hubert-probe", "yamnet-zeroshot", "yamnet-probe")
#: Outputs of the results section, in the order `_view_outputs` returns them.
N_RESULT_OUTPUTS = 8

REGISTRY = demo.default_registry()
JOB = demo.TrainingJob()

PROTOCOLS = [
    ("Folds: train 1-3, validate 4, test 5", "folds"),
    ("5-fold cross-validation (5x longer)", "cv"),
]
MODES = ["Quick (linear heads, minutes)", "Full (also fine-tune HuBERT, hours on CPU)", "Custom"]


# --------------------------------------------------------------------------- classify tab


def _status() -> tuple[str, str]:
    return _status_outputs(REGISTRY.status())


def _status_outputs(statuses: list[Any]) -> tuple[str, str]:
    """The status line above the charts and the Models panel."""
    return demo.status_line(statuses), demo.status_markdown(statuses)


def classify_clip(audio: Any) -> tuple[Any, ...]:
    """The Classify button: both models, charts, what YAMNet hears, the clip's pictures."""
    result = _classify_or_error(audio)
    for note in result.notes:
        gr.Warning(note, title="About your clip")
    line, panel = _status()
    figures = result.figures
    return (
        result.summary,
        figures[demo.HUBERT],
        figures[demo.YAMNET],
        result.audioset,
        figures["waveform"],
        figures["spectrogram"],
        result.payload,
        line,
        panel,
    )


def classify_api(audio: Any) -> dict[str, Any]:
    """API endpoint `classify`: audio file in, both models' probabilities, labels and latencies out."""
    return _classify_or_error(audio, figures=False).payload


def _classify_or_error(audio: Any, *, figures: bool = True) -> demo.ClassifyResult:
    try:
        return demo.classify(audio, REGISTRY, figures=figures)
    except AudioError as error:
        raise gr.Error(str(error), title="This audio cannot be used", print_exception=False) from None
    except AnimalAudioError as error:
        raise gr.Error(str(error), print_exception=False) from None
    except Exception:
        log.exception("classify failed")
        raise gr.Error(
            "Something went wrong while classifying this clip. Try another clip; "
            "if it keeps happening, the server log has the details.",
            print_exception=False,
        ) from None


def example_choices() -> list[tuple[str, str]]:
    return [(e.title, str(e.path)) for e in demo.example_clips()]


def examples_update() -> tuple[Any, Any, Any]:
    """Example picker when the prepared clips exist, else the button that fetches them."""
    choices = example_choices()
    has = bool(choices)
    return (
        gr.Radio(choices=choices, value=None, visible=has),
        gr.Button(visible=not has),
        gr.Markdown(visible=not has),
    )


def fetch_examples(progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 (how Gradio injects progress)
    def report(event: Any) -> None:
        progress(event.fraction, desc=f"{event.stage}: {event.message}"[:80])

    try:
        demo.fetch_examples(report)
    except AnimalAudioError as error:
        raise gr.Error(str(error), title="Could not get the ESC-50 clips", print_exception=False) from None
    gr.Info("The ESC-50 animal clips are ready.")
    return (*examples_update(), *data_update())


def data_update() -> tuple[str, Any]:
    """The Train tab's data line, and its download button while the clips are missing."""
    missing = not demo.example_clips()
    return demo.data_status_markdown(), gr.Button(visible=missing)


def retry_models() -> tuple[str, str]:
    REGISTRY.reset()
    return load_models_status()


def load_models_status() -> tuple[str, str]:
    return _status_outputs(REGISTRY.status(load=True))


# --------------------------------------------------------------------------- train tab


def mode_models(mode: str) -> Any:
    if mode == MODES[0]:
        return gr.CheckboxGroup(value=list(QUICK_MODELS))
    if mode == MODES[1]:
        return gr.CheckboxGroup(value=list(_model_names()))
    return gr.CheckboxGroup()


def _model_names() -> tuple[str, ...]:
    from animal_audio.pipeline import MODEL_NAMES

    return MODEL_NAMES


def estimate(models: list[str], protocol: str, epochs: float) -> str:
    if not models:
        return "Choose at least one model."
    try:
        return demo.estimate_text(demo.make_config(models, protocol, int(epochs)))
    except AnimalAudioError as error:
        return f"⚠️ {error}"


def run_training(
    models: list[str],
    protocol: str,
    epochs: float,
    warned_for: str,
    progress: gr.Progress = gr.Progress(),  # noqa: B008
):
    """Start a comparison (or follow the one already running) and stream its log until it ends.

    A run expected to take hours starts only on a second click with the same settings.
    """
    if not models:
        raise gr.Error("Choose at least one model to train and compare.", print_exception=False)
    skip = (gr.skip(),) * N_RESULT_OUTPUTS
    try:
        config = demo.make_config(models, protocol, int(epochs))
        if not JOB.running:
            demo.require_data(config)
        seconds = demo.expected_seconds(config)
        settings_key = f"{sorted(models)}|{protocol}|{int(epochs)}"
        if demo.is_long(seconds) and warned_for != settings_key and not JOB.running:
            gr.Warning(
                f"This comparison takes about {duration(seconds)} on this machine. "
                "Press Start again to begin anyway, or choose the quick mode (minutes).",
                title="A long run",
                duration=None,
            )
            yield (gr.skip(), gr.skip(), *skip, settings_key)
            return
        JOB.start(config, on_done=_use_trained_models)
        gr.Info(demo.estimate_text(config).replace("**", ""), title="Training started")
    except demo.JobBusyError as error:
        gr.Warning(str(error), title="Busy")
    except AnimalAudioError as error:
        raise gr.Error(str(error), print_exception=False) from None
    while True:
        snap = JOB.snapshot()
        progress(snap.fraction, desc=snap.stage or "starting")
        if not snap.running:
            break
        yield ("\n".join(snap.log), _job_line(snap), *skip, "")
        time.sleep(LOG_REFRESH_SECONDS)
    if snap.error:
        gr.Warning(snap.error, title="Stopped" if snap.cancelled else "The comparison failed")
    view = _run_view(snap.run_dir) if snap.run_dir else None
    yield ("\n".join(snap.log), _job_line(snap), *(_view_outputs(view) if view else skip), "")


def _use_trained_models(run_dir: Path) -> None:
    """Runs in the training thread: switch the Classify tab to the new models and load them."""
    REGISTRY.use_run(run_dir)
    REGISTRY.warm_up()


def cancel_training() -> str:
    if JOB.cancel():
        return "Stopping… finished steps are kept; starting the same comparison again resumes it."
    return "Nothing is running."


def _job_line(snap: demo.JobSnapshot) -> str:
    if snap.running:
        return f"⏳ Running: **{snap.stage or 'starting'}** ({snap.fraction * 100:.0f}%)"
    if snap.cancelled:
        return "⏹️ Stopped. Start the same comparison again to resume it."
    if snap.error:
        return f"❌ {snap.error}"
    if snap.run_dir:
        return "✅ Finished. The Classify tab now uses the models trained in this run."
    return "No comparison is running."


def job_state() -> tuple[str, str]:
    snap = JOB.snapshot()
    return "\n".join(snap.log), _job_line(snap)


def watch_job() -> tuple[Any, Any]:
    """Timer tick: every open page sees a running comparison's log, whoever started it."""
    snap = JOB.snapshot()
    recently = snap.finished is not None and time.time() - snap.finished < WATCH_AFTER_FINISH_SECONDS
    if not (snap.running or recently):
        return gr.skip(), gr.skip()
    return "\n".join(snap.log), _job_line(snap)


def _run_view(run_dir: Path | None = None) -> demo.RunView | None:
    try:
        return demo.load_run_view(run_dir)
    except AnimalAudioError as error:
        gr.Warning(str(error), title="Could not show the last results")
    except Exception:
        log.exception("could not load the run %s", run_dir)
    return None


def _view_outputs(view: demo.RunView | None) -> tuple[Any, ...]:
    if view is None:
        return (
            "No comparison has finished yet: start one above (or run `python -m train compare`).",
            gr.Dataframe(value=None, visible=False),
            gr.Plot(value=None, visible=False),
            gr.Dropdown(choices=[], value=None, visible=False),
            gr.Plot(value=None, visible=False),
            gr.Plot(value=None, visible=False),
            gr.Dataframe(value=None, visible=False),
            gr.Column(visible=False),
        )
    first = view.models[0] if view.models else None
    return (
        view.summary,
        gr.Dataframe(value=view.table, visible=True),
        gr.Plot(value=view.figures["accuracy"], visible=True),
        gr.Dropdown(choices=[(model_title(m), m) for m in view.models], value=first, visible=bool(first)),
        gr.Plot(value=view.figures["confusion"].get(first), visible=bool(first)),
        gr.Plot(value=view.figures["per_class_f1"], visible=True),
        gr.Dataframe(value=view.misclassified, visible=not view.misclassified.empty),
        gr.Column(visible=not view.misclassified.empty),
    )


def show_latest_results() -> tuple[Any, ...]:
    return _view_outputs(_run_view())


def confusion_for(model: str | None) -> Any:
    view = _run_view(REGISTRY.run_dir())
    if view is None or not model:
        return gr.skip()
    return view.figures["confusion"].get(model)


def play_misclassified(table: Any, event: gr.SelectData) -> Any:
    """Clicking a row of the misclassified table plays that clip (when it is on this machine)."""
    try:
        row = event.index[0]
        filename = str(table.iloc[row]["clip"])
    except (TypeError, IndexError, KeyError, AttributeError):
        return gr.skip()
    path = demo.clip_path(filename)
    if path is None:
        gr.Warning(f"{filename} is not on this machine: get the ESC-50 clips first.")
        return None
    return gr.Audio(value=str(path), label=f"{filename}")


# --------------------------------------------------------------------------- layout


def _header() -> str:
    logo = (ASSETS / "logo.svg").read_text(encoding="utf-8")
    return (
        f'<div id="header">{logo}<div><h1>{TITLE}</h1>'
        "<p>Two audio AI models, one sound, side by side.</p></div></div>"
    )


def build() -> gr.Blocks:
    """The whole UI. Builds components only: no model is loaded here."""
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.HTML(_header())
        with gr.Tabs():
            with gr.Tab("🎧 Classify", id="classify"):
                gr.Markdown(texts.INTRO)
                status_line = gr.Markdown(elem_id="status-line")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=300):
                        audio = gr.Audio(
                            sources=["microphone", "upload"],
                            type="filepath",
                            label="Your sound",
                            elem_id="audio-in",
                        )
                        classify_btn = gr.Button("Classify 🔍", variant="primary", elem_id="classify-btn")
                        gr.Markdown("**Or try a clip from the ESC-50 test fold:**")
                        examples = gr.Radio(
                            choices=[],
                            label="Example clips",
                            show_label=False,
                            visible=False,
                            elem_id="examples",
                        )
                        fetch_note = gr.Markdown(texts.FETCH_NOTE, visible=False)
                        fetch_btn = gr.Button("Get the ESC-50 clips", visible=False)
                        gr.Markdown(texts.ESC50_CREDIT, elem_classes="credit")
                    with gr.Column(scale=5, min_width=300):
                        verdict = gr.Markdown(
                            "### Record or upload a sound, then press Classify", elem_id="verdict"
                        )
                        with gr.Row(equal_height=True):
                            empty = demo.empty_figures()
                            hubert_plot = gr.Plot(
                                empty[demo.HUBERT], show_label=False, elem_id="hubert-plot", min_width=280
                            )
                            yamnet_plot = gr.Plot(
                                empty[demo.YAMNET], show_label=False, elem_id="yamnet-plot", min_width=280
                            )
                        audioset = gr.Markdown(elem_id="audioset")
                with gr.Accordion("The clip: waveform and spectrogram", open=False), gr.Row():
                    wave_plot = gr.Plot(show_label=False, min_width=280)
                    spec_plot = gr.Plot(show_label=False, min_width=280)
                with gr.Accordion("What are these two models, and why can they disagree?", open=False):
                    gr.Markdown(texts.ABOUT_MODELS)
                with gr.Accordion("Raw answer (the same JSON the API returns)", open=False):
                    answer = gr.JSON(show_label=False)

            with gr.Tab("🏋️ Train & compare", id="train"):
                gr.Markdown(texts.TRAIN_INTRO)
                data_status = gr.Markdown()
                train_fetch_btn = gr.Button("Get the ESC-50 clips", visible=False)
                with gr.Row():
                    with gr.Column(min_width=300):
                        mode = gr.Radio(MODES, value=MODES[0], label="Mode")
                        models = gr.CheckboxGroup(
                            choices=[(model_title(m), m) for m in _model_names()],
                            value=list(QUICK_MODELS),
                            label="Models",
                        )
                    with gr.Column(min_width=300):
                        protocol = gr.Radio(
                            PROTOCOLS,
                            value="folds",
                            label="Evaluation",
                            info="ESC-50's folds keep clips of one recording together; never a random split.",
                        )
                        epochs = gr.Slider(
                            1, 30, value=DEFAULT_EPOCHS, step=1, label="Epochs (fine-tuning only)"
                        )
                estimate_md = gr.Markdown()
                with gr.Row():
                    start_btn = gr.Button("Start training & comparison", variant="primary")
                    cancel_btn = gr.Button("Cancel", variant="stop")
                job_line = gr.Markdown()
                train_log = gr.Textbox(
                    label="Log",
                    lines=10,
                    max_lines=10,
                    autoscroll=True,
                    interactive=False,
                    elem_id="train-log",
                )
                gr.Markdown("## Results")
                run_md = gr.Markdown()
                table = gr.Dataframe(
                    label="Every model on the same test clips",
                    interactive=False,
                    wrap=True,
                    elem_id="results-table",
                )
                accuracy_plot = gr.Plot(show_label=False)
                with gr.Row():
                    with gr.Column(min_width=300):
                        confusion_model = gr.Dropdown(label="Confusion matrix of", choices=[])
                        confusion_plot = gr.Plot(show_label=False)
                    with gr.Column(min_width=300):
                        f1_plot = gr.Plot(show_label=False)
                with gr.Column(visible=False) as wrong_box:
                    gr.Markdown("### Clips a model got wrong (click a row to listen)")
                    wrong_table = gr.Dataframe(
                        interactive=False, wrap=True, max_height=360, elem_id="wrong-table"
                    )
                    wrong_audio = gr.Audio(label="Misclassified clip", interactive=False)

            with gr.Tab("🩺 Models", id="status"):
                gr.Markdown(texts.MODELS_INTRO)
                status_panel = gr.Markdown()
                with gr.Row():
                    check_btn = gr.Button("Load the models now")
                    retry_btn = gr.Button("Retry loading (after fixing)")
                gr.Markdown(texts.SETTINGS_HELP)

        # ---- wiring
        result_outputs = [
            run_md,
            table,
            accuracy_plot,
            confusion_model,
            confusion_plot,
            f1_plot,
            wrong_table,
            wrong_box,
        ]
        classify_outputs = [
            verdict,
            hubert_plot,
            yamnet_plot,
            audioset,
            wave_plot,
            spec_plot,
            answer,
            status_line,
            status_panel,
        ]
        # One way to classify the clip in `audio`, whatever started it (click, recording, upload, example).
        classify_event = dict(
            fn=classify_clip,
            inputs=audio,
            outputs=classify_outputs,
            api_visibility="private",
            concurrency_id="classify",
            concurrency_limit=CLASSIFY_CONCURRENCY,
        )
        for trigger in (classify_btn.click, audio.stop_recording, audio.upload):
            trigger(**classify_event)
        api_btn = gr.Button(visible=False)
        api_btn.click(
            classify_api,
            inputs=audio,
            outputs=answer,
            api_name="classify",
            api_description="Audio file in; both models' class probabilities, labels and latencies out (JSON).",
            concurrency_id="classify",
            concurrency_limit=CLASSIFY_CONCURRENCY,
        )
        examples.input(lambda path: path, inputs=examples, outputs=audio, api_visibility="private").then(
            **classify_event
        )
        for button in (fetch_btn, train_fetch_btn):
            button.click(
                fetch_examples,
                outputs=[examples, fetch_btn, fetch_note, data_status, train_fetch_btn],
                api_visibility="private",
                concurrency_id="fetch",
                concurrency_limit=1,
            )
        check_btn.click(load_models_status, outputs=[status_line, status_panel], api_visibility="private")
        retry_btn.click(retry_models, outputs=[status_line, status_panel], api_visibility="private")

        mode.input(mode_models, inputs=mode, outputs=models, api_visibility="private")
        models.input(lambda _: MODES[2], inputs=models, outputs=mode, api_visibility="private")
        for control in (mode, models, protocol, epochs):
            control.change(
                estimate, inputs=[models, protocol, epochs], outputs=estimate_md, api_visibility="private"
            )
        warned_for = gr.State("")
        start_btn.click(
            run_training,
            inputs=[models, protocol, epochs, warned_for],
            outputs=[train_log, job_line, *result_outputs, warned_for],
            show_progress_on=[job_line],  # the log stays readable while the bar moves
            api_visibility="private",
            concurrency_id="train-watch",
            concurrency_limit=TRAIN_WATCHERS,
        )
        watcher = gr.Timer(WATCH_EVERY_SECONDS)
        watcher.tick(
            watch_job,
            outputs=[train_log, job_line],
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )
        cancel_btn.click(cancel_training, outputs=job_line, api_visibility="private", queue=False)
        confusion_model.change(
            confusion_for, inputs=confusion_model, outputs=confusion_plot, api_visibility="private"
        )
        wrong_table.select(
            play_misclassified, inputs=wrong_table, outputs=wrong_audio, api_visibility="private"
        )

        app.load(_status, outputs=[status_line, status_panel], api_visibility="private").then(
            load_models_status,
            outputs=[status_line, status_panel],
            api_visibility="private",
            show_progress="hidden",
            concurrency_id="status",
            concurrency_limit=None,
        )
        app.load(examples_update, outputs=[examples, fetch_btn, fetch_note], api_visibility="private")
        app.load(data_update, outputs=[data_status, train_fetch_btn], api_visibility="private")
        app.load(estimate, inputs=[models, protocol, epochs], outputs=estimate_md, api_visibility="private")
        app.load(job_state, outputs=[train_log, job_line], api_visibility="private")
        app.load(show_latest_results, outputs=result_outputs, api_visibility="private")
    return app


def _allowed_paths() -> list[str]:
    """Example and misclassified clips are played from the data folder; nothing else outside the app."""
    return [str(settings.data_dir())]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = build()
    app.queue(default_concurrency_limit=CLASSIFY_CONCURRENCY, max_size=QUEUE_SIZE)
    threading.Thread(target=REGISTRY.warm_up, name="warm-up", daemon=True).start()
    app.launch(
        max_file_size=MAX_FILE_SIZE,
        allowed_paths=_allowed_paths(),
        theme=gr.themes.Soft(primary_hue="orange", secondary_hue="blue", font=["system-ui", "sans-serif"]),
        css_paths=[ASSETS / "style.css"],
        favicon_path=ASSETS / "logo.svg",
        footer_links=["api", "gradio"],
    )


if __name__ == "__main__":
    main()
