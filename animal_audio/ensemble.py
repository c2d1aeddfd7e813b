"""Several models' answers as one: a weighted mean of their log-probabilities, weights chosen on validation.

Measured on the 400 clips: YAMNet zero-shot and the YAMNet probe err on different clips, and their equal-weight
log-probability mean beats either by six points. The weights are chosen from a grid on the validation fold's
predictions (ties go to the weights nearest equal, the reference), and stored beside the run's models so the
app gives the same answer (`ensemble_prediction`).
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from animal_audio.errors import CheckpointError, NotTrainedError
from animal_audio.fileio import read_json, write_json
from animal_audio.labels import ANIMALS, LabelSet
from animal_audio.models.base import Prediction, softmax

log = logging.getLogger(__name__)

NAME = "ensemble"
FORMAT = "animal-audio/ensemble"
FORMAT_VERSION = 1
WEIGHTS_FILE = "ensemble.json"
METHOD = "weighted mean of the models' log-probabilities (weights sum to 1), then renormalised"
#: Probabilities are clipped here before the log: one model's 0 must not veto the others.
EPSILON = 1e-6
#: Grid steps per model: weights are multiples of 1 / (STEPS_PER_MODEL * models), so equal weights are on it.
STEPS_PER_MODEL = 2


@dataclass(frozen=True)
class EnsembleWeights:
    """Which models, with what weight; `info`: how they were chosen (validation accuracy, candidates)."""

    weights: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    labels: LabelSet = ANIMALS

    @property
    def members(self) -> list[str]:
        return list(self.weights)

    def combine(self, probs: Mapping[str, np.ndarray]) -> np.ndarray:
        """[n, classes] (or [classes]) probabilities of the ensemble from each member's, in label order."""
        missing = [m for m in self.members if m not in probs]
        if missing:
            raise ValueError(f"the ensemble needs the probabilities of {', '.join(missing)}")
        return combine(probs, self.weights)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_json(
            directory / WEIGHTS_FILE,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "labels": list(self.labels.names),
                "method": METHOD,
                "epsilon": EPSILON,
                "weights": self.weights,
                "info": self.info,
            },
        )
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> EnsembleWeights:
        """NotTrainedError if no ensemble was saved here; CheckpointError if the file is not one."""
        path = Path(directory) / WEIGHTS_FILE
        if not path.is_file():
            raise NotTrainedError(f"No ensemble in {directory}: run the comparison with `ensemble` chosen.")
        data = read_json(path)
        weights = data.get("weights") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or data.get("format") != FORMAT
            or data.get("format_version") != FORMAT_VERSION
            or not isinstance(data.get("labels"), list)
            or not isinstance(weights, dict)
            or not weights
            or not all(isinstance(w, (int, float)) and w >= 0 for w in weights.values())
        ):
            raise CheckpointError(
                f"{path} is not an ensemble file of this program. Run the comparison again."
            )
        try:
            labels = LabelSet.from_dict({"names": data["labels"]})
        except (TypeError, ValueError) as error:
            raise CheckpointError(
                f"{path} names no valid labels ({error}). Run the comparison again."
            ) from error
        return cls({str(k): float(v) for k, v in weights.items()}, dict(data.get("info") or {}), labels)


def combine(probs: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """softmax(sum_m w_m log p_m): the weighted geometric mean of the members' probabilities, renormalised."""
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("ensemble weights must not all be zero")
    logits = sum(
        (w / total) * np.log(np.clip(np.asarray(probs[m], dtype=np.float64), EPSILON, 1.0))
        for m, w in weights.items()
        if w > 0
    )
    return softmax(np.asarray(logits), axis=-1)


def weight_grid(members: Sequence[str]) -> list[dict[str, float]]:
    """Every weighting of `members` in steps of 1 / (STEPS_PER_MODEL * len), weights summing to 1."""
    steps = STEPS_PER_MODEL * len(members)
    grid = []
    for cut in itertools.combinations(range(steps + len(members) - 1), len(members) - 1):
        edges = (-1, *cut, steps + len(members) - 1)
        counts = [edges[i + 1] - edges[i] - 1 for i in range(len(members))]
        grid.append({m: c / steps for m, c in zip(members, counts)})
    return grid


def fit_weights(
    validation_probs: Mapping[str, np.ndarray], targets: np.ndarray, labels: LabelSet = ANIMALS
) -> EnsembleWeights:
    """The grid's weights with the best validation accuracy; ties to those nearest equal weights.

    `validation_probs`: each member's [n, classes] probabilities on the validation clips; nothing else is
    read."""
    members = list(validation_probs)
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two models")
    targets = np.asarray(targets)
    equal = np.full(len(members), 1.0 / len(members))
    best: Optional[tuple[float, float]] = None
    chosen: dict[str, float] = {}
    candidates = []
    for weights in weight_grid(members):
        accuracy = float(np.mean(combine(validation_probs, weights).argmax(axis=1) == targets))
        distance = float(np.abs(np.array(list(weights.values())) - equal).sum())
        candidates.append({"weights": weights, "accuracy": round(accuracy, 4)})
        if best is None or (accuracy, -distance) > best:
            best, chosen = (accuracy, -distance), weights
    accuracy = best[0] if best is not None else 0.0
    log.info("ensemble weights chosen on validation: %s (accuracy %.3f)", chosen, accuracy)
    info = {
        "chosen_on": "validation fold (each member's predictions there)",
        "method": METHOD,
        "validation_accuracy": round(accuracy, 4),
        "validation_clips": int(len(targets)),
        "candidates": candidates,
    }
    return EnsembleWeights(chosen, info, labels)


def ensemble_prediction(predictions: Mapping[str, Prediction], weights: EnsembleWeights) -> Prediction:
    """What the chosen models say together (the Classify tab's third line), with a run's stored weights.

    `predictions`: each member's Prediction on the same clip, by model name (e.g. "yamnet-zeroshot")."""
    probs = weights.combine({m: np.asarray(predictions[m].probs) for m in weights.members})
    seconds = sum(float(predictions[m].seconds) for m in weights.members)
    extras = {"weights": dict(weights.weights), "method": METHOD}
    return Prediction(NAME, probs.reshape(-1), seconds, extras, labels=weights.labels)


class EnsembleClassifier:
    """The ensemble as a Classifier: each member predicts the clip, the stored weights combine them."""

    name = NAME

    def __init__(self, members: Mapping[str, Any], weights: EnsembleWeights) -> None:
        missing = [m for m in weights.members if m not in members]
        if missing:
            raise NotTrainedError(f"The ensemble needs {', '.join(missing)}, which is not loaded.")
        self.members = {m: members[m] for m in weights.members}
        self.weights = weights

    def predict(self, waveform: np.ndarray) -> Prediction:
        return ensemble_prediction({m: c.predict(waveform) for m, c in self.members.items()}, self.weights)

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        answers = {m: c.predict_batch(waveforms) for m, c in self.members.items()}
        return [
            ensemble_prediction({m: answers[m][i] for m in self.members}, self.weights)
            for i in range(len(waveforms))
        ]

    def describe(self) -> str:
        shown = ", ".join(f"{m} {w:.2f}" for m, w in self.weights.weights.items())
        return f"ensemble: {METHOD}; weights {shown}"


def run_ensemble_weights(run_dir: str | os.PathLike[str]) -> Optional[EnsembleWeights]:
    """The weights of a finished run's ensemble (in CV, its last split's: the models the app loads), or None
    when the run has none or its file is unreadable (the app then shows no third line)."""
    from animal_audio.runs import trained_model

    trained = trained_model(run_dir, NAME)
    if trained is None:
        return None
    try:
        return EnsembleWeights.load(trained.directory)
    except (NotTrainedError, CheckpointError) as error:
        log.warning("%s: no usable ensemble (%s)", run_dir, error)
        return None


def together_entry(
    run_dir: Optional[str | os.PathLike[str]], predictions: Mapping[str, Prediction]
) -> Optional[dict[str, Any]]:
    """The /classify answer's "together" (the Classify tab's third line): the run's ensemble applied to this
    clip's predictions, by model name, with its run's temperature like the sides; None without an ensemble."""
    from animal_audio.run_calibration import calibrated_fields, run_temperatures
    from animal_audio.runs import METRICS_FILE

    if run_dir is None:
        return None
    metrics = Path(run_dir) / METRICS_FILE
    stamp = metrics.stat().st_mtime_ns if metrics.is_file() else 0  # a rerun into the folder rewrites it
    weights = _stored_weights(Path(run_dir), stamp)
    answer = together(predictions, weights)
    if answer is None or weights is None:
        return None
    entry = {k: v for k, v in answer.as_dict().items() if k != "extras"}
    entry.update(calibrated_fields(answer, run_temperatures(run_dir).get(NAME)))
    return {**entry, "members": weights.members, "weights": dict(weights.weights)}


@functools.lru_cache(maxsize=4)
def _stored_weights(run_dir: Path, stamp: int) -> Optional[EnsembleWeights]:
    """Read once per run (and per rewrite of its metrics): every clip of the Classify tab needs them."""
    return run_ensemble_weights(run_dir)


def together(
    predictions: Mapping[str, Prediction], weights: Optional[EnsembleWeights]
) -> Optional[Prediction]:
    """What the models say together, or None when there are no weights or one of its members is missing
    from `predictions` (the app loaded another model for that side) or answers over other classes: never a
    combination it was not fitted for."""
    if weights is None or any(m not in predictions for m in weights.members):
        return None
    if any(predictions[m].labels != weights.labels for m in weights.members):
        return None
    return ensemble_prediction(predictions, weights)
