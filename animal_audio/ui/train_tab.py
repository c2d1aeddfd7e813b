"""The Train & compare tab: start a comparison on ESC-50, follow the app's one job, and show the finished run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import gradio as gr

from animal_audio import settings
from animal_audio.compare_config import MODEL_NAMES
from animal_audio.demo import text, training
from animal_audio.errors import AnimalAudioError
from animal_audio.examples import clip_path, data_status_markdown, example_clips, fetch_for_visitor
from animal_audio.formatting import model_key
from animal_audio.i18n import DEFAULT, tr, translate_error
from animal_audio.public_text import visible
from animal_audio.robustness_lab import start_scoring
from animal_audio.run_view import clip_in_row, in_language, try_run_view
from animal_audio.ui.classify_tab import ExampleViews
from animal_audio.ui.common import POLL_SECONDS, PRIVATE, WATCH_AFTER_FINISH_SECONDS, AppState, visitor
from animal_audio.ui.i18n import lang_of, shown, t

#: The Mode and Evaluation choices' keys in the catalogue, in the order of training.MODES and PROTOCOL_CHOICES.
MODE_KEYS = ("mode_quick", "mode_full", "mode_custom")
PROTOCOL_KEYS = {"folds": "protocol_folds", "cv": "protocol_cv"}


def play_misclassified(table: Any, event: gr.SelectData, request: gr.Request) -> Any:
    """Clicking a row of the misclassified table plays that clip (when it is on this machine)."""
    filename = clip_in_row(table, event.index)
    path = clip_path(filename) if filename else None
    if filename and path is None:
        gr.Warning(tr("clip_not_here", lang_of(request), filename=filename))
    return gr.Audio(value=str(path), label=filename) if path else gr.skip()


def train_tab(app: gr.Blocks, state: AppState, examples: ExampleViews) -> None:
    """Train and test the models on ESC-50, follow the one running job, and show a finished run."""
    job = state.job
    with gr.Tab(t("tab_train"), id="train"):
        gr.Markdown(t("train_intro"))
        if state.sign_in:
            gr.LoginButton()
        data_status = gr.Markdown()
        fetch_btn = gr.Button(t("fetch_btn"), visible=False)
        with gr.Row():
            with gr.Column(min_width=300):
                modes = [(t(key), name) for key, name in zip(MODE_KEYS, training.MODES)]
                mode = gr.Radio(modes, value=training.MODES[0], label=t("mode"))
                choices = [(t(model_key(m)), m) for m in MODEL_NAMES]
                models = gr.CheckboxGroup(
                    choices=choices, value=list(training.QUICK_MODELS), label=t("models")
                )
            with gr.Column(min_width=300):
                protocols = [(t(PROTOCOL_KEYS[value]), value) for _, value in training.PROTOCOL_CHOICES]
                protocol = gr.Radio(protocols, value="folds", label=t("evaluation"), info=t("protocol_info"))
                epochs = gr.Slider(
                    *training.EPOCH_RANGE,
                    value=training.DEFAULT_EPOCHS,
                    step=1,
                    label=t("epochs"),
                )
        estimate_md = gr.Markdown()
        with gr.Row():
            start_btn = gr.Button(t("start_btn"), variant="primary", elem_id="start-btn")
            cancel_btn = gr.Button(t("cancel_btn"), variant="stop", elem_id="cancel-btn")
        access_md = gr.Markdown(elem_id="train-access")
        job_md = gr.Markdown()
        train_log = gr.Textbox(
            label=t("log"), lines=10, max_lines=10, autoscroll=True, interactive=False, elem_id="train-log"
        )
        gr.Markdown(t("results_heading"))
        run_md = gr.Markdown()
        table = gr.Dataframe(label=t("results_table"), interactive=False, wrap=True, elem_id="results-table")
        accuracy_plot = gr.Plot(show_label=False)
        with gr.Row():
            with gr.Column(min_width=300):
                confusion_model = gr.Dropdown(label=t("confusion_of"), choices=[])
                confusion_plot = gr.Plot(show_label=False)
            with gr.Column(min_width=300):
                f1_plot = gr.Plot(show_label=False)
        reliability_plot = gr.Plot(show_label=False, elem_id="reliability-plot")  # how sure vs how right
        with gr.Column(visible=False) as robustness_box:
            gr.Markdown(t("robustness_head"))
            robustness_plot = gr.Plot(show_label=False)
            robustness_table = gr.Dataframe(interactive=False, wrap=True, elem_id="robustness-table")
        with gr.Row(visible=False) as score_row:
            score_btn = gr.Button(t("score_btn"), elem_id="score-btn", scale=0, min_width=200)
            gr.Markdown(t("score_info"))
        with gr.Column(visible=False) as wrong_box:
            gr.Markdown(t("wrong_heading"))
            wrong_table = gr.Dataframe(interactive=False, wrap=True, max_height=360, elem_id="wrong-table")
            wrong_audio = gr.Audio(label=t("wrong_clip"), interactive=False)
        shown_run = gr.State(None)  # the RunView on screen: the confusion dropdown redraws from it
        shown_end = gr.State(None)  # when the job shown ended: a later end shows its run
        confirmed_for = gr.State("")  # the settings a second click on Start confirms (a long run)
        watcher = gr.Timer(POLL_SECONDS)
    results = [run_md, table, accuracy_plot, confusion_model, confusion_plot, f1_plot, reliability_plot]
    results += [wrong_table, wrong_box, robustness_box, robustness_plot, robustness_table, score_row]
    settings_in = [models, protocol, epochs]

    def show_results(run_dir: Optional[Path] = None, lang: str = DEFAULT) -> dict[Any, Any]:
        view, problem = try_run_view(run_dir, lang)  # the given run, else the latest
        if problem:
            gr.Warning(translate_error(problem, lang), title=tr("title_last_results", lang))
        if view is None:  # nothing to show: only the line that says so
            return {**{c: gr.update(visible=False) for c in results[1:]}, run_md: tr("no_run_yet", lang)}
        first = view.models[0] if view.models else None
        wrong = not view.misclassified.empty
        return {
            run_md: view.summary,
            table: gr.Dataframe(value=in_language(view.table, lang), visible=True),
            accuracy_plot: gr.Plot(value=view.figures["accuracy"], visible=True),
            confusion_model: gr.Dropdown(choices=view.model_choices, value=first, visible=bool(first)),
            confusion_plot: gr.Plot(value=view.figures["confusion"].get(first), visible=bool(first)),
            f1_plot: gr.Plot(value=view.figures["per_class_f1"], visible=True),
            reliability_plot: gr.Plot(
                value=view.figures.get("reliability"), visible="reliability" in view.figures
            ),
            wrong_table: gr.Dataframe(value=in_language(view.misclassified, lang), visible=wrong),
            wrong_box: gr.Column(visible=wrong),
            robustness_box: gr.Column(visible=view.robustness is not None),
            robustness_plot: view.figures.get("robustness"),
            robustness_table: view.robustness,
            score_row: gr.Row(visible=True),
            shown_run: view,
        }

    def show_job(snap: training.JobSnapshot, lang: str = DEFAULT) -> dict[Any, str]:
        return {train_log: "\n".join(snap.log), job_md: text.job_line(snap, lang)}

    def show_access(profile: gr.OAuthProfile | None, request: gr.Request) -> dict[Any, Any]:
        allowed = visitor(state, profile)
        buttons = {b: gr.Button(interactive=allowed.allowed) for b in (start_btn, cancel_btn, score_btn)}
        return {**buttons, access_md: "" if allowed.allowed else f"🔒 {shown(allowed.reason, request)}"}

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
            form, who = (models, protocol, epochs), visitor(state, profile, request)
            done = training.start_run(job, form, confirmed, who, on_done=state.on_trained)
        except AnimalAudioError as error:
            lang = lang_of(request)
            raise gr.Error(
                shown(visible(error), request), title=tr("title_not_started", lang), print_exception=False
            ) from None
        (gr.Info if done.started else gr.Warning)(
            shown(done.message, request), title=shown(done.title, request)
        )
        return {**show_job(job.snapshot(), lang_of(request)), confirmed_for: done.confirm_key}

    def score(view: Any, profile: gr.OAuthProfile | None, request: gr.Request) -> Any:
        """Score the run shown under the robustness transforms on the job (checked on the server: admins only)."""
        try:
            started, message = start_scoring(
                job, view.run_dir if view else None, visitor(state, profile, request)
            )
        except AnimalAudioError as error:
            title = tr("title_not_started", lang_of(request))
            raise gr.Error(shown(visible(error), request), title=title, print_exception=False) from None
        (gr.Info if started else gr.Warning)(shown(message, request), title=tr("score_btn", lang_of(request)))
        return show_job(job.snapshot(), lang_of(request))

    def cancel(profile: gr.OAuthProfile | None, request: gr.Request) -> str:
        allowed = visitor(state, profile, request, require=True)  # an admin here: may stop anybody's run
        return text.cancel_line(job.cancel(by=allowed.who, admin=allowed.admin), lang_of(request))

    def watch_job(shown_at: Optional[float], request: gr.Request, page: bool = False) -> Any:
        """Timer tick (and page load): every open page sees the job's log, and the latest results once it ends."""
        snap, lang = job.snapshot(), lang_of(request)
        if page or (snap.finished and snap.finished != shown_at):
            return {**show_job(snap, lang), **show_results(snap.run_dir, lang), shown_end: snap.finished}
        return show_job(snap, lang) if snap.recent(WATCH_AFTER_FINISH_SECONDS) else gr.skip()

    def watch_page(request: gr.Request) -> Any:
        return watch_job(None, request, page=True)

    def fetch(request: gr.Request, progress: gr.Progress = gr.Progress()) -> dict[Any, Any]:  # noqa: B008
        lang = lang_of(request)
        try:
            fetch_for_visitor(lambda e: progress(e.fraction, desc=f"{e.stage}: {e.message}"[:80]))
        except AnimalAudioError as error:
            raise gr.Error(
                shown(visible(error), request), title=tr("title_no_clips", lang), print_exception=False
            ) from None
        gr.Info(tr("clips_ready", lang))
        return {**examples.show(request), **show_data(request)}

    def show_data(request: gr.Request) -> dict[Any, Any]:
        hidden = example_clips() or settings.public_mode()
        return {
            data_status: data_status_markdown(lang=lang_of(request)),
            fetch_btn: gr.Button(visible=not hidden),
        }

    def estimate(models: Any, protocol: Any, epochs: Any, request: gr.Request) -> str:
        return shown(training.estimate_markdown(models, protocol, epochs), request)

    fetched = [*examples.views, data_status, fetch_btn]
    for button in (examples.fetch_btn, fetch_btn):
        button.click(fetch, outputs=fetched, concurrency_id="fetch", concurrency_limit=1, **PRIVATE)
    mode.input(lambda name: training.mode_models(name) or gr.skip(), inputs=mode, outputs=models, **PRIVATE)
    models.input(lambda _: training.MODES[2], inputs=models, outputs=mode, **PRIVATE)
    for control in (mode, models, protocol, epochs):
        control.change(estimate, inputs=settings_in, outputs=estimate_md, **PRIVATE)
    start_btn.click(
        start, inputs=[*settings_in, confirmed_for], outputs=[train_log, job_md, confirmed_for], **PRIVATE
    )
    watched = [train_log, job_md, *results, shown_run, shown_end]
    watcher.tick(watch_job, inputs=shown_end, outputs=watched, queue=False, show_progress="hidden", **PRIVATE)
    cancel_btn.click(cancel, outputs=job_md, queue=False, **PRIVATE)
    score_btn.click(score, inputs=shown_run, outputs=[train_log, job_md], **PRIVATE)
    app.load(show_access, outputs=[start_btn, cancel_btn, score_btn, access_md], **PRIVATE)
    redraw = lambda model, view: view.figures["confusion"].get(model) if view and model else gr.skip()  # noqa: E731
    confusion_model.change(redraw, inputs=[confusion_model, shown_run], outputs=confusion_plot, **PRIVATE)
    wrong_table.select(play_misclassified, inputs=wrong_table, outputs=wrong_audio, **PRIVATE)
    app.load(show_data, outputs=[data_status, fetch_btn], **PRIVATE)
    app.load(estimate, inputs=settings_in, outputs=estimate_md, **PRIVATE)
    app.load(watch_page, outputs=watched, **PRIVATE)
