"""The one prediction type and the interface every classifier follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from animal_audio.labels import ANIMALS, LabelSet
from animal_audio.timeline import Timeline


@dataclass(frozen=True)
class Prediction:
    """Probabilities over `labels` (in that order, summing to 1) from one model; `timeline`: the same model's
    over time, from the same forward pass (None from a probe's `predict_batch`, which embeds in batches);
    `embedding`: the clip's vector that pass gave the head, where it has one (clip_map.py places it)."""

    model: str
    probs: np.ndarray
    seconds: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)
    timeline: Timeline | None = None
    embedding: np.ndarray | None = field(default=None, repr=False)
    labels: LabelSet = ANIMALS

    def __post_init__(self) -> None:
        probs = np.asarray(self.probs, dtype=np.float64).reshape(-1)
        if probs.shape != (len(self.labels),):
            raise ValueError(f"expected {len(self.labels)} probabilities, got {probs.shape}")
        object.__setattr__(self, "probs", probs)

    @property
    def label(self) -> str:
        return self.labels.names[int(np.argmax(self.probs))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probs))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form used by the API and predictions.csv."""
        return {
            "model": self.model,
            "label": self.label,
            "confidence": round(self.confidence, 6),
            "probabilities": {c: round(float(p), 6) for c, p in zip(self.labels.names, self.probs)},
            "seconds": round(self.seconds, 4),
            **({"extras": self.extras} if self.extras else {}),
        }


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (float64) for heads that return logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


@runtime_checkable
class Classifier(Protocol):
    """What the app, the pipeline and the benchmarks rely on."""

    name: str

    def predict(self, waveform: np.ndarray) -> Prediction: ...

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]: ...

    def describe(self) -> str:
        """Which weights, from where: shown in the app's model-status panel."""
        ...
