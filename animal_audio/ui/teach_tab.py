"""The Teach tab: name classes, give each a few clips (recorded, uploaded or zipped), train a head per model,
classify a new sound with both. Each visitor's clips live in their own session (`teach.TeachSessions`),
deleted when their page goes; every handler checks its input on the server."""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any, Callable, Optional

import gradio as gr
from gradio.utils import get_upload_folder

from animal_audio import settings
from animal_audio.demo import teach as views
from animal_audio.demo.text import SIDES
from animal_audio.errors import AnimalAudioError
from animal_audio.i18n import tr, translate_error
from animal_audio.teach import MAX_NAME_CHARS, TeachError, TeachMessage, TeachSession, TeachSessions
from animal_audio.teach_train import classify_heads, export_heads, train_heads
from animal_audio.teach_zip import export_zip, import_zip
from animal_audio.ui.common import PRIVATE, AppState, limited, shown_errors
from animal_audio.ui.i18n import lang_of, t

#: Training and classifying embed clips with the app's models: one visitor at a time (2 CPU cores).
TEACH_QUEUE = {"concurrency_id": "teach", "concurrency_limit": 1}
ZIP_SUFFIX = ".zip"


def teach_tab(app: gr.Blocks, state: AppState) -> TeachSessions:
    """The tab, and the sessions it keeps (one per visitor, ended when their page unloads)."""
    sessions = TeachSessions()
    sessions.sweep_leftovers()
    atexit.register(sessions.end_all)
    with gr.Tab(t("tab_teach"), id="teach"):
        gr.Markdown(t("teach_intro"))
        if settings.public_mode():
            gr.Markdown(t("teach_public_note"))
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                gr.Markdown(t("teach_step_classes"))
                with gr.Row(equal_height=True):
                    name = gr.Textbox(
                        label=t("teach_class_name"),
                        placeholder=t("teach_class_placeholder"),
                        max_length=MAX_NAME_CHARS,
                        elem_id="teach-name",
                        scale=3,
                        min_width=160,
                    )
                    add_class = gr.Button(
                        t("teach_add_class_btn"), elem_id="teach-add-class", scale=1, min_width=100
                    )
                current = gr.Radio([], label=t("teach_current_class"), elem_id="teach-class")
                counters = gr.Markdown(t("teach_no_classes"), elem_id="teach-counters")
                gr.Markdown(t("teach_step_clips"))
                files = gr.File(
                    file_count="multiple",
                    file_types=["audio", ZIP_SUFFIX],
                    label=t("teach_upload"),
                    elem_id="teach-files",
                    height=140,
                )
                record = gr.Audio(
                    sources=["microphone"], type="filepath", label=t("teach_record"), elem_id="teach-record"
                )
                add_recording = gr.Button(t("teach_add_recording_btn"), elem_id="teach-add-recording")
                with gr.Accordion(t("teach_clip_pick"), open=False):
                    clip_pick = gr.Dropdown(
                        [], label=t("teach_clip_pick"), show_label=False, elem_id="teach-clips"
                    )
                    with gr.Row():
                        remove_clip = gr.Button(t("teach_remove_clip_btn"), size="sm")
                        remove_class = gr.Button(t("teach_remove_class_btn"), size="sm", variant="stop")
            with gr.Column(scale=3, min_width=300):
                gr.Markdown(t("teach_step_train"))
                train_btn = gr.Button(t("teach_train_btn"), variant="primary", elem_id="teach-train")
                trained = gr.Markdown(elem_id="teach-trained")
                with gr.Row(equal_height=True):
                    empty = views.confusion_figures(None)
                    confusion = {
                        side: gr.Plot(
                            empty[side], show_label=False, elem_id=f"teach-{side}-confusion", min_width=280
                        )
                        for side in SIDES
                    }
                gr.Markdown(t("teach_step_try"))
                test_audio = gr.Audio(
                    sources=["microphone", "upload"],
                    type="filepath",
                    label=t("teach_test_audio"),
                    elem_id="teach-test",
                )
                classify_btn = gr.Button(t("teach_classify_btn"), variant="primary", elem_id="teach-classify")
                verdict = gr.Markdown(elem_id="teach-verdict")
                with gr.Row(equal_height=True):
                    before = views.empty_answer_figures()
                    bars = {
                        side: gr.Plot(
                            before[side], show_label=False, elem_id=f"teach-{side}-plot", min_width=280
                        )
                        for side in SIDES
                    }
        with gr.Accordion(t("teach_downloads"), open=False, elem_id="teach-downloads"):
            with gr.Row():
                download_clips = gr.Button(t("teach_download_clips_btn"), elem_id="teach-download-clips")
                download_heads = gr.Button(t("teach_download_heads_btn"), elem_id="teach-download-heads")
            download = gr.File(
                label=t("teach_files"), interactive=False, visible=False, elem_id="teach-download"
            )

    def guarded(request: Optional[gr.Request], action: Callable[[TeachSession], Any]) -> Any:
        """`action` on the visitor's session; a TeachError as its message in their language, any other error as
        the app shows errors (no trace, no server path)."""
        lang = lang_of(request)
        session_id = (request.session_hash if request else None) or ""

        def run() -> Any:
            try:
                return action(sessions.get(session_id))
            except TeachError as error:
                raise gr.Error(
                    error.message.text(lang), title=tr("title_error", lang), print_exception=False
                ) from None

        return shown_errors(run, tr("teach_failed"), lang)

    def setup_views(session: TeachSession, lang: str, selected: Optional[str] = None) -> dict[Any, Any]:
        """The class picker, the counters and the clip list, after any change to the session."""
        names = list(session.classes)
        chosen = selected if selected in session.classes else (names[-1] if names else None)
        clips = session.classes.get(chosen, []) if chosen else []
        choices = [
            (tr("teach_clip_choice", lang, file=c.source_name, seconds=f"{c.seconds:.1f}"), c.id)
            for c in clips
        ]
        return {
            current: gr.Radio(choices=names, value=chosen),
            counters: views.counters_markdown(session, lang),
            clip_pick: gr.Dropdown(choices=choices, value=choices[-1][1] if choices else None),
        }

    setup = [current, counters, clip_pick]

    def on_add_class(text: Any, request: gr.Request) -> dict[Any, Any]:
        def act(session: TeachSession) -> dict[Any, Any]:
            added = session.add_class(text)
            return {**setup_views(session, lang_of(request), added), name: ""}

        return guarded(request, act)

    def on_pick(chosen: Any, request: gr.Request) -> dict[Any, Any]:
        return guarded(request, lambda session: setup_views(session, lang_of(request), chosen))

    def on_files(paths: Any, chosen: Any, request: gr.Request) -> dict[Any, Any]:
        lang = lang_of(request)

        def act(session: TeachSession) -> dict[Any, Any]:
            limited(state, request)
            listed = [str(p) for p in (paths if isinstance(paths, list) else [paths] if paths else [])]
            if not listed:
                raise TeachError("teach_err_no_files")
            notes: list[str] = []
            try:
                for path in listed:
                    notes += _add_file(session, Path(path), chosen, lang)
            finally:
                _discard_uploads(listed)
            for note in notes:
                gr.Warning(note)
            return {**setup_views(session, lang, chosen), files: None}

        return guarded(request, act)

    def on_recording(clip: Any, chosen: Any, request: gr.Request) -> dict[Any, Any]:
        lang = lang_of(request)

        def act(session: TeachSession) -> dict[Any, Any]:
            limited(state, request)
            if not clip:
                raise TeachError("teach_err_no_recording")
            if chosen not in session.classes:
                raise TeachError("teach_err_pick_class")
            try:
                _, notes = session.add_clip(chosen, clip, "recording.wav")
            finally:
                _discard_uploads([str(clip)])
            for note in notes:
                gr.Warning(translate_error(note, lang))
            return {**setup_views(session, lang, chosen), record: None}

        return guarded(request, act)

    def on_remove_clip(chosen: Any, clip_id: Any, request: gr.Request) -> dict[Any, Any]:
        def act(session: TeachSession) -> dict[Any, Any]:
            if chosen in session.classes and isinstance(clip_id, int):
                session.remove_clip(chosen, clip_id)
            return setup_views(session, lang_of(request), chosen)

        return guarded(request, act)

    def on_remove_class(chosen: Any, request: gr.Request) -> dict[Any, Any]:
        def act(session: TeachSession) -> dict[Any, Any]:
            if chosen in session.classes:
                session.remove_class(chosen)
            return setup_views(session, lang_of(request))

        return guarded(request, act)

    def on_train(request: gr.Request, progress: gr.Progress = gr.Progress()) -> dict[Any, Any]:  # noqa: B008
        lang = lang_of(request)

        def act(session: TeachSession) -> dict[Any, Any]:
            limited(state, request)
            result = train_heads(
                session,
                views.teach_models(state.registry),
                progress=lambda e: progress(e.fraction, desc=e.message[:80]),
            )
            drawn = views.confusion_figures(result, lang)
            empty = views.empty_answer_figures(lang, trained=True)
            return {
                trained: views.trained_markdown(result, lang),
                # a model that could not learn: no empty frames for it (the notes above say why)
                **{confusion[s]: gr.Plot(drawn[s], visible=s in result.heads) for s in SIDES},
                **{bars[s]: gr.Plot(empty[s], visible=s in result.heads) for s in SIDES},
                verdict: "",
            }

        return guarded(request, act)

    def on_classify(clip: Any, request: gr.Request) -> dict[Any, Any]:
        lang = lang_of(request)

        def act(session: TeachSession) -> dict[Any, Any]:
            limited(state, request)
            if session.heads is None:
                raise TeachError("teach_err_train_first")
            if not clip:
                raise AnimalAudioError(
                    "No audio yet: record a sound with the microphone or upload a file, then press Classify."
                )
            answers = classify_heads(session.heads, views.teach_models(state.registry), clip)
            text, figures = views.answer_views(answers, session.heads, lang)
            heads = session.heads.heads
            return {verdict: text, **{bars[s]: gr.Plot(figures[s], visible=s in heads) for s in SIDES}}

        return guarded(request, act)

    def on_download(what: Callable[[TeachSession], Path]) -> Callable[[gr.Request], Any]:
        def handler(request: gr.Request) -> Any:
            return guarded(request, lambda session: gr.File(value=str(what(session)), visible=True))

        return handler

    def in_language(request: gr.Request) -> dict[Any, Any]:
        """The charts' "train first" in the visitor's language, on page load."""
        lang = lang_of(request)
        matrices, answers = views.confusion_figures(None, lang), views.empty_answer_figures(lang)
        return {**{confusion[s]: matrices[s] for s in SIDES}, **{bars[s]: answers[s] for s in SIDES}}

    def on_unload(request: gr.Request) -> None:
        sessions.end((request.session_hash if request else None) or "")

    add_class.click(on_add_class, inputs=name, outputs=[*setup, name], **PRIVATE)
    name.submit(on_add_class, inputs=name, outputs=[*setup, name], **PRIVATE)
    current.input(on_pick, inputs=current, outputs=setup, **PRIVATE)
    files.upload(on_files, inputs=[files, current], outputs=[*setup, files], **PRIVATE)
    add_recording.click(on_recording, inputs=[record, current], outputs=[*setup, record], **PRIVATE)
    remove_clip.click(on_remove_clip, inputs=[current, clip_pick], outputs=setup, **PRIVATE)
    remove_class.click(on_remove_class, inputs=current, outputs=setup, **PRIVATE)
    trained_views = [trained, *confusion.values(), *bars.values(), verdict]
    train_btn.click(on_train, outputs=trained_views, **TEACH_QUEUE, **PRIVATE)
    answer_views = [verdict, *bars.values()]
    for trigger in (classify_btn.click, test_audio.upload, test_audio.stop_recording):
        trigger(on_classify, inputs=test_audio, outputs=answer_views, **TEACH_QUEUE, **PRIVATE)
    download_clips.click(on_download(export_zip), outputs=download, **PRIVATE)
    download_heads.click(on_download(export_heads), outputs=download, **PRIVATE)
    app.load(in_language, outputs=[*confusion.values(), *bars.values()], **PRIVATE)
    app.unload(on_unload)
    return sessions


def _add_file(session: TeachSession, path: Path, chosen: Any, lang: str) -> list[str]:
    """One uploaded file into the session: a zip into its class folders, a clip into the class picked; what
    the visitor should know (skipped members, clips that could not be used), in their language."""
    if path.suffix.lower() == ZIP_SUFFIX:
        report = import_zip(session, path)
        added = ", ".join(f"{name} +{count}" for name, count in report.added.items())
        notes = [TeachMessage("teach_imported", {"added": added}).text(lang)]
        notes += [note.text(lang) for note in report.notes]
        if report.skipped > len(report.notes):
            notes.append(tr("teach_skipped_more", lang, count=report.skipped - len(report.notes)))
        return notes
    if chosen not in session.classes:
        raise TeachError("teach_err_pick_class")
    try:
        _, notes = session.add_clip(chosen, path, path.name)
    except AnimalAudioError as error:
        if isinstance(error, TeachError):
            raise
        return [TeachMessage("teach_note_clip_skipped", {"name": path.name, "why": str(error)}).text(lang)]
    return [translate_error(note, lang) for note in notes]


def _discard_uploads(paths: list[str]) -> None:
    """Public mode: once a clip is in the visitor's session, gradio's copy of the upload goes at once (instead of
    within the hour), so the session folder holds the only copy. Only files inside gradio's upload folder."""
    if not settings.public_mode():
        return
    folder = Path(get_upload_folder()).resolve()
    for path in paths:
        try:
            resolved = Path(path).resolve()
            if resolved.is_file() and resolved.is_relative_to(folder):
                resolved.unlink()
        except OSError:
            continue
