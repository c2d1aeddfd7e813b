"""Both models on one clip: the JSON answer (also the API's), its verdict and charts, and example clips.
A model that cannot load or fails does not stop the other: its entry says why and how to fix it."""

from __future__ import annotations

import logging
import textwrap
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

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
from animal_audio.ensemble import together_entry
from animal_audio.errors import AnimalAudioError, AudioError, ModelUnavailableError, NotTrainedError
from animal_audio.formatting import answer_title, first_sentence, model_title, percent
from animal_audio.i18n import DEFAULT, class_name, tr, translate_error
from animal_audio.labels import CLASSES, display
from animal_audio.models.base import Prediction
from animal_audio.models.yamnet import ZERO_SHOT_NAME
from animal_audio.open_set import verdict_line, yamnet_verdict
from animal_audio.plots import clip as clip_plots
from animal_audio.plots import timeline as timeline_plots
from animal_audio.public_text import redact, unexpected, visible
from animal_audio.run_calibration import calibrated_fields, run_temperatures
from animal_audio.run_maps import map_fields, side_map_figure

log = logging.getLogger(__name__)

TOP_AUDIOSET = 5
#: Below this top probability a model is close to guessing among 10 classes; the verdict says so.
UNSURE_BELOW = 0.3
#: Longest reason shown in the verdict line.
SHORT_REASON = 160
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
    runs = {side: run_side(registry, side, wave) for side in SIDES}
    entries = {side: entry for side, (entry, _) in runs.items()}
    audioset, zeroshot = _audioset_entry(registry, wave, entries[YAMNET], runs[YAMNET][1])
    entries[YAMNET].update(audioset)
    answers = {p.model: p for p in [*(p for _, p in runs.values()), zeroshot] if p is not None}
    labels = [e["label"] for e in entries.values() if e.get("available")]
    agree = (labels[0] == labels[1]) if len(labels) == 2 else None
    payload = {
        "labels": list(CLASSES),
        "models": entries,
        "agree": agree,
        "together": together_entry(registry.run_dir(), answers),  # the run's ensemble, if it has one
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


def run_side(registry: Registry, side: str, wave: np.ndarray) -> tuple[dict[str, Any], Any]:
    """(JSON entry, Prediction or None) for one side of the comparison; the robustness lab asks it too."""
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
    # Its run's temperature (zero-shot: the run in use's), so the bars of both sides compare like with like.
    run_dir = (
        model.trained.run_dir
        if model.trained
        else registry.run_dir()
        if model.name == ZERO_SHOT_NAME
        else None
    )
    entry.update(calibrated_fields(prediction, run_temperatures(run_dir).get(model.name)))
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
) -> tuple[dict[str, Any], Optional[Prediction]]:
    """YAMNet's own view: its top AudioSet classes and the share of score on non-animal classes; and the
    zero-shot answer it comes from (a member of the run's ensemble)."""
    try:
        prediction = yamnet_prediction
        if prediction is None or "top_audioset" not in prediction.extras:
            prediction = registry.get(ZEROSHOT, wait=LOAD_WAIT_SECONDS).predict(wave)
    except ModelUnavailableError:
        return {}, None
    except Exception:
        log.exception("YAMNet zero-shot failed")
        return {}, None
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
    return out, prediction


def side_figure(entry: dict[str, Any], side: str, lang: str = DEFAULT) -> Any:
    """The bar chart of one side, or a chart that says why there is none."""
    if entry.get("available"):
        shown = entry.get("calibrated") or entry  # its run's temperature: both sides' bars say how sure alike
        probs = [shown["probabilities"][c] for c in CLASSES]
        seconds = entry.get("seconds", 0.0)
        ms = tr("ms", lang, ms=f"{seconds * 1000:.0f}")
        scaled = ""
        if shown is not entry:
            scaled = "<br><sup>" + tr("chart_calibrated", lang, t=f"{shown['temperature']:.2f}") + "</sup>"
        title = f"{answer_title(entry, lang, SIDE_TITLES[side])} · {ms}{scaled}"
        return clip_plots.probability_figure(probs, title, lang=lang)
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
            sure = (entry.get("calibrated") or entry)["confidence"]  # as its bars show it
            unsure = tr("unsure", lang) if sure < UNSURE_BELOW else ""
            confidence, ms = percent(sure, digits=0), f"{entry['seconds'] * 1000:.0f}"
            label = class_name(entry["label"], lang)
            lines.append(
                tr(
                    "verdict_line",
                    lang,
                    title=answer_title(entry, lang),
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
    together = payload.get("together")
    if together:  # the run's ensemble: what its members say together
        members = " + ".join(model_title(m, lang) for m in together["members"])
        shown = together.get("calibrated") or together  # as sure as the sides' bars say, alike
        confidence = percent(shown["confidence"], digits=0)
        label = class_name(together["label"], lang)
        lines.append(tr("verdict_together", lang, members=members, label=label, confidence=confidence))
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
