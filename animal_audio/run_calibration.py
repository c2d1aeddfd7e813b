"""A run's temperatures as the Classify tab applies them: each model's answer scaled by the T fitted on its
validation fold (metrics.json), so the two models' bars compare like with like (how sure, not how loud)."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any, Optional

from animal_audio.calibration import with_temperature
from animal_audio.errors import AnimalAudioError
from animal_audio.labels import LabelSet
from animal_audio.models.base import Prediction

log = logging.getLogger(__name__)


def run_temperatures(run_dir: Optional[str | os.PathLike[str]]) -> dict[str, float]:
    """{model: T} of a finished run (in CV, its last split's: the models the app loads); {} for none."""
    from animal_audio.runs import METRICS_FILE

    if run_dir is None:
        return {}
    metrics = Path(run_dir) / METRICS_FILE
    stamp = metrics.stat().st_mtime_ns if metrics.is_file() else 0  # a rerun into the folder rewrites it
    return _temperatures(Path(run_dir), stamp)


@functools.lru_cache(maxsize=4)
def _temperatures(run_dir: Path, stamp: int) -> dict[str, float]:
    """Read once per run (and per rewrite of its metrics): every clip of the Classify tab needs them."""
    from animal_audio.runs import load_run

    try:
        metrics = load_run(run_dir).metrics
    except (AnimalAudioError, OSError, ValueError) as error:
        log.warning("%s: no temperatures (%s)", run_dir, error)
        return {}
    if not LabelSet.from_dict(metrics.get("labels")).is_animals:
        return {}  # fitted over other classes: not the app's ten animals' temperatures
    models = metrics.get("models", {})
    found = {name: entry.get("temperature") for name, entry in models.items() if isinstance(entry, dict)}
    return {name: float(t) for name, t in found.items() if isinstance(t, (int, float)) and t > 0}


def calibrated_fields(prediction: Prediction, temperature: Optional[float]) -> dict[str, Any]:
    """The /classify entry's "calibrated": the answer's probabilities after temperature scaling ({} without T)."""
    if temperature is None:
        return {}
    probs = with_temperature(prediction.probs, temperature)
    return {
        "calibrated": {
            "temperature": round(float(temperature), 4),
            "confidence": round(float(probs.max()), 6),
            "probabilities": {c: round(float(p), 6) for c, p in zip(prediction.labels.names, probs)},
        }
    }
