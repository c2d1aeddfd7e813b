"""The numbers in every report: accuracy, macro-F1, per-class rows and confusion over all 10 classes."""

from __future__ import annotations

import numpy as np
import pytest

from animal_audio.labels import CLASSES
from animal_audio.metrics import classification_metrics, cross_validation_metrics, labels_from_probs


def test_metrics_of_a_small_known_case() -> None:
    y_true = ["dog", "dog", "cat", "cat", "frog"]
    y_pred = ["dog", "cat", "cat", "cat", "dog"]
    m = classification_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(3 / 5)
    # dog: P 1/2 R 1/2 F1 1/2; cat: P 2/3 R 1 F1 0.8; frog: 0. Macro over the 10 classes.
    assert m["per_class"]["dog"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["cat"]["f1"] == pytest.approx(0.8)
    assert m["per_class"]["frog"]["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8) / len(CLASSES), abs=1e-6)
    assert list(m["per_class"]) == list(CLASSES), "every class gets a row, in CLASSES order"
    confusion = np.array(m["confusion"])
    assert confusion.shape == (10, 10)
    assert confusion.sum(axis=1).tolist() == [m["per_class"][c]["support"] for c in CLASSES]
    assert confusion[CLASSES.index("dog"), CLASSES.index("cat")] == 1  # row = true, column = predicted


def test_cross_validation_is_mean_and_sample_std_over_folds() -> None:
    folds = []
    for fold, accuracy in zip(range(1, 6), (0.8, 0.9, 0.7, 0.85, 0.75)):
        folds.append({"test_fold": fold, "accuracy": accuracy, "macro_f1": accuracy - 0.05, "n": 80})
    pooled = classification_metrics(["dog", "cat"], ["dog", "dog"])
    m = cross_validation_metrics(folds, pooled)
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["accuracy_std"] == pytest.approx(np.std([0.8, 0.9, 0.7, 0.85, 0.75], ddof=1), abs=1e-6)
    assert m["macro_f1"] == pytest.approx(0.75)
    assert [f["test_fold"] for f in m["folds"]] == [1, 2, 3, 4, 5]
    assert m["confusion"] == pooled["confusion"], "per-class and confusion are pooled over all test clips"


def test_labels_from_probabilities_and_bad_input() -> None:
    probs = np.eye(10)[[3, 0, 9]]
    assert labels_from_probs(probs) == ["cow", "dog", "crow"]
    with pytest.raises(ValueError):
        labels_from_probs(np.ones((2, 5)))
    with pytest.raises(ValueError, match="2 true labels but 1"):
        classification_metrics(["dog", "cat"], ["dog"])
    with pytest.raises(ValueError, match="outside the label set"):
        classification_metrics(["dog"], ["horse"])
