"""Gradio app: which animal is that? HuBERT and YAMNet side by side on ESC-50's ten animals.

UI only: one builder per tab and its wiring; what a click does lives in `animal_audio.demo`. Models
load in a warm-up thread started before gradio is imported, so they are ready about when the page is;
warm start (`demo/warm.py`) may then train HuBERT's head in the Train tab's job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from animal_audio.demo import training, warm
from animal_audio.demo.models import Registry

#: The app's shared state: its one training job, warm start (which may use it) and its models.
JOB = training.TrainingJob()
WARM = warm.WarmStart(JOB)
REGISTRY = Registry(trainer=WARM)


def _use_trained_models(run_dir: Path) -> None:
    """Runs in the training thread: switch the Classify tab to the new models and load them."""
    REGISTRY.use_run(run_dir)
    REGISTRY.warm_up()


if __name__ == "__main__":  # the models load while gradio imports and the page is built (README "Speed")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    WARM.launch(REGISTRY, on_done=_use_trained_models)

import gradio as gr

from animal_audio import settings
from animal_audio.compare_config import MODEL_NAMES
from animal_audio.demo import text
from animal_audio.demo.classify import (
    classify,
    clip_path,
    data_status_markdown,
    empty_figures,
    example_clips,
    fetch_examples,
)
from animal_audio.errors import AnimalAudioError, AudioError
from animal_audio.formatting import model_title
from animal_audio.public_text import unexpected, visible
from animal_audio.run_view import RunView, load_run_view

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
PROTOCOLS = [("Folds: train 1-3, validate 4, test 5", "folds"), ("5-fold cross-validation (5x longer)", "cv")]
MODES = ["Quick (linear heads, minutes)", "Full (also fine-tune HuBERT, hours on CPU)", "Custom"]
MODE_MODELS = {MODES[0]: training.QUICK_MODELS, MODES[1]: MODEL_NAMES}
PRIVATE = {"api_visibility": "private"}


@dataclass(frozen=True)
class StatusViews:
    """The status line (Classify tab) and the Models panel: two views of the registry's state."""

    line: gr.Markdown
    panel: gr.Markdown

    def show(self, *, load: bool = False, retry: bool = False) -> dict[Any, str]:
        """Each side's state; `load` loads what is not loaded yet, `retry` forgets earlier failures first."""
        if retry:
            REGISTRY.retry_failed()
        statuses = REGISTRY.status(load=load or retry)
        return {self.line: text.status_line(statuses), self.panel: text.status_markdown(statuses)}


@dataclass(frozen=True)
class ExampleViews:
    """The Classify tab's example picker, or (until the clips are here) the button that fetches them."""

    picker: gr.Radio
    fetch_note: gr.Markdown
    fetch_btn: gr.Button

    def show(self) -> dict[Any, Any]:
        choices = [(e.title, str(e.path)) for e in example_clips()]
        return {
            self.picker: gr.Radio(choices=choices, value=None, visible=bool(choices)),
            self.fetch_note: gr.Markdown(visible=not choices),
            self.fetch_btn: gr.Button(visible=not choices),
        }


def _classify_or_error(audio: Any, *, figures: bool = True) -> Any:
    try:
        return classify(audio, REGISTRY, figures=figures)
    except AnimalAudioError as error:
        title = "This audio cannot be used" if isinstance(error, AudioError) else "Error"
        raise gr.Error(visible(error), title=title, print_exception=False) from None
    except Exception as error:
        raise gr.Error(unexpected(error, text.CLASSIFY_FAILED, logger=log), print_exception=False) from None


def classify_api(audio: Any) -> dict[str, Any]:
    """API endpoint `classify`: audio file in, both models' probabilities, labels and latencies out."""
    return _classify_or_error(audio, figures=False).payload


def classify_tab(app: gr.Blocks, status: StatusViews) -> ExampleViews:
    """Record or upload a clip (or pick an example) and see both models' answers side by side."""
    with gr.Tab("🎧 Classify", id="classify"):
        gr.Markdown(text.INTRO)
        status.line.render()
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                sources = ["microphone", "upload"]
                audio = gr.Audio(sources=sources, type="filepath", label="Your sound", elem_id="audio-in")
                classify_btn = gr.Button("Classify 🔍", variant="primary", elem_id="classify-btn")
                gr.Markdown("**Or try a clip from the ESC-50 test fold:**")
                examples = ExampleViews(
                    gr.Radio([], label="Example clips", show_label=False, visible=False, elem_id="examples"),
                    gr.Markdown(text.FETCH_NOTE, visible=False),
                    gr.Button("Get the ESC-50 clips", visible=False),
                )
                gr.Markdown(text.ESC50_CREDIT, elem_classes="credit")
            with gr.Column(scale=5, min_width=300):
                verdict = gr.Markdown("### Record or upload a sound, then press Classify", elem_id="verdict")
                with gr.Row(equal_height=True):
                    empty = empty_figures()
                    plots = {
                        side: gr.Plot(empty[side], show_label=False, elem_id=f"{side}-plot", min_width=280)
                        for side in text.SIDES
                    }
                audioset = gr.Markdown(elem_id="audioset")
        with gr.Accordion("The clip: waveform and spectrogram", open=False), gr.Row():
            plots["waveform"] = gr.Plot(show_label=False, min_width=280)
            plots["spectrogram"] = gr.Plot(show_label=False, min_width=280)
        with gr.Accordion("What are these two models, and why can they disagree?", open=False):
            gr.Markdown(text.ABOUT_MODELS)
        with gr.Accordion("Raw answer (the same JSON the API returns)", open=False):
            answer = gr.JSON(show_label=False)
        api_btn = gr.Button(visible=False)  # carries the /classify API endpoint

    def classify_clip(clip: Any) -> dict[Any, Any]:
        result = _classify_or_error(clip)
        for note in result.notes:
            gr.Warning(note, title="About your clip")
        shown = {verdict: result.summary, audioset: result.audioset, answer: result.payload}
        return {**shown, **{plots[name]: f for name, f in result.figures.items()}, **status.show()}

    # One way to classify the clip in `audio`, whatever started it (click, recording, upload, example).
    classify_event = dict(
        fn=classify_clip,
        inputs=audio,
        outputs=[verdict, *plots.values(), audioset, answer, status.line, status.panel],
        concurrency_id="classify",
        concurrency_limit=CLASSIFY_CONCURRENCY,
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
        concurrency_id="classify",
        concurrency_limit=CLASSIFY_CONCURRENCY,
    )
    picked = examples.picker.input(lambda path: path, inputs=examples.picker, outputs=audio, **PRIVATE)
    picked.then(**classify_event)
    app.load(examples.show, outputs=[examples.picker, examples.fetch_note, examples.fetch_btn], **PRIVATE)
    return examples


def _run_view(run_dir: Optional[Path] = None) -> Optional[RunView]:
    try:
        return load_run_view(run_dir)
    except AnimalAudioError as error:
        gr.Warning(visible(error), title="Could not show the last results")
    except Exception:
        log.exception("could not load the run %s", run_dir)
    return None


def play_misclassified(table: Any, event: gr.SelectData) -> Any:
    """Clicking a row of the misclassified table plays that clip (when it is on this machine)."""
    try:
        filename = str(table.iloc[event.index[0]]["clip"])
    except (TypeError, IndexError, KeyError, AttributeError):
        return gr.skip()
    path = clip_path(filename)
    if path is None:
        gr.Warning(f"{filename} is not on this machine: get the ESC-50 clips first.")
        return None
    return gr.Audio(value=str(path), label=filename)


def redraw_confusion(model: Optional[str], view: Optional[RunView]) -> Any:
    """The confusion dropdown redraws from the run view kept in the page, without reading the run again."""
    return view.figures["confusion"].get(model) if view and model else gr.skip()


def train_tab(app: gr.Blocks, examples: ExampleViews) -> None:
    """Train and test the models on ESC-50, follow the one running job, and show a finished run."""
    with gr.Tab("🏋️ Train & compare", id="train"):
        gr.Markdown(text.TRAIN_INTRO)
        data_status = gr.Markdown()
        fetch_btn = gr.Button("Get the ESC-50 clips", visible=False)
        with gr.Row():
            with gr.Column(min_width=300):
                mode = gr.Radio(MODES, value=MODES[0], label="Mode")
                choices = [(model_title(m), m) for m in MODEL_NAMES]
                models = gr.CheckboxGroup(choices=choices, value=list(training.QUICK_MODELS), label="Models")
            with gr.Column(min_width=300):
                protocol = gr.Radio(PROTOCOLS, value="folds", label="Evaluation", info=text.PROTOCOL_INFO)
                epochs = gr.Slider(1, 30, value=DEFAULT_EPOCHS, step=1, label="Epochs (fine-tuning only)")
        estimate_md = gr.Markdown()
        with gr.Row():
            start_btn = gr.Button("Start training & comparison", variant="primary")
            cancel_btn = gr.Button("Cancel", variant="stop")
        job_md = gr.Markdown()
        train_log = gr.Textbox(
            label="Log", lines=10, max_lines=10, autoscroll=True, interactive=False, elem_id="train-log"
        )
        gr.Markdown("## Results")
        run_md = gr.Markdown()
        table = gr.Dataframe(
            label="Every model on the same test clips", interactive=False, wrap=True, elem_id="results-table"
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
            wrong_table = gr.Dataframe(interactive=False, wrap=True, max_height=360, elem_id="wrong-table")
            wrong_audio = gr.Audio(label="Misclassified clip", interactive=False)
        shown_run = gr.State(None)  # the RunView on screen: the confusion dropdown redraws from it
        confirmed_for = gr.State("")  # the settings a second click on Start confirms (a long run)
        watcher = gr.Timer(WATCH_EVERY_SECONDS)
    results = [run_md, table, accuracy_plot, confusion_model, confusion_plot, f1_plot, wrong_table, wrong_box]
    settings_in = [models, protocol, epochs]

    def show_results(view: Optional[RunView]) -> dict[Any, Any]:
        if view is None:  # nothing to show: only the line that says so
            return {**{c: gr.update(visible=False) for c in results[1:]}, run_md: text.NO_RUN_YET}
        first = view.models[0] if view.models else None
        wrong = not view.misclassified.empty
        named = [(model_title(m), m) for m in view.models]
        return {
            run_md: view.summary,
            table: gr.Dataframe(value=view.table, visible=True),
            accuracy_plot: gr.Plot(value=view.figures["accuracy"], visible=True),
            confusion_model: gr.Dropdown(choices=named, value=first, visible=bool(first)),
            confusion_plot: gr.Plot(value=view.figures["confusion"].get(first), visible=bool(first)),
            f1_plot: gr.Plot(value=view.figures["per_class_f1"], visible=True),
            wrong_table: gr.Dataframe(value=view.misclassified, visible=wrong),
            wrong_box: gr.Column(visible=wrong),
            shown_run: view,
        }

    def show_job(snap: training.JobSnapshot) -> dict[Any, str]:
        return {train_log: "\n".join(snap.log), job_md: text.job_line(snap)}

    def run_training(models: list[str], protocol: str, epochs: float, confirmed: str, progress=gr.Progress()):  # noqa: B008
        """Start a comparison (or follow the one already running) and stream its log until it ends."""
        if not models:
            raise gr.Error("Choose at least one model to train and compare.", print_exception=False)
        try:
            config = training.make_config(models, protocol, int(epochs))
            check = training.check_start(config, confirmed, busy=JOB.running)
            if not check.start:
                gr.Warning(check.warning, title="A long run", duration=None)
                yield {confirmed_for: check.confirm_key}
                return
            JOB.start(config, on_done=_use_trained_models)
            gr.Info(training.estimate_text(config).replace("**", ""), title="Training started")
        except training.JobBusyError as error:
            gr.Warning(visible(error), title="Busy")
        except AnimalAudioError as error:
            raise gr.Error(visible(error), print_exception=False) from None
        for snap in JOB.follow(LOG_REFRESH_SECONDS):
            progress(snap.fraction, desc=snap.stage or "starting")
            if snap.running:
                yield {**show_job(snap), confirmed_for: ""}
        if snap.error:
            gr.Warning(snap.error, title="Stopped" if snap.cancelled else "The comparison failed")
        view = _run_view(snap.run_dir) if snap.run_dir else None
        yield {**show_job(snap), **(show_results(view) if view else {}), confirmed_for: ""}

    def watch_job() -> Any:
        """Timer tick: every open page sees a running comparison's log, whoever started it."""
        snap = JOB.snapshot()
        return show_job(snap) if snap.recent(WATCH_AFTER_FINISH_SECONDS) else gr.skip()

    def fetch(progress: gr.Progress = gr.Progress()) -> dict[Any, Any]:  # noqa: B008
        try:
            fetch_examples(lambda e: progress(e.fraction, desc=f"{e.stage}: {e.message}"[:80]))
        except AnimalAudioError as error:
            raise gr.Error(
                visible(error), title="Could not get the ESC-50 clips", print_exception=False
            ) from None
        gr.Info("The ESC-50 animal clips are ready.")
        return {**examples.show(), **show_data()}

    def show_data() -> dict[Any, Any]:
        return {data_status: data_status_markdown(), fetch_btn: gr.Button(visible=not example_clips())}

    def pick_mode(mode_name: str) -> Any:
        chosen = MODE_MODELS.get(mode_name)
        return gr.CheckboxGroup(value=list(chosen)) if chosen else gr.skip()

    fetched = [examples.picker, examples.fetch_note, examples.fetch_btn, data_status, fetch_btn]
    for button in (examples.fetch_btn, fetch_btn):
        button.click(fetch, outputs=fetched, concurrency_id="fetch", concurrency_limit=1, **PRIVATE)
    mode.input(pick_mode, inputs=mode, outputs=models, **PRIVATE)
    models.input(lambda _: MODES[2], inputs=models, outputs=mode, **PRIVATE)
    for control in (mode, models, protocol, epochs):
        control.change(training.estimate_markdown, inputs=settings_in, outputs=estimate_md, **PRIVATE)
    start_btn.click(
        run_training,
        inputs=[*settings_in, confirmed_for],
        outputs=[train_log, job_md, *results, shown_run, confirmed_for],
        show_progress_on=[job_md],  # the log stays readable while the bar moves
        concurrency_id="train-watch",
        concurrency_limit=TRAIN_WATCHERS,
        **PRIVATE,
    )
    watcher.tick(watch_job, outputs=[train_log, job_md], queue=False, show_progress="hidden", **PRIVATE)
    cancel_btn.click(lambda: text.cancel_line(JOB.cancel()), outputs=job_md, queue=False, **PRIVATE)
    confusion_model.change(
        redraw_confusion, inputs=[confusion_model, shown_run], outputs=confusion_plot, **PRIVATE
    )
    wrong_table.select(play_misclassified, inputs=wrong_table, outputs=wrong_audio, **PRIVATE)
    app.load(show_data, outputs=[data_status, fetch_btn], **PRIVATE)
    app.load(training.estimate_markdown, inputs=settings_in, outputs=estimate_md, **PRIVATE)
    app.load(lambda: show_job(JOB.snapshot()), outputs=[train_log, job_md], **PRIVATE)
    app.load(lambda: show_results(_run_view()), outputs=[*results, shown_run], **PRIVATE)


def models_tab(app: gr.Blocks, status: StatusViews) -> None:
    """Which weights each side uses, from where, and how to fix what is missing."""
    with gr.Tab("🩺 Models", id="status"):
        gr.Markdown(text.MODELS_INTRO)
        status.panel.render()
        with gr.Row():
            check_btn = gr.Button("Load the models now")
            retry_btn = gr.Button("Retry loading (after fixing)")
        gr.Markdown(text.SETTINGS_HELP)
    views = [status.line, status.panel]
    check_btn.click(lambda: status.show(load=True), outputs=views, **PRIVATE)
    retry_btn.click(lambda: status.show(retry=True), outputs=views, **PRIVATE)
    shown = app.load(status.show, outputs=views, **PRIVATE)  # at once, then again once the models load
    loading = dict(show_progress="hidden", concurrency_id="status", concurrency_limit=None)
    shown.then(lambda: status.show(load=True), outputs=views, **loading, **PRIVATE)


def build() -> gr.Blocks:
    """The whole UI. Builds components only: no model is loaded here."""
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.HTML(text.HEADER.format(logo=(ASSETS / "logo.svg").read_text(encoding="utf-8"), title=TITLE))
        status = StatusViews(gr.Markdown(elem_id="status-line", render=False), gr.Markdown(render=False))
        with gr.Tabs():
            examples = classify_tab(app, status)
            train_tab(app, examples)
            models_tab(app, status)
    return app


def main() -> None:
    app = build()
    app.queue(default_concurrency_limit=CLASSIFY_CONCURRENCY, max_size=QUEUE_SIZE)
    app.launch(
        max_file_size=MAX_FILE_SIZE,
        allowed_paths=[str(settings.data_dir())],  # example and misclassified clips; nothing else outside
        theme=gr.themes.Soft(primary_hue="orange", secondary_hue="blue", font=["system-ui", "sans-serif"]),
        css_paths=[ASSETS / "style.css"],
        favicon_path=ASSETS / "logo.svg",
        footer_links=["api", "gradio"],
    )


if __name__ == "__main__":
    main()
