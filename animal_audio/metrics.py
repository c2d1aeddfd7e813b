"""Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix, over a label set's classes.

The one source of every number (fine-tuning's validation too), computed locally by scikit-learn.
Labels are class names in the label set's full order (the ten animals by default), so a class missing
from a small test set still gets a row.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from animal_audio.labels import CLASSES

#: Rounding for the JSON files: enough to recompute percentages to two decimals exactly.
DIGITS = 6


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str] = CLASSES
) -> dict[str, Any]:
    """accuracy, macro_f1, per_class {label: precision, recall, f1, support}, confusion [true][pred]."""
    y_true, y_pred = _check(y_true, y_pred, classes)
    labels = list(classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), DIGITS),
        "macro_f1": round(
            float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)), DIGITS
        ),
        "n": len(y_true),
        "per_class": {
            label: {
                "precision": round(float(p), DIGITS),
                "recall": round(float(r), DIGITS),
                "f1": round(float(f), DIGITS),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def cross_validation_metrics(folds: Sequence[dict[str, Any]], pooled: dict[str, Any]) -> dict[str, Any]:
    """Mean +- std over folds for accuracy and macro-F1; per-class and confusion pooled over all folds.

    `folds` are `classification_metrics` results (each with a `test_fold`); `pooled` is
    the same over every test prediction (each clip is tested exactly once in 5-fold CV).
    std is the sample standard deviation (ddof=1) across folds.
    """
    if not folds:
        raise ValueError("cross-validation needs at least one fold")
    result = dict(pooled)
    for key in ("accuracy", "macro_f1"):
        values = np.array([f[key] for f in folds], dtype=np.float64)
        result[key] = round(float(values.mean()), DIGITS)
        result[f"{key}_std"] = round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, DIGITS)
    result["folds"] = [{k: f[k] for k in ("test_fold", "accuracy", "macro_f1", "n") if k in f} for f in folds]
    return result


def labels_from_probs(probs: np.ndarray, classes: Sequence[str] = CLASSES) -> list[str]:
    """Arg-max class names of an [n, classes] probability matrix."""
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"expected [n, {len(classes)}] probabilities, got {probs.shape}")
    return [classes[i] for i in probs.argmax(axis=1)]


def _check(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> tuple[list[str], list[str]]:
    y_true, y_pred = [str(y) for y in y_true], [str(y) for y in y_pred]
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("no test clips to score")
    unknown = (set(y_true) | set(y_pred)) - set(classes)
    if unknown:
        raise ValueError(f"labels outside the label set: {sorted(unknown)}")
    return y_true, y_pred
