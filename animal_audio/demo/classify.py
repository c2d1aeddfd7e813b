"""Both models on one clip: the JSON answer (also the API's), its verdict and charts, and example clips.
A model that cannot load or fails does not stop the other: its entry says why and how to fix it."""

# The example clips come from ESC-50's test fold, downloaded on demand: the app ships no third-party audio.

from __future__ import annotations

import logging
import textwrap
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from animal_audio import esc50, settings
from animal_audio.audio import AudioSource, read_clip
from animal_audio.demo.models import (
    LOAD_WAIT_SECONDS,
    ZEROSHOT,
    HubertLearningError,
    ModelLoadingError,
    Registry,
)
from animal_audio.demo.text import (
    FAILED,
    FETCH_CLOSED,
    LEARNING,
    LOADING,
    NOT_TRAINED,
    READY,
    SIDE_FAILED,
    SIDE_TITLES,
    SIDES,
    UNAVAILABLE,
    YAMNET,
    fix_text,
    state_text,
)
from animal_audio.errors import AnimalAudioError, AudioError, ModelUnavailableError, NotTrainedError
from animal_audio.formatting import first_sentence, model_title, percent
from animal_audio.i18n import DEFAULT, class_name, tr, translate_error
from animal_audio.labels import CLASSES, display
from animal_audio.open_set import verdict_line, yamnet_verdict
from animal_audio.plots import clip as clip_plots
from animal_audio.plots import timeline as timeline_plots
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel
from animal_audio.public_text import path_name, redact, unexpected, visible
from animal_audio.run_maps import map_fields, side_map_figure

log = logging.getLogger(__name__)

TOP_AUDIOSET = 5
#: Below this top probability a model is close to guessing among 10 classes; the verdict says so.
UNSURE_BELOW = 0.3
#: Longest reason shown in the verdict line.
SHORT_REASON = 160
#: ESC-50's fold 5 is the test fold of the comparison: examples the trained models never saw.
EXAMPLE_FOLD = 5
_FETCH_LOCK = threading.Lock()
NO_MAP = "No map for this model."
MAP_MESSAGE_HEIGHT, MAP_MESSAGE_WIDTH = 180, 48


@dataclass
class ClassifyResult:
    """Everything the Classify tab shows for one clip; `payload` is also the API answer."""

    payload: dict[str, Any]
    figures: dict[str, Any]
    summary: str
    audioset: str
    notes: tuple[str, ...]


def classify(
    audio: AudioSource | None, registry: Registry, *, figures: bool = True, lang: str = DEFAULT
) -> ClassifyResult:
    """Run both models on one clip; AudioError (with a message for the user) for bad audio. `figures=False` (the
    API) skips the charts; `lang`: the verdict's and charts' language (the JSON is the API's: English)."""
    if audio is None or (isinstance(audio, str) and not audio.strip()):
        raise AudioError(
            "No audio yet: record a sound with the microphone or upload a file, then press Classify."
        )
    clip = read_clip(audio)
    wave = clip.waveform
    runs = {side: _run_side(registry, side, wave) for side in SIDES}
    entries = {side: entry for side, (entry, _) in runs.items()}
    entries[YAMNET].update(_audioset_entry(registry, wave, entries[YAMNET], runs[YAMNET][1]))
    labels = [e["label"] for e in entries.values() if e.get("available")]
    agree = (labels[0] == labels[1]) if len(labels) == 2 else None
    payload = {
        "labels": list(CLASSES),
        "models": entries,
        "agree": agree,
        "clip": {
            "seconds": round(clip.seconds, 3),
            "source_seconds": round(clip.source_seconds, 3),
            "source_sample_rate": clip.source_rate,
            "source_channels": clip.source_channels,
            "trimmed": clip.trimmed,
            "notes": list(clip.notes),
        },
    }
    drawn = (
        {
            **{side: side_figure(entries[side], side, lang) for side in SIDES},
            "waveform": clip_plots.waveform_figure(wave, lang=lang),
            "spectrogram": clip_plots.spectrogram_figure(wave, lang=lang),
            **{f"map:{side}": _map_figure(registry, side, entries[side], lang) for side in SIDES},
            "timeline": timeline_plots.timeline_figure(
                wave, timeline_plots.timeline_rows(entries, SIDE_TITLES, lang), lang=lang
            ),
        }
        if figures
        else {}
    )
    return ClassifyResult(
        payload, drawn, summary_markdown(payload, lang), audioset_markdown(entries[YAMNET], lang), clip.notes
    )


def _run_side(registry: Registry, side: str, wave: np.ndarray) -> tuple[dict[str, Any], Any]:
    """(JSON entry, Prediction or None) for one side of the comparison."""
    try:
        model = registry.get(side, wait=LOAD_WAIT_SECONDS)
    except ModelLoadingError as error:
        return {"available": False, "state": LOADING, "error": visible(error), "fix": "Wait a moment."}, None
    except HubertLearningError as error:  # warm start trains its head: it takes over by itself
        return {
            "available": False,
            "state": LEARNING,
            "error": visible(error),
            "fix": "Wait a few minutes.",
        }, None
    except ModelUnavailableError as error:
        state = NOT_TRAINED if isinstance(error, NotTrainedError) else UNAVAILABLE
        return {"available": False, "state": state, "error": visible(error), "fix": fix_text(side)}, None
    started = time.perf_counter()
    try:
        prediction = model.predict(wave)
    except AnimalAudioError as error:
        log.warning("%s failed on a clip: %s", model.name, error)
        return {"available": False, "state": FAILED, "error": visible(error), "model": model.name}, None
    except Exception as error:  # a model bug must not hide the other model's answer
        message = unexpected(error, SIDE_FAILED, logger=log, model=SIDE_TITLES[side])
        return {"available": False, "state": FAILED, "error": message, "model": model.name}, None
    wall = time.perf_counter() - started
    entry = prediction.as_dict()
    entry.pop("extras", None)
    entry.update(
        {
            "available": True,
            "state": READY,
            "title": model_title(prediction.model),
            "display": display(prediction.label),
            "seconds": round(wall, 4),
            "model_seconds": round(float(prediction.seconds), 4),
            "source": redact(model.origin),  # the API answer: no server folders
            # When the model hears what: its probabilities per window, from the same forward pass.
            "timeline": prediction.timeline.as_dict() if prediction.timeline is not None else None,
        }
    )
    entry.update(map_fields(model, prediction, registry.maps))  # what the clip is close to: run_maps.py
    return entry, prediction


def _map_figure(registry: Registry, side: str, entry: dict[str, Any], lang: str = DEFAULT) -> Any:
    """The side's map of the run's ESC-50 clips with this clip as a star, or a chart that says why there is none."""
    title = entry.get("title", SIDE_TITLES[side])
    try:
        figure = side_map_figure(registry.get(side, wait=0), entry, title, registry.maps, lang)
    except AnimalAudioError:  # the side could not answer: its verdict already says why
        figure = None
    why = translate_error(entry.get("map_note") or entry.get("error") or NO_MAP, lang)
    wrapped = "<br>".join(textwrap.wrap(why, MAP_MESSAGE_WIDTH))  # plotly does not wrap an annotation
    return figure or clip_plots.message_figure(title, wrapped, height=MAP_MESSAGE_HEIGHT)


def _audioset_entry(
    registry: Registry, wave: np.ndarray, yamnet_entry: dict[str, Any], yamnet_prediction: Any
) -> dict[str, Any]:
    """YAMNet's own view: its top AudioSet classes and the share of score on non-animal classes."""
    try:
        prediction = yamnet_prediction
        if prediction is None or "top_audioset" not in prediction.extras:
            prediction = registry.get(ZEROSHOT, wait=LOAD_WAIT_SECONDS).predict(wave)
    except ModelUnavailableError:
        return {}
    except Exception:
        log.exception("YAMNet zero-shot failed")
        return {}
    extras = dict(prediction.extras)
    out: dict[str, Any] = {
        "top_audioset": [
            [str(n), round(float(s), 4)] for n, s in extras.get("top_audioset", [])[:TOP_AUDIOSET]
        ],
        "other_mass": round(float(extras.get("other_mass", 0.0)), 4),
    }
    if "best_mapped" in extras:  # "none of the ten?" from the same scores; keys shared with HuBERT's entry
        verdict = yamnet_verdict(extras)
        out.update({"none_of_the_ten": verdict.none_of_the_ten, "open_set": verdict.as_dict()})
    if yamnet_entry.get("model") != prediction.model:
        out["zeroshot"] = {"label": prediction.label, "probabilities": prediction.as_dict()["probabilities"]}
    return out


def side_figure(entry: dict[str, Any], side: str, lang: str = DEFAULT) -> Any:
    """The bar chart of one side, or a chart that says why there is none."""
    if entry.get("available"):
        probs = [entry["probabilities"][c] for c in CLASSES]
        seconds = entry.get("seconds", 0.0)
        ms = tr("ms", lang, ms=f"{seconds * 1000:.0f}")
        return clip_plots.probability_figure(
            probs, f"{entry.get('title', SIDE_TITLES[side])} · {ms}", lang=lang
        )
    state = entry.get("state", UNAVAILABLE)
    hints = {FAILED: "chart_hint_failed", LOADING: "chart_hint_loading", LEARNING: "chart_hint_learning"}
    hint = tr(hints.get(state, "chart_hint_other"), lang)
    return clip_plots.message_figure(
        SIDE_TITLES[side], f"{SIDE_TITLES[side]}: {state_text(state, lang)}<br>({hint})"
    )


def empty_figures(lang: str = DEFAULT) -> dict[str, Any]:
    """What the charts show before the first clip."""
    before = tr("before_first_clip", lang)
    return {side: clip_plots.message_figure(SIDE_TITLES[side], before) for side in SIDES}


def summary_markdown(payload: dict[str, Any], lang: str = DEFAULT) -> str:
    """The verdict line(s) above the charts."""
    lines = []
    for side in SIDES:
        entry = payload["models"][side]
        name = SIDE_TITLES[side]
        if entry.get("available"):
            unsure = tr("unsure", lang) if entry["confidence"] < UNSURE_BELOW else ""
            confidence, ms = percent(entry["confidence"], digits=0), f"{entry['seconds'] * 1000:.0f}"
            label = class_name(entry["label"], lang)
            lines.append(
                tr(
                    "verdict_line",
                    lang,
                    title=entry["title"],
                    label=label,
                    confidence=confidence,
                    unsure=unsure,
                    ms=ms,
                )
            )
        else:
            lines.append(f"**{name}**: {_unavailable_hint(entry, lang)}")
    agree = payload.get("agree")
    if agree is True:
        head = tr("verdict_agree", lang)
    elif agree is False:
        head = tr("verdict_disagree", lang)
    else:
        head = tr(
            "verdict_only_one"
            if any(payload["models"][s].get("available") for s in SIDES)
            else "verdict_none",
            lang,
        )
    # Any side's "not one of the ten" verdict, above the charts (the charts stay).
    flagged = [
        f"**⚠️ {verdict_line(SIDE_TITLES[s], payload['models'][s].get('open_set', {}), lang)}**"
        for s in SIDES
        if payload["models"][s].get("none_of_the_ten")
    ]
    clip = payload["clip"]
    tail = tr("clip_seconds", lang, seconds=f"{clip['seconds']:.1f}") + (
        tr("clip_cut_from", lang, seconds=f"{clip['source_seconds']:.1f}") if clip["trimmed"] else ""
    )
    return "\n\n".join([head, *flagged, *[f"- {line}" for line in lines], tail]).replace("\n\n- ", "\n- ")


def audioset_markdown(yamnet_entry: dict[str, Any], lang: str = DEFAULT) -> str:
    """What YAMNet itself hears, in AudioSet's 521 classes (before mapping to the 10 animals)."""
    top = yamnet_entry.get("top_audioset")
    if not top:
        return ""
    rows = "\n".join(f"| {name} | {score:.2f} |" for name, score in top)
    other = yamnet_entry.get("other_mass", 0.0)
    text = (
        f"{tr('audioset_heading', lang)}\n\n"
        f"{tr('audioset_columns', lang)}\n|---|---|\n{rows}\n\n"
        f"{tr('audioset_other', lang, share=percent(other, digits=0))}"
    )
    zeroshot = yamnet_entry.get("zeroshot")
    if zeroshot:
        text += tr("audioset_zeroshot", lang, label=class_name(zeroshot["label"], lang))
    return text


def _unavailable_hint(entry: dict[str, Any], lang: str = DEFAULT) -> str:
    """One short line for the verdict; the Models tab has the full story."""
    state = entry.get("state", UNAVAILABLE)
    if state == NOT_TRAINED:
        return tr("hint_not_trained", lang)
    if state in (FAILED, LOADING, LEARNING):
        return translate_error(str(entry.get("error", state)), lang)
    reason = first_sentence(translate_error(entry.get("error", ""), lang))
    if len(reason) > SHORT_REASON:
        reason = reason[: SHORT_REASON - 1].rstrip() + "…"
    return tr("hint_unavailable", lang, reason=reason)


@dataclass(frozen=True)
class Example:
    label: str
    path: Path

    @property
    def title(self) -> str:
        return display(self.label)


def example_clips(data_dir: Optional[Path] = None, fold: int = EXAMPLE_FOLD) -> list[Example]:
    """One clip per class from the test fold of the prepared ESC-50 data; [] when it is not there."""
    data_dir = settings.data_dir(data_dir)
    try:
        table = esc50.load_manifest(data_dir)
    except AnimalAudioError:
        return []
    except (OSError, ValueError) as error:
        log.warning("cannot read the prepared data in %s: %s", data_dir, error)
        return []
    found = []
    rows = table[table["fold"] == fold].sort_values("filename")
    for label in CLASSES:
        match = rows[rows["label"] == label]
        for row in match.itertuples(index=False):
            if Path(row.path).is_file():
                found.append(Example(label, Path(row.path)))
                break
    return found


def fetch_examples(
    progress: Optional[ProgressCallback] = None, cancel: Optional[CancelCheck] = None
) -> list[Example]:
    """Download ESC-50 (unless a local copy is configured) and prepare the animal clips into the data cache,
    one call at a time: the buttons and warm start would otherwise write the same download and folder."""
    # `cancel` (warm start's job) stops it between chunks or clips, and while it waits for its turn.
    if progress is not None:
        progress = _redacted(progress)
    while not _FETCH_LOCK.acquire(timeout=1.0):
        check_cancel(cancel, "the wait for the ESC-50 download")
    try:
        source = settings.esc50_dir()
        if not (source / esc50.META).is_file():
            source = esc50.download(source.parent, progress=progress, cancel=cancel)
        esc50.prepare(source, settings.data_dir(), progress=progress, cancel=cancel)
    finally:
        _FETCH_LOCK.release()
    return example_clips()


def _redacted(progress: ProgressCallback) -> ProgressCallback:
    """`progress` without server folders in its messages: they reach the page ("ESC-50 ready in FOLDER")."""
    return lambda event: progress(replace(event, message=redact(event.message)))


def fetch_for_visitor(progress: Optional[ProgressCallback] = None) -> list[Example]:
    """The app's Get-the-clips buttons: in public mode a visitor may not fill the disk (AccessError)."""
    from animal_audio.access import AccessError

    if settings.public_mode():
        raise AccessError(FETCH_CLOSED)
    return fetch_examples(progress)


def data_status_markdown(data_dir: Optional[Path] = None, lang: str = DEFAULT) -> str:
    """The Train tab's line about the data: how many clips, or what to press to get them."""
    data_dir = settings.data_dir(data_dir)
    try:
        table = esc50.load_manifest(data_dir)
    except AnimalAudioError:
        return tr("data_missing", lang, folder=path_name(data_dir))
    return tr("data_ready", lang, count=len(table), folder=path_name(data_dir))


def clip_path(filename: str, data_dir: Optional[Path] = None) -> Optional[Path]:
    """Where a prepared clip is, for playing a misclassified one; None if it is not on this machine."""
    if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
        return None
    path = settings.data_dir(data_dir) / "audio" / filename
    return path if path.is_file() else None
