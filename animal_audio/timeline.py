"""When a model hears what: a clip's per-frame outputs pooled into windows, through the model's own head.

A model's forward pass gives one vector per frame; their mean is what the whole-clip answer reads, and
means over windows of them are what the timeline reads. So both come from the same pass, and a head
that is linear in the pooled vector (HuBERT's classifier) gives the same whole-clip answer either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

#: HuBERT's timeline windows: about a second of frames, every half second (YAMNet's own frames are
#: 0.96 s every 0.48 s): long enough to hold a bark or a crow, short enough to tell them apart.
WINDOW_SECONDS = 1.0
HOP_SECONDS = 0.5
#: Digits kept in the API answer.
SECONDS_DIGITS = 3
PROBABILITY_DIGITS = 6

Head = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Timeline:
    """Probabilities over the model's labels for windows of one clip: row i covers start_seconds[i] +
    window_seconds."""

    start_seconds: np.ndarray  # [windows]
    window_seconds: float
    probs: np.ndarray  # [windows, classes], rows sum to 1

    def __post_init__(self) -> None:
        starts = np.asarray(self.start_seconds, dtype=np.float64).reshape(-1)
        probs = np.asarray(self.probs, dtype=np.float64)
        if probs.ndim != 2 or len(starts) != len(probs):
            raise ValueError(f"{len(starts)} window starts but {len(probs)} rows of probabilities")
        object.__setattr__(self, "probs", probs)
        object.__setattr__(self, "start_seconds", starts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form of the API answer: probabilities in label order, one row per window."""
        return {
            "start_seconds": [round(float(s), SECONDS_DIGITS) for s in self.start_seconds],
            "window_seconds": round(float(self.window_seconds), SECONDS_DIGITS),
            "probabilities": np.round(self.probs, PROBABILITY_DIGITS).tolist(),
        }


@dataclass(frozen=True)
class Frames:
    """One clip's per-frame vectors [frames, d] from one forward pass, and how the timeline pools them:
    `window` frames per timeline row, a row every `stride` frames, a frame every `frame_seconds`."""

    values: np.ndarray
    frame_seconds: float
    window: int = 1
    stride: int = 1
    window_seconds: float | None = None  # what one row spans; default window * frame_seconds

    def clip(self) -> np.ndarray:
        """The whole-clip vector: the mean over all frames (what embed() and predict() read)."""
        return self.values.mean(axis=0)

    def timeline(self, head: Head) -> Timeline:
        """`head` ([n, d] pooled vectors -> [n, 10] probabilities) applied to each window's mean."""
        starts, stops = window_bounds(len(self.values), self.window, self.stride)
        # Sums between consecutive window edges (one pass: reduceat), then windows from their running sum.
        edges = np.union1d(starts, stops)
        sums = np.add.reduceat(self.values, edges[:-1], axis=0, dtype=np.float64)
        running = np.concatenate([np.zeros((1, sums.shape[1])), np.cumsum(sums, axis=0)])
        at = running[np.searchsorted(edges, stops)] - running[np.searchsorted(edges, starts)]
        pooled = at / (stops - starts)[:, None]
        span = self.window_seconds if self.window_seconds is not None else self.window * self.frame_seconds
        return Timeline(starts * self.frame_seconds, span, head(pooled.astype(self.values.dtype)))


def window_bounds(frames: int, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(first, one-past-last) frame of each window: a window every `stride` frames until one reaches the
    last frame, so the windows cover the whole clip (the last one cut at the end, at least half as long)."""
    if frames < 1 or window < 1 or stride < 1:
        raise ValueError(f"need frames, window and stride >= 1, got {frames}, {window}, {stride}")
    count = 1 + -(-max(frames - window, 0) // stride)
    starts = np.arange(count) * stride
    return starts, np.minimum(starts + window, frames)


def frames_per(seconds: float, frame_seconds: float) -> int:
    """How many frames of `frame_seconds` make `seconds` (at least one)."""
    return max(1, int(round(seconds / frame_seconds)))
