"""The robustness lab as the app offers it: a visitor's clip changed one way (robustness.py) at a few levels and
both models' answers on it (the Classify tab's lab, the API's `robustness`), and a run scored on the app's job.

What a visitor sends is checked here, on the server: the transform's name, how many levels, each level's range.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any, Optional

import numpy as np

from animal_audio.access import Access, max_run_seconds
from animal_audio.audio import SAMPLE_RATE, AudioSource, read_clip
from animal_audio.demo.classify import run_side
from animal_audio.demo.models import LOAD_WAIT_SECONDS, Registry
from animal_audio.demo.text import SIDE_TITLES, SIDES
from animal_audio.demo.training import JobBusyError, TrainingJob
from animal_audio.errors import AnimalAudioError, AudioError
from animal_audio.formatting import answer_title, model_title, percent
from animal_audio.i18n import DEFAULT, class_name, tr, translate_error
from animal_audio.labels import CLASSES
from animal_audio.public_text import visible
from animal_audio.robustness import TRANSFORMS, Transform, transform

log = logging.getLogger(__name__)

#: At most this many levels per call: each costs one pass of each model (HuBERT: ~1 s on a CPU).
MAX_LEVELS = 7
#: Longest transform name and level list (as text) read from a visitor.
MAX_NAME_CHARS = 40
MAX_LEVELS_CHARS = 200
#: The lab's one-level try of the phone line: a classic 8 kHz line (the sweep and the API take any rate).
PHONE_LINE_RATE = 8000.0
PROBABILITY_DIGITS = 6

NO_AUDIO = "No audio yet: record or upload a clip (or pick an example) above, then try the lab."
UNKNOWN_TRANSFORM = "Unknown transform: choose one of {names}."
NO_LEVELS = "Give at least one level (a number, or a list of up to {most} numbers)."
TOO_MANY_LEVELS = "At most {most} levels at a time: each is a pass of both models."
NOT_A_LEVEL = "Levels are numbers: {title} takes {low:g} to {high:g} {unit}."
SCORING_INTRO = "Scoring run {run} under noise, speed, pitch and a phone line (minutes on a CPU)."
SCORING_STARTED = (
    "Scoring the run's robustness: follow it in the log; the chart appears in Results when done."
)


@dataclass(frozen=True)
class LevelControl:
    """How the page asks for a transform's level: a slider (range, step, first value); its label and help
    are the catalogue's `lab_<kind>_label` and `lab_<kind>_info`."""

    minimum: float
    maximum: float
    step: float
    value: float


#: One slider per kind of level (a slider keeps its range on the server: one per kind, shown by the transform).
CONTROLS = {
    "noise": LevelControl(-10, 30, 1, 10),
    "speed": LevelControl(0.8, 1.25, 0.05, 1.1),
    "pitch": LevelControl(-4, 4, 0.5, 2),
}
#: Which slider each transform reads; the phone line has none (an 8 kHz line).
CONTROL_OF = {
    "white-noise": "noise",
    "pink-noise": "noise",
    "speed": "speed",
    "pitch": "pitch",
    "phone": None,
}


def transform_choices(lang: str = DEFAULT) -> list[tuple[str, str]]:
    """(title in `lang`, name) of each transform, for a picker."""
    return [(transform_title(name, lang), name) for name in TRANSFORMS]


def transform_title(name: str, lang: str = DEFAULT) -> str:
    """'White noise' ('Белый шум'): a transform as a person reads it."""
    return tr("transform_" + name.replace("-", "_"), lang)


def checked_transform(name: Any) -> Transform:
    """The transform a visitor named, or AnimalAudioError listing the names (never echoing what was sent)."""
    if isinstance(name, str) and len(name) <= MAX_NAME_CHARS and name.strip() in TRANSFORMS:
        return TRANSFORMS[name.strip()]
    raise AnimalAudioError(UNKNOWN_TRANSFORM.format(names=", ".join(TRANSFORMS)))


def checked_levels(spec: Transform, levels: Any) -> list[float]:
    """1 to MAX_LEVELS levels in the transform's range, from a number, a list, or text like "30, 10, -10";
    None or empty: the transform's sweep levels."""
    if levels is None or (isinstance(levels, (str, list, tuple)) and not levels):
        return list(spec.sweep_levels)
    if isinstance(levels, str):
        if len(levels) > MAX_LEVELS_CHARS:
            raise AnimalAudioError(TOO_MANY_LEVELS.format(most=MAX_LEVELS))
        levels = [part for part in levels.replace(";", ",").split(",") if part.strip()]
    elif not isinstance(levels, (list, tuple)):
        levels = [levels]
    if not levels:
        raise AnimalAudioError(NO_LEVELS.format(most=MAX_LEVELS))
    if len(levels) > MAX_LEVELS:
        raise AnimalAudioError(TOO_MANY_LEVELS.format(most=MAX_LEVELS))
    return [spec.check(_number(spec, level)) for level in levels]


def _number(spec: Transform, level: Any) -> float:
    wrong = AnimalAudioError(
        NOT_A_LEVEL.format(title=spec.title, low=spec.low, high=spec.high, unit=spec.unit)
    )
    if isinstance(level, bool) or not isinstance(level, (Real, str)) or len(str(level)) > MAX_NAME_CHARS:
        raise wrong
    try:
        return float(level)
    except ValueError:
        raise wrong from None


def level_text(spec: Transform, level: float, lang: str = DEFAULT) -> str:
    """'10 dB SNR', '1.1x', '+2 semitones', '8 kHz' (in `lang`)."""
    shown = (
        f"{level:+g}"
        if spec.name == "pitch"
        else f"{level / 1000:g}"
        if spec.name == "phone"
        else f"{level:g}"
    )
    return tr("level_" + spec.name.replace("-", "_"), lang, level=shown)


def slider_level(name: str, values: dict[str, float]) -> float:
    """The level the lab's sliders give transform `name` (`values`: slider kind -> value)."""
    kind = CONTROL_OF.get(name)
    return PHONE_LINE_RATE if kind is None else float(values[kind])


@dataclass
class LabAnswer:
    """Both models on one clip changed at several levels: `payload` is the API's answer."""

    payload: dict[str, Any]
    changed: list[np.ndarray]  # the clip at each level, what the models heard


def lab_answer(audio: AudioSource | None, registry: Registry, name: Any, levels: Any) -> LabAnswer:
    """Check the request, read the clip (the bounded decoding of classify), change it at each level and run
    both models on the clip and on each change. A model that cannot answer does not stop the other."""
    spec = checked_transform(name)
    levels = checked_levels(spec, levels)
    if audio is None or (isinstance(audio, str) and not audio.strip()):
        raise AudioError(NO_AUDIO)
    wave = read_clip(audio).waveform
    changed = [transform(wave, spec.name, level) for level in levels]
    original: dict[str, Any] = {}
    results: list[dict[str, Any]] = [{"level": level, "models": {}} for level in levels]
    for side in SIDES:
        entry, prediction = run_side(registry, side, wave)
        if prediction is None:
            original[side] = {k: entry[k] for k in ("available", "state", "error") if k in entry}
            continue
        top = CLASSES.index(prediction.label)
        original[side] = {
            "available": True,
            "model": prediction.model,
            "title": model_title(prediction.model),
            "label": prediction.label,
            "probability": round(float(prediction.probs[top]), PROBABILITY_DIGITS),
            "probabilities": entry["probabilities"],
        }
        for result, clip in zip(results, changed):
            result["models"][side] = _changed_entry(registry, side, clip, top)
    payload = {
        "transform": spec.name,
        "title": spec.title,
        "unit": spec.unit,
        "levels": levels,
        "original": original,
        "results": results,
    }
    return LabAnswer(payload, changed)


def _changed_entry(registry: Registry, side: str, clip: np.ndarray, top: int) -> dict[str, Any]:
    """One model on one changed clip: its label, probabilities, and its first answer's probability now."""
    try:
        prediction = registry.get(side, wait=LOAD_WAIT_SECONDS).predict(clip)
    except AnimalAudioError as error:  # unavailable now (a run switched it), or failed on this change
        return {"available": False, "error": visible(error)}
    probs = [round(float(p), PROBABILITY_DIGITS) for p in prediction.probs]
    return {
        "available": True,
        "label": prediction.label,
        "probabilities": dict(zip(CLASSES, probs)),
        "original_class_probability": probs[top],
    }


def sweep_result(payload: dict[str, Any], lang: str = DEFAULT) -> dict[str, Any]:
    """The lab's answer in robustness.sweep's form, for plots.robustness.sweep_figure (its words in `lang`)."""
    models = []
    for side, first in payload["original"].items():
        if not first.get("available"):
            continue
        entries = [r["models"].get(side, {}) for r in payload["results"]]
        models.append(
            {
                "model": first["model"],
                "class": class_name(first["label"], lang),
                "original": first["probability"],
                "probabilities": [e.get("original_class_probability") for e in entries],
                "labels": [e.get("label") for e in entries],
            }
        )
    return {
        "transform": transform_title(payload["transform"], lang),
        "unit": tr("unit_" + payload["transform"].replace("-", "_"), lang),
        "levels": payload["levels"],
        "models": models,
    }


@dataclass
class LabTry:
    """The lab's one-level try as the page shows it: summary, both bar charts, and what the models heard."""

    summary: str
    figures: dict[str, Any]
    audio: tuple[int, np.ndarray]  # (sample rate, int16 samples) for a player
    payload: dict[str, Any]


def lab_try(
    audio: AudioSource | None, registry: Registry, name: Any, level: Any, lang: str = DEFAULT
) -> LabTry:
    """Both models on the clip changed at one level, with the charts and the changed clip to listen to
    (their words in `lang`)."""
    from animal_audio.plots import clip as clip_plots

    answer = lab_answer(audio, registry, name, [level])
    payload = answer.payload
    spec = TRANSFORMS[payload["transform"]]
    result = payload["results"][0]
    level = level_text(spec, result["level"], lang)
    lines = [tr("lab_summary_head", lang, title=transform_title(spec.name, lang), level=level)]
    figures = {}
    for side in SIDES:
        first, now = payload["original"][side], result["models"].get(side, {})
        title = tr("lab_changed_title", lang, side=SIDE_TITLES[side])
        if not (first.get("available") and now.get("available")):
            state = now.get("error") or first.get("error") or first.get("state", "unavailable")
            state = translate_error(str(state), lang)
            lines.append(tr("lab_summary_missing", lang, side=SIDE_TITLES[side], state=state))
            figures[side] = clip_plots.message_figure(title, f"{SIDE_TITLES[side]}: {state}")
            continue
        probs = [now["probabilities"][c] for c in CLASSES]
        figures[side] = clip_plots.probability_figure(probs, title, lang)
        lines.append(
            tr(
                "lab_summary_line",
                lang,
                model=answer_title(first, lang),
                now=class_name(now["label"], lang),
                now_p=percent(max(probs), digits=0),
                was=class_name(first["label"], lang),
                was_p=percent(first["probability"], digits=0),
                kept_p=percent(now["original_class_probability"], digits=0),
            )
        )
    samples = np.clip(answer.changed[0] * 32767.0, -32768, 32767).astype(np.int16)
    return LabTry("\n".join(lines), figures, (SAMPLE_RATE, samples), payload)


def lab_sweep(
    audio: AudioSource | None, registry: Registry, name: Any, lang: str = DEFAULT
) -> tuple[dict[str, Any], Any]:
    """Both models over the transform's sweep levels: (the sweep, sweep_figure of it in `lang`)."""
    from animal_audio.plots.clip import FONT
    from animal_audio.plots.robustness import sweep_figure

    result = sweep_result(lab_answer(audio, registry, name, None).payload, lang)
    figure = sweep_figure(result, lang)
    # The page's look (white, small margins, a short title): a phone keeps the chart's width.
    figure.update_layout(
        title={"text": tr("lab_sweep_title", lang), "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        margin={"l": 8, "r": 16, "t": 44, "b": 8},
        plot_bgcolor="white",
        paper_bgcolor="white",
        font=FONT,
    )
    figure.update_yaxes(gridcolor="#eeeeee", automargin=True)
    figure.update_xaxes(automargin=True, showgrid=False)
    return result, figure


def start_scoring(job: TrainingJob, run_dir: Optional[Path], who: Access) -> tuple[bool, str]:
    """Score a finished run under every transform on the app's one job (admins only in public mode; never
    beside a training run). (started, what to tell the visitor); AnimalAudioError when it may not start."""
    from animal_audio.robustness_run import score_run
    from animal_audio.runs import load_run

    who.require()
    if run_dir is None:
        raise AnimalAudioError("No finished run to score yet: train and compare first.")
    run = Path(load_run(run_dir).run_dir)  # CheckpointError (with what to do) for a folder that is not a run

    def task(progress: Any, cancel: Any) -> Path:
        score_run(run, progress=progress, cancel=cancel)
        return run

    try:
        job.start(
            None,
            task=task,
            intro=SCORING_INTRO.format(run=run.name),
            owner=who.who,
            time_limit=max_run_seconds(),
        )
    except JobBusyError as error:
        return False, str(error)
    return True, SCORING_STARTED
