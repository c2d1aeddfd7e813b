"""How sure vs how right: the expected calibration error (Guo et al., 2017) over 10 equal-width bins of the
top-class probability, those bins for the reliability diagram (scipy's binned_statistic), and temperature
scaling (one T per model, fitted on the validation fold) so two models' probabilities compare like with like."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from animal_audio.labels import CLASSES

#: Equal-width bins on [0, 1] of the top-class probability; [0, 0.1), ..., [0.9, 1.0].
BINS = 10
DIGITS = 6
#: The temperatures searched: below 1 sharpens a model's probabilities, above 1 softens them.
TEMPERATURE_RANGE = (0.05, 20.0)
#: Probabilities are clipped here before the log (a rounded 0 in predictions.csv).
EPSILON = 1e-7


def reliability_bins(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS
) -> dict[str, Any]:
    """Per bin: its lower edge, clip count, accuracy and mean confidence (None where a bin is empty)."""
    edges, counts, accuracy, mean_confidence = _binned(confidence, correct, bins)
    return {
        "lower": [round(float(e), DIGITS) for e in edges[:-1]],
        "count": [int(c) for c in counts],
        "accuracy": _rounded(accuracy),
        "confidence": _rounded(mean_confidence),
    }


def expected_calibration_error(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS
) -> float:
    """Sum over bins of (share of clips) x |accuracy - mean confidence|."""
    _, counts, accuracy, mean_confidence = _binned(confidence, correct, bins)
    filled = counts > 0
    gaps = counts[filled] / counts.sum() * np.abs(accuracy[filled] - mean_confidence[filled])
    return round(float(gaps.sum()), DIGITS)


def calibration(
    probs: np.ndarray,
    true_labels: Sequence[str],
    predicted: Optional[Sequence[str]] = None,
    classes: Sequence[str] = CLASSES,
) -> dict[str, Any]:
    """{"ece", "reliability"} of [n, classes] probabilities; right: `predicted` (default: the arg-max) is the
    truth."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"expected [n, {len(classes)}] probabilities, got {probs.shape}")
    if predicted is None:
        predicted = [classes[i] for i in probs.argmax(axis=1)]
    correct = np.asarray(predicted, dtype=object) == np.asarray(true_labels, dtype=object)
    confidence = probs.max(axis=1)
    return {
        "ece": expected_calibration_error(confidence, correct),
        "reliability": reliability_bins(confidence, correct),
    }


def _binned(
    confidence: Sequence[float], correct: Sequence[bool], bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges, counts, accuracy and mean confidence per bin (NaN where empty)."""
    from scipy.stats import binned_statistic

    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.shape != correct.shape or confidence.ndim != 1 or not len(confidence):
        raise ValueError(f"expected one confidence per clip, got {confidence.shape} and {correct.shape}")
    means, edges, _ = binned_statistic(
        confidence, [correct, confidence], statistic="mean", bins=bins, range=(0, 1)
    )
    counts, _, _ = binned_statistic(confidence, confidence, statistic="count", bins=bins, range=(0, 1))
    return edges, counts, means[0], means[1]


def _rounded(values: np.ndarray) -> list[Optional[float]]:
    return [None if np.isnan(v) else round(float(v), DIGITS) for v in values]


def fit_temperature(probs: np.ndarray, targets: Sequence[int]) -> float:
    """The T that minimises the log-loss of softmax(log p / T) on these clips (the validation fold's):
    the label never changes, only how sure the model says it is."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), EPSILON, 1.0))
    rows, targets = np.arange(len(logits)), np.asarray(targets, dtype=np.int64)
    if logits.ndim != 2 or len(targets) != len(logits) or not len(logits):
        raise ValueError(
            f"expected [n, classes] probabilities and n targets, got {logits.shape}, {targets.shape}"
        )

    def loss(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[rows, targets].mean())

    found = minimize_scalar(loss, bounds=np.log(TEMPERATURE_RANGE), method="bounded")
    return round(float(np.exp(found.x)), 4)


def with_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) of [..., classes] probabilities: T = 1 gives them back."""
    from scipy.special import softmax

    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), EPSILON, 1.0))
    return softmax(logits / float(temperature), axis=-1)
