"""Both models on one clip: the JSON answer (also the API's), with the Classify tab's texts and charts.

A model that cannot be loaded, is still loading or fails on the clip does not stop the
other: its entry says why and how to fix it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from animal_audio.audio import AudioSource, read_clip
from animal_audio.demo.answer_view import audioset_markdown, side_figure, summary_markdown
from animal_audio.demo.registry import ZEROSHOT, ModelLoadingError, Registry, default_registry
from animal_audio.demo.sides import FAILED, LOADING, READY, SIDE_TITLES, SIDES, YAMNET
from animal_audio.errors import AnimalAudioError, AudioError, ModelUnavailableError
from animal_audio.formatting import model_title
from animal_audio.labels import CLASSES, display
from animal_audio.plots import clip as clip_plots

log = logging.getLogger(__name__)

#: How long a request waits for a model another thread is loading before answering without it.
LOAD_WAIT_SECONDS = 20.0
TOP_AUDIOSET = 5


@dataclass
class ClassifyResult:
    """Everything the Classify tab shows for one clip; `payload` is also the API answer."""

    payload: dict[str, Any]
    figures: dict[str, Any]
    summary: str
    audioset: str
    notes: tuple[str, ...]


def classify(
    audio: AudioSource | None, registry: Optional[Registry] = None, *, figures: bool = True
) -> ClassifyResult:
    """Run both models on one clip. Raises AudioError (with a message for the user) for bad audio.

    `figures=False` (the API) skips drawing the charts.
    """
    if audio is None or (isinstance(audio, str) and not audio.strip()):
        raise AudioError(
            "No audio yet: record a sound with the microphone or upload a file, then press Classify."
        )
    registry = registry or default_registry()
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
            **{side: side_figure(entries[side], side) for side in SIDES},
            "waveform": clip_plots.waveform_figure(wave),
            "spectrogram": clip_plots.spectrogram_figure(wave),
        }
        if figures
        else {}
    )
    return ClassifyResult(
        payload, drawn, summary_markdown(payload), audioset_markdown(entries[YAMNET]), clip.notes
    )


def _run_side(registry: Registry, side: str, wave: np.ndarray) -> tuple[dict[str, Any], Any]:
    """(JSON entry, Prediction or None) for one side of the comparison."""
    try:
        model = registry.get(side, wait=LOAD_WAIT_SECONDS)
    except ModelLoadingError as error:
        return {"available": False, "state": LOADING, "error": str(error), "fix": "Wait a moment."}, None
    except ModelUnavailableError:
        status = registry.side_status(side)
        return {
            "available": False,
            "state": status.state,
            "error": status.description,
            "fix": status.fix,
        }, None
    started = time.perf_counter()
    try:
        prediction = model.predict(wave)
    except AnimalAudioError as error:
        return {"available": False, "state": FAILED, "error": str(error), "model": model.name}, None
    except Exception as error:  # a model bug must not hide the other model's answer
        log.exception("%s failed", model.name)
        return {
            "available": False,
            "state": FAILED,
            "error": f"{SIDE_TITLES[side]} failed on this clip ({type(error).__name__}). The other model's answer is still shown.",
            "model": model.name,
        }, None
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
            "source": model.origin,
        }
    )
    return entry, prediction


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
    if yamnet_entry.get("model") != prediction.model:
        out["zeroshot"] = {"label": prediction.label, "probabilities": prediction.as_dict()["probabilities"]}
    return out
