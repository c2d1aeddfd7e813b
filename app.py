"""Gradio app: which animal is that? HuBERT and YAMNet side by side on ESC-50's ten animals.

UI only: one builder per tab and its wiring; what a click does lives in `animal_audio.demo`. Models load
in a warm-up thread started before gradio's import; warm start (`demo/warm.py`) may train HuBERT's head."""

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

from animal_audio import access, settings
from animal_audio.compare_config import MODEL_NAMES
from animal_audio.demo import text
from animal_audio.demo.classify import (
    classify,
    clip_path,
    data_status_markdown,
    empty_figures,
    example_clips,
    fetch_for_visitor,
)
from animal_audio.errors import AnimalAudioError
from animal_audio.formatting import model_title
from animal_audio.public_text import unexpected, visible
from animal_audio.run_view import clip_in_row, try_run_view

log = logging.getLogger("app")

ASSETS = Path(__file__).resolve().parent / "assets"
TITLE = "Which animal is that? HuBERT vs YAMNet"
#: Uploads larger than this are refused by the server before any decoding (30 s of WAV is ~5 MB).
MAX_FILE_SIZE = "20mb"
#: 2 CPU cores: two clips at a time, each model's predictions serialised by the registry.
CLASSIFY_CONCURRENCY = 2
CLASSIFY_QUEUE = {"concurrency_id": "classify", "concurrency_limit": CLASSIFY_CONCURRENCY}
#: Open pages poll the training job, and show its end this long after (outside the queue: no worker is held).
POLL_SECONDS, WATCH_AFTER_FINISH_SECONDS = 2.0, 10.0
DELETE_UPLOADS = (3600, 3600)  # uploaded clips: deleted hourly once an hour old (gradio's cache)
PRIVATE = {"api_visibility": "private"}
LIMITER = access.RateLimiter(access.rate_limit())
#: Public mode offers sign-in for training where it is real: a Space with `hf_oauth: true` (access.py).
SIGN_IN = access.sign_in_wanted() and access.sign_in_works()


@dataclass(frozen=True)
class StatusViews:
    """The status line (Classify tab) and the Models panel: two views of the registry's state."""

    line: gr.Markdown
    panel: gr.Markdown
    timer: gr.Timer  # asks again while a model loads or HuBERT learns: no request waits for a load

    def show(self, *, retry: bool = False) -> dict[Any, Any]:
        """Each side's state without waiting for a load; `retry` forgets earlier failures and loads again."""
        if retry:
            REGISTRY.retry_failed()
        line, panel, changing = text.status_views(REGISTRY.status(load=retry))
        return {self.line: line, self.panel: panel, self.timer: gr.Timer(active=changing)}

    @property
    def views(self) -> list[Any]:
        return [self.line, self.panel, self.timer]


@dataclass(frozen=True)
class ExampleViews:
    """The Classify tab's example picker, or (until the clips are here) the button that fetches them."""

    picker: gr.Radio
    fetch_note: gr.Markdown
    fetch_btn: gr.Button

    def show(self) -> dict[Any, Any]:
        choices = [(e.title, e.path.name) for e in example_clips()]  # by name: no server folder in the page
        return {
            self.picker: gr.Radio(choices=choices, value=None, visible=bool(choices)),
            self.fetch_note: gr.Markdown(
                visible=not (choices or settings.public_mode())
            ),  # the operator's call
            self.fetch_btn: gr.Button(visible=not (choices or settings.public_mode())),
        }


def _classify_or_error(audio: Any, request: Optional[gr.Request], *, figures: bool = True) -> Any:
    try:
        LIMITER.check(access.client_address(request.headers, request.client) if request else "")
        return classify(audio, REGISTRY, figures=figures)
    except AnimalAudioError as error:
        raise gr.Error(visible(error), title=text.error_title(error), print_exception=False) from None
    except Exception as error:
        raise gr.Error(unexpected(error, text.CLASSIFY_FAILED, logger=log), print_exception=False) from None


def classify_api(audio: Any, request: gr.Request) -> dict[str, Any]:
    """API endpoint `classify`: audio file in, both models' probabilities, labels and latencies out."""
    return _classify_or_error(audio, request, figures=False).payload


def visitor(profile: Optional[gr.OAuthProfile], request: Any = None, require: bool = False) -> access.Access:
    """Who clicked, and whether they may train (and reload models) here: locally anybody, in public mode
    admins. `require`: refuse with the reason when they may not (checked on the server, whatever the page showed)."""
    session = (request.session_hash if request else None) or ""
    who = access.training_access(profile and profile.username, session, sign_in_available=SIGN_IN)
    if require and not who.allowed:
        raise gr.Error(who.reason, title="Not allowed", print_exception=False)
    return who


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

    def classify_clip(clip: Any, request: gr.Request) -> dict[Any, Any]:
        result = _classify_or_error(clip, request)
        for note in result.notes:
            gr.Warning(note, title="About your clip")
        shown = {verdict: result.summary, audioset: result.audioset, answer: result.payload}
        return {**shown, **{plots[name]: f for name, f in result.figures.items()}, **status.show()}

    # One way to classify the clip in `audio`, whatever started it (click, recording, upload, example).
    classify_event = dict(
        fn=classify_clip,
        inputs=audio,
        outputs=[verdict, *plots.values(), audioset, answer, *status.views],
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
    app.load(examples.show, outputs=[examples.picker, examples.fetch_note, examples.fetch_btn], **PRIVATE)
    return examples


def play_misclassified(table: Any, event: gr.SelectData) -> Any:
    """Clicking a row of the misclassified table plays that clip (when it is on this machine)."""
    filename = clip_in_row(table, event.index)
    path = clip_path(filename) if filename else None
    if filename and path is None:
        gr.Warning(f"{filename} is not on this machine: get the ESC-50 clips first.")
    return gr.Audio(value=str(path), label=filename) if path else gr.skip()


def train_tab(app: gr.Blocks, examples: ExampleViews) -> None:
    """Train and test the models on ESC-50, follow the one running job, and show a finished run."""
    with gr.Tab("🏋️ Train & compare", id="train"):
        gr.Markdown(text.TRAIN_INTRO)
        if SIGN_IN:
            gr.LoginButton()
        data_status = gr.Markdown()
        fetch_btn = gr.Button("Get the ESC-50 clips", visible=False)
        with gr.Row():
            with gr.Column(min_width=300):
                mode = gr.Radio(training.MODES, value=training.MODES[0], label="Mode")
                choices = [(model_title(m), m) for m in MODEL_NAMES]
                models = gr.CheckboxGroup(choices=choices, value=list(training.QUICK_MODELS), label="Models")
            with gr.Column(min_width=300):
                protocol = gr.Radio(
                    training.PROTOCOL_CHOICES, value="folds", label="Evaluation", info=text.PROTOCOL_INFO
                )
                epochs = gr.Slider(
                    *training.EPOCH_RANGE,
                    value=training.DEFAULT_EPOCHS,
                    step=1,
                    label="Epochs (fine-tuning only)",
                )
        estimate_md = gr.Markdown()
        with gr.Row():
            start_btn = gr.Button("Start training & comparison", variant="primary", elem_id="start-btn")
            cancel_btn = gr.Button("Cancel", variant="stop", elem_id="cancel-btn")
        access_md = gr.Markdown(elem_id="train-access")
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
        shown_end = gr.State(None)  # when the job shown ended: a later end shows its run
        confirmed_for = gr.State("")  # the settings a second click on Start confirms (a long run)
        watcher = gr.Timer(POLL_SECONDS)
    results = [run_md, table, accuracy_plot, confusion_model, confusion_plot, f1_plot, wrong_table, wrong_box]
    settings_in = [models, protocol, epochs]

    def show_results(run_dir: Optional[Path] = None) -> dict[Any, Any]:
        view, problem = try_run_view(run_dir)  # the given run, else the latest
        if problem:
            gr.Warning(problem, title="Could not show the last results")
        if view is None:  # nothing to show: only the line that says so
            return {**{c: gr.update(visible=False) for c in results[1:]}, run_md: text.NO_RUN_YET}
        first = view.models[0] if view.models else None
        wrong = not view.misclassified.empty
        return {
            run_md: view.summary,
            table: gr.Dataframe(value=view.table, visible=True),
            accuracy_plot: gr.Plot(value=view.figures["accuracy"], visible=True),
            confusion_model: gr.Dropdown(choices=view.model_choices, value=first, visible=bool(first)),
            confusion_plot: gr.Plot(value=view.figures["confusion"].get(first), visible=bool(first)),
            f1_plot: gr.Plot(value=view.figures["per_class_f1"], visible=True),
            wrong_table: gr.Dataframe(value=view.misclassified, visible=wrong),
            wrong_box: gr.Column(visible=wrong),
            shown_run: view,
        }

    def show_job(snap: training.JobSnapshot) -> dict[Any, str]:
        return {train_log: "\n".join(snap.log), job_md: text.job_line(snap)}

    def show_access(profile: gr.OAuthProfile | None) -> dict[Any, Any]:
        allowed = visitor(profile)
        buttons = {b: gr.Button(interactive=allowed.allowed) for b in (start_btn, cancel_btn)}
        return {**buttons, access_md: "" if allowed.allowed else f"🔒 {allowed.reason}"}

    def start(
        models: Any,
        protocol: Any,
        epochs: Any,
        confirmed: str,
        profile: gr.OAuthProfile | None,
        request: gr.Request,
    ) -> Any:
        """Start a comparison and return at once (checked on the server): every open page follows it on its timer."""
        try:
            form, who = (models, protocol, epochs), visitor(profile, request)
            done = training.start_run(JOB, form, confirmed, who, on_done=_use_trained_models)
        except AnimalAudioError as error:
            raise gr.Error(visible(error), title="Not started", print_exception=False) from None
        (gr.Info if done.started else gr.Warning)(done.message, title=done.title)
        return {**show_job(JOB.snapshot()), confirmed_for: done.confirm_key}

    def cancel(profile: gr.OAuthProfile | None, request: gr.Request) -> str:
        allowed = visitor(profile, request, require=True)  # an admin here: may stop anybody's run
        return text.cancel_line(JOB.cancel(by=allowed.who, admin=allowed.admin))

    def watch_job(shown: Optional[float], page: bool = False) -> Any:
        """Timer tick (and page load): every open page sees the job's log, and the latest results once it ends."""
        snap = JOB.snapshot()
        if page or (snap.finished and snap.finished != shown):
            return {**show_job(snap), **show_results(snap.run_dir), shown_end: snap.finished}
        return show_job(snap) if snap.recent(WATCH_AFTER_FINISH_SECONDS) else gr.skip()

    def fetch(progress: gr.Progress = gr.Progress()) -> dict[Any, Any]:  # noqa: B008
        try:
            fetch_for_visitor(lambda e: progress(e.fraction, desc=f"{e.stage}: {e.message}"[:80]))
        except AnimalAudioError as error:
            raise gr.Error(visible(error), title="No ESC-50 clips", print_exception=False) from None
        gr.Info("The ESC-50 animal clips are ready.")
        return {**examples.show(), **show_data()}

    def show_data() -> dict[Any, Any]:
        hidden = example_clips() or settings.public_mode()
        return {data_status: data_status_markdown(), fetch_btn: gr.Button(visible=not hidden)}

    fetched = [examples.picker, examples.fetch_note, examples.fetch_btn, data_status, fetch_btn]
    for button in (examples.fetch_btn, fetch_btn):
        button.click(fetch, outputs=fetched, concurrency_id="fetch", concurrency_limit=1, **PRIVATE)
    mode.input(lambda name: training.mode_models(name) or gr.skip(), inputs=mode, outputs=models, **PRIVATE)
    models.input(lambda _: training.MODES[2], inputs=models, outputs=mode, **PRIVATE)
    for control in (mode, models, protocol, epochs):
        control.change(training.estimate_markdown, inputs=settings_in, outputs=estimate_md, **PRIVATE)
    start_btn.click(
        start, inputs=[*settings_in, confirmed_for], outputs=[train_log, job_md, confirmed_for], **PRIVATE
    )
    watched = [train_log, job_md, *results, shown_run, shown_end]
    watcher.tick(watch_job, inputs=shown_end, outputs=watched, queue=False, show_progress="hidden", **PRIVATE)
    cancel_btn.click(cancel, outputs=job_md, queue=False, **PRIVATE)
    app.load(show_access, outputs=[start_btn, cancel_btn, access_md], **PRIVATE)
    redraw = lambda model, view: view.figures["confusion"].get(model) if view and model else gr.skip()  # noqa: E731
    confusion_model.change(redraw, inputs=[confusion_model, shown_run], outputs=confusion_plot, **PRIVATE)
    wrong_table.select(play_misclassified, inputs=wrong_table, outputs=wrong_audio, **PRIVATE)
    app.load(show_data, outputs=[data_status, fetch_btn], **PRIVATE)
    app.load(training.estimate_markdown, inputs=settings_in, outputs=estimate_md, **PRIVATE)
    app.load(lambda: watch_job(None, page=True), outputs=watched, **PRIVATE)


def models_tab(app: gr.Blocks, status: StatusViews) -> None:
    """Which weights each side uses, from where, and how to fix what is missing."""
    with gr.Tab("🩺 Models", id="status"):
        gr.Markdown(text.MODELS_INTRO)
        status.panel.render()
        retry_btn = gr.Button(
            "Retry loading (after fixing)", elem_id="retry-btn", visible=not settings.public_mode()
        )
        gr.Markdown(text.SETTINGS_HELP)

    def retry(profile: gr.OAuthProfile | None) -> dict[Any, Any]:
        """In public mode only admins: a reload can take long, and failures are remembered so nobody waits."""
        visitor(profile, require=True)
        return status.show(retry=True)

    retry_btn.click(retry, outputs=status.views, concurrency_id="status", concurrency_limit=1, **PRIVATE)
    app.load(status.show, outputs=status.views, **PRIVATE)
    status.timer.tick(status.show, outputs=status.views, queue=False, show_progress="hidden", **PRIVATE)


def build() -> gr.Blocks:
    """The whole UI. Builds components only: no model is loaded here."""
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=DELETE_UPLOADS) as app:
        gr.HTML(text.HEADER.format(logo=(ASSETS / "logo.svg").read_text(encoding="utf-8"), title=TITLE))
        line, panel = gr.Markdown(elem_id="status-line", render=False), gr.Markdown(render=False)
        status = StatusViews(line, panel, gr.Timer(POLL_SECONDS))
        with gr.Tabs():
            examples = classify_tab(app, status)
            train_tab(app, examples)
            models_tab(app, status)
    return app


def main() -> None:
    app = build()
    # No global cap on the queue: with one, a flood of any event would turn classifications away.
    app.queue(default_concurrency_limit=CLASSIFY_CONCURRENCY, max_size=None)
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
