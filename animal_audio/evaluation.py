"""Testing a classifier on clips: its probabilities and its seconds per clip."""

from __future__ import annotations

import os
import time
from typing import Any, Optional, Sequence

import numpy as np

from animal_audio.audio import load_audio
from animal_audio.labels import CLASSES
from animal_audio.progress import CancelCheck, ProgressCallback, check_cancel, report

#: Clips per predict_batch call while testing: bounds memory, gives progress and cancel points.
EVAL_BATCH = 8
#: Test clips timed one by one for a probe's per-clip inference time (its test
#: probabilities come from cached embeddings, which would say nothing about speed).
TIMING_CLIPS = 3


def evaluate_classifier(
    classifier: Any,
    paths: Sequence[str | os.PathLike[str]],
    *,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
    stage: str = "test",
) -> tuple[np.ndarray, float]:
    """Probabilities [n, classes] of `classifier` on the clips, and its mean seconds per clip: the
    model's time only (not reading the files), as a person using the app feels it after the upload."""
    probs: list[np.ndarray] = []
    model_seconds = 0.0
    for start in range(0, len(paths), EVAL_BATCH):
        check_cancel(cancel, stage)
        batch = [load_audio(p) for p in paths[start : start + EVAL_BATCH]]
        began = time.perf_counter()
        predictions = classifier.predict_batch(batch)
        model_seconds += time.perf_counter() - began
        probs.extend(np.asarray(p.probs, dtype=np.float64) for p in predictions)
        done = start + len(batch)
        report(progress, stage, done / len(paths), f"{done}/{len(paths)} clips")
    width = len(
        getattr(classifier, "labels", CLASSES)
    )  # no clips: still one column per class it answers over
    return np.stack(probs) if probs else np.zeros((0, width)), model_seconds / max(len(paths), 1)


def time_per_clip(classifier: Any, paths: Sequence[str]) -> float:
    """Seconds per clip for single-clip predictions, after one untimed warm-up."""
    waveforms = [load_audio(p) for p in paths]
    if not waveforms:
        return 0.0
    classifier.predict(waveforms[0])
    began = time.perf_counter()
    for waveform in waveforms:
        classifier.predict(waveform)
    return (time.perf_counter() - began) / len(waveforms)
