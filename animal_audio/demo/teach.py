"""The Teach tab's logic without gradio: which of the app's loaded models can learn, and what the page shows
(per-class counters, training results, both heads' answers) in the visitor's language."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from animal_audio.demo.models import LOAD_WAIT_SECONDS, ZEROSHOT, Registry
from animal_audio.demo.text import HUBERT, SIDES, YAMNET
from animal_audio.errors import ModelUnavailableError
from animal_audio.formatting import percent
from animal_audio.i18n import DEFAULT, tr
from animal_audio.models.base import Prediction
from animal_audio.plots import clip as clip_plots
from animal_audio.plots.results import confusion_figure
from animal_audio.public_text import visible
from animal_audio.teach import MIN_CLIPS, TeachMessage, TeachSession
from animal_audio.teach_train import TITLES, Available, TeachModel, TeachResult

#: Squares of the per-class counter (one per clip needed).
FULL, EMPTY = "▰", "▱"
CONFUSION_HEIGHT_BASE, CONFUSION_HEIGHT_PER_CLASS = 220, 34


def teach_models(registry: Registry) -> dict[str, Available]:
    """The embedders the app already loaded, side by side (the registry owns them): YAMNet's network, and
    HuBERT's embedder where its head is a probe on one, or a fine-tuned HuBERT's projector outputs (the
    vectors its own head reads). A side without one says why."""
    out: dict[str, Available] = {}
    try:
        zeroshot = registry.get(ZEROSHOT, wait=LOAD_WAIT_SECONDS)
        out[YAMNET] = TeachModel(YAMNET, zeroshot.classifier.model, zeroshot.lock)  # type: ignore[attr-defined]
    except ModelUnavailableError as error:
        out[YAMNET] = TeachMessage("teach_note_no_model", {"model": TITLES[YAMNET], "why": visible(error)})
    try:
        hubert = registry.get(HUBERT, wait=LOAD_WAIT_SECONDS)
        embedder = getattr(hubert.classifier, "embedder", None)
        from animal_audio.clip_map_run import FinetunedEmbedder
        from animal_audio.models.hubert import HubertClassifier  # loaded already: no import cost now

        if embedder is None and isinstance(hubert.classifier, HubertClassifier):
            embedder = FinetunedEmbedder(hubert.classifier)
    except ModelUnavailableError:
        embedder = None
    if embedder is not None and hasattr(embedder, "fingerprint"):
        out[HUBERT] = TeachModel(HUBERT, embedder, hubert.lock)
    else:
        out[HUBERT] = TeachMessage("teach_note_no_hubert", {"model": TITLES[HUBERT]})
    return out


def counters_markdown(session: Optional[TeachSession], lang: str = DEFAULT) -> str:
    """One line per class: a bar of the clips it has towards MIN_CLIPS, and whether training can start."""
    if session is None or not session.classes:
        return tr("teach_no_classes", lang)
    lines = []
    for name, count in session.counts().items():
        bar = FULL * min(count, MIN_CLIPS) + EMPTY * max(0, MIN_CLIPS - count)
        mark = "✅" if count >= MIN_CLIPS else "⏳"
        fields = dict(mark=mark, name=name, bar=bar, count=count, least=MIN_CLIPS)
        lines.append("- " + tr("teach_counter", lang, **fields))
    total = tr("teach_counter_total", lang, total=session.total(), classes=len(session.classes))
    missing = session.missing()
    tail = tr("teach_ready", lang) if not missing else "⏳ " + missing[0].text(lang)
    return "\n".join([*lines, "", f"{total} · {tail}"])


def trained_markdown(result: TeachResult, lang: str = DEFAULT) -> str:
    """Each head's leave-one-out accuracy (and which model could not learn, and why)."""
    heads = list(result.heads.values())
    clips = len(heads[0].targets)
    lines = [tr("teach_trained_intro", lang, clips=clips, classes=len(result.labels))]
    for head in heads:
        correct = int(np.sum(head.targets == head.predicted))
        fields = dict(correct=correct, clips=clips, accuracy=percent(head.accuracy, digits=0))
        lines.append(
            "- "
            + tr("teach_trained_head", lang, model=head.title, seconds=f"{head.embed_seconds:.1f}", **fields)
        )
    lines += [f"- ⚠️ {note.text(lang)}" for note in result.notes]
    return "\n".join([lines[0], "", *lines[1:], "", tr("teach_loo_note", lang)])


def confusion_figures(result: Optional[TeachResult], lang: str = DEFAULT) -> dict[str, Any]:
    """side -> its head's leave-one-out confusion matrix, or a chart saying there is no head."""
    out = {}
    for side in SIDES:
        head = result.heads.get(side) if result else None
        if head is None:
            why = (
                tr("teach_before_train", lang)
                if result is None
                else tr("teach_no_head", lang, model=TITLES[side])
            )
            out[side] = clip_plots.message_figure(TITLES[side], why)
            continue
        metrics = {
            "models": {side: {"confusion": head.confusion().tolist()}},
            "labels": result.labels.as_dict(),
        }
        figure = confusion_figure(metrics, side, lang)
        height = CONFUSION_HEIGHT_BASE + CONFUSION_HEIGHT_PER_CLASS * len(result.labels)
        figure.update_layout(
            title=tr("teach_confusion_title", lang, model=head.title),
            width=None,
            height=height,
            autosize=True,
        )
        out[side] = figure
    return out


def empty_answer_figures(lang: str = DEFAULT, trained: bool = False) -> dict[str, Any]:
    why = tr("teach_before_clip" if trained else "teach_before_train", lang)
    return {side: clip_plots.message_figure(TITLES[side], why) for side in SIDES}


def answer_views(
    answers: dict[str, Any], result: TeachResult, lang: str = DEFAULT
) -> tuple[str, dict[str, Any]]:
    """(verdict Markdown, side -> bar chart) for both heads' answers: the Classify tab's charts over the
    session's classes; a side without an answer says why."""
    figures, lines, labels = {}, [], []
    for side in SIDES:
        answer = answers.get(side)
        if isinstance(answer, Prediction):
            ms = tr("ms", lang, ms=f"{answer.seconds * 1000:.0f}")
            title = tr("teach_chart_title", lang, model=TITLES[side], ms=ms)
            figures[side] = clip_plots.probability_figure(answer.probs, title, lang, labels=result.labels)
            label = result.labels.display(answer.label)
            labels.append(answer.label)
            confidence = percent(answer.confidence, digits=0)
            lines.append(
                "- " + tr("teach_verdict_line", lang, model=TITLES[side], label=label, confidence=confidence)
            )
        else:
            short = tr("teach_no_head", lang, model=TITLES[side])
            figures[side] = clip_plots.message_figure(
                TITLES[side], short
            )  # plotly does not wrap: the why below
            if isinstance(answer, TeachMessage) and not answer.key.startswith("teach_note_no_"):
                lines.append(f"- ⚠️ {answer.text(lang)}")  # e.g. the model was replaced since training
    head = (
        "teach_verdict_one"
        if len(labels) < 2
        else "teach_verdict_agree"
        if labels[0] == labels[1]
        else "teach_verdict_disagree"
    )
    return "\n".join([tr(head, lang), "", *lines]), figures
