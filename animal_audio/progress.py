"""One progress-callback type for all long work (the CLI renders it with tqdm, the app with gr.Progress)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

from animal_audio.errors import CancelledError


@dataclass(frozen=True)
class ProgressEvent:
    """`fraction` is progress within `stage`, from 0 to 1."""

    stage: str
    fraction: float
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]
CancelCheck = Callable[[], bool]


def report(callback: Optional[ProgressCallback], stage: str, fraction: float, message: str = "") -> None:
    """Send an event if anyone listens; keeps call sites one line long."""
    if callback is not None:
        callback(ProgressEvent(stage, min(max(fraction, 0.0), 1.0), message))


def check_cancel(cancel: Optional[CancelCheck], where: str) -> None:
    """Raise `CancelledError` when the user asked to stop."""
    if cancel is not None and cancel():
        raise CancelledError(f"Stopped during {where}. Finished steps are kept; run again to resume.")


def restaged(progress: Optional[ProgressCallback], stage: str) -> Optional[ProgressCallback]:
    """Forward a sub-task's events under `stage`, which names what they belong to (a model and fold)."""
    if progress is None:
        return None

    def forward(event: ProgressEvent) -> None:
        progress(replace(event, stage=stage))

    return forward
