"""A probe's regularisation (and pooling, or HuBERT layer) chosen on the validation fold, never the test fold.

Every candidate is fitted on the train folds and scored on the validation fold; the best one is refitted
on train + validation folds by the caller. The test fold is not an argument here, so it cannot leak in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from animal_audio.labels import ANIMALS, LabelSet
from animal_audio.models.probe import LinearProbe

log = logging.getLogger(__name__)

#: Inverse L2 strengths tried (standardised features): measured on YAMNet mean+max, 0.01-1 all do well.
CANDIDATE_C = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Probabilities are clipped here before the log-loss that breaks accuracy ties.
EPSILON = 1e-7


@dataclass(frozen=True)
class HeadChoice:
    """The chosen candidate, its validation probabilities (head fitted on train folds) and every score."""

    features: str  # the key of the chosen feature set: a pooling, or "layer 6 mean+max"
    C: float
    validation_accuracy: float
    validation_probs: np.ndarray
    candidates: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """What metrics.json and the report keep of the choice (JSON-ready)."""
        return {
            "chosen_on": "validation fold (candidates fitted on the train folds)",
            "features": self.features,
            "C": self.C,
            "validation_accuracy": round(self.validation_accuracy, 4),
            "candidates": self.candidates,
        }


def choose_head(
    features: Mapping[str, tuple[str, np.ndarray]],
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
    candidate_c: Sequence[float] = CANDIDATE_C,
    labels: LabelSet = ANIMALS,
) -> HeadChoice:
    """The best (feature set, C) by validation accuracy, ties to the lower validation log-loss.

    `features`: {key: (pooling, X [all clips, d])}; `train` and `validation`: (row indices into X, targets).
    Only those rows are read."""
    (train_rows, train_y), (val_rows, val_y) = train, validation
    best: tuple[float, float] | None = None
    chosen: HeadChoice | None = None
    table: list[dict[str, Any]] = []
    for key, (pooling, X) in features.items():
        for C in candidate_c:
            probe = LinearProbe(pooling, labels).fit(X[train_rows], train_y, seed=seed, C=C)
            probs = probe.predict_proba(X[val_rows])
            accuracy = float(np.mean(probs.argmax(axis=1) == val_y))
            loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(val_y)), val_y], EPSILON, 1.0))))
            table.append(
                {"features": key, "C": C, "accuracy": round(accuracy, 4), "log_loss": round(loss, 4)}
            )
            if best is None or (accuracy, -loss) > best:
                best = (accuracy, -loss)
                chosen = HeadChoice(key, C, accuracy, probs)
    if chosen is None:
        raise ValueError("no candidate heads to choose from")
    log.info(
        "head chosen on validation: %s, C=%g (accuracy %.3f)",
        chosen.features,
        chosen.C,
        chosen.validation_accuracy,
    )
    return HeadChoice(chosen.features, chosen.C, chosen.validation_accuracy, chosen.validation_probs, table)
